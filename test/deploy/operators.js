'use strict';
// What the two operators do with an MPIJob, reproduced with podman: which
// containers they start, with which command, environment, mounts, hostfile
// and names. The facts (read from the operators' sources and docs):
//
// kubeflow.org/v2beta1 (MPI Operator)
//   - workers run their own command (sshd -De ... on 2222, as mpiuser); the
//     operator mounts its SSH key Secret at spec.sshAuthMountPath on every
//     pod (id_rsa, id_rsa.pub, authorized_keys);
//   - /etc/mpi/hostfile: "<job>-worker-<i>.<job>.<ns>.svc slots=<slotsPerWorker>";
//   - launcher env: OMPI_MCA_orte_keep_fqdn_hostnames=true,
//     OMPI_MCA_orte_default_hostfile=/etc/mpi/hostfile,
//     OMPI_MCA_plm_rsh_args="-o ConnectionAttempts=10";
//   - launcherCreationPolicy WaitForWorkersReady: the launcher is created once
//     every worker passes its readiness probe.
// kubeflow.org/v1 (training-operator; Flyte's kfmpi plugin)
//   - workers' command is replaced by `sleep 365d`;
//   - /etc/mpi/hostfile: "<job>-worker-<i> slots=<slotsPerWorker>";
//   - launcher env: OMPI_MCA_plm_rsh_agent=/etc/mpi/kubexec.sh,
//     OMPI_MCA_orte_default_hostfile=/etc/mpi/hostfile; kubexec.sh runs
//     `kubectl exec <pod> -- /bin/sh -c "$*"`.
//   - the launcher container's command stays empty; its args are the
//     launcher command (Flyte's Launcher(command=...)).

const m = require('./manifests');

const NAMESPACE = 'default';

function v2beta1Env() {
  return {
    OMPI_MCA_orte_keep_fqdn_hostnames: 'true',
    OMPI_MCA_orte_default_hostfile: '/etc/mpi/hostfile',
    OMPI_MCA_plm_rsh_args: '-o ConnectionAttempts=10',
    K_MPI_JOB_ROLE: 'launcher',
  };
}

function v1Env() {
  return {
    OMPI_MCA_plm_rsh_agent: '/etc/mpi/kubexec.sh',
    OMPI_MCA_orte_default_hostfile: '/etc/mpi/hostfile',
  };
}

/**
 * The pods an operator makes for `job`: {launcher, workers[], hostfile},
 * each pod {name, fqdn, container (the manifest's), argv (what runs),
 * env, podSecurity}. The launcher argv gets `extraArgs` appended (the
 * rehearsal shortens the training).
 */
function plan(job, { extraArgs = [], imageEntrypoint = [], imageCmd = [] } = {}) {
  const name = job.metadata.name;
  const v2 = job.apiVersion === 'kubeflow.org/v2beta1';
  const slots = job.spec.slotsPerWorker || 1;
  const nWorkers = m.replica(job, 'Worker').replicas;
  const workerC = m.mainContainer(job, 'Worker');
  const launcherC = m.mainContainer(job, 'Launcher');
  const workers = [];
  for (let i = 0; i < nWorkers; i++) {
    const pod = `${name}-worker-${i}`;
    workers.push({
      name: pod,
      fqdn: v2 ? `${pod}.${name}.${NAMESPACE}.svc` : pod,
      container: workerC,
      podSpec: m.replica(job, 'Worker').template.spec,
      // command replaces the image's ENTRYPOINT, args its CMD (Kubernetes)
      command: v2 ? workerC.command : ['sleep'],
      args: v2 ? workerC.args : ['365d'],
      env: {},
    });
  }
  const hostfile = workers.map((w) => `${w.fqdn} slots=${slots}`).join('\n') + '\n';
  const launcher = {
    name: `${name}-launcher`,
    fqdn: `${name}-launcher`,
    container: launcherC,
    podSpec: m.replica(job, 'Launcher').template.spec,
    command: launcherC.command,
    args: [...(launcherC.args || []), ...extraArgs],
    env: v2 ? v2beta1Env() : v1Env(),
  };
  for (const p of [launcher, ...workers]) p.argv = m.containerArgv({ command: p.command, args: p.args && p.args.length ? p.args : undefined }, imageEntrypoint, imageCmd);
  return { v2, name, slots, workers, launcher, hostfile, np: m.npOf(launcher.argv), sshAuthMountPath: job.spec.sshAuthMountPath };
}

module.exports = { plan, NAMESPACE };
