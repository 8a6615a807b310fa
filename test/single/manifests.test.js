'use strict';
// deploy/k8s/: the MPIJob manifests against the schemas written from the
// operators' documented types (deploy/k8s/schema.js, ajv, strict about
// unknown fields), plus the contract between the fields: -np, slots, GPUs,
// the keepalive settings, sshd and its readiness probe.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const Ajv = require('ajv');
const { MPIJOB_V2BETA1, MPIJOB_V1 } = require('../../deploy/k8s/schema');
const m = require('../deploy/manifests');

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false }) // 'required' inside not/oneOf names properties defined beside it;
const validators = { 'kubeflow.org/v2beta1': ajv.compile(MPIJOB_V2BETA1), 'kubeflow.org/v1': ajv.compile(MPIJOB_V1) };

function errorsOf(job) {
  const v = validators[job.apiVersion];
  if (!v) return [`apiVersion ${job.apiVersion} has no schema`];
  return v(job) ? [] : v.errors.map((e) => `${e.instancePath || '/'} ${e.message}${e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ''}`);
}

const clone = (o) => JSON.parse(JSON.stringify(o));
const KEEPALIVE = [['oob_tcp_keepalive_time', '5'], ['oob_tcp_keepalive_intvl', '2'], ['oob_tcp_keepalive_probes', '3']];

describe('deploy/k8s manifests', function () {
  it('every YAML file in deploy/k8s is one of the shipped manifests', function () {
    const yamls = fs.readdirSync(m.K8S_DIR).filter((f) => /\.ya?ml$/.test(f)).sort();
    assert.deepEqual(yamls, Object.values(m.MANIFESTS).sort());
  });

  for (const [key, file] of Object.entries(m.MANIFESTS)) {
    describe(file, function () {
      const job = m.load(file);
      const workers = m.replica(job, 'Worker').replicas;
      const slots = job.spec.slotsPerWorker;
      const launcher = m.mainContainer(job, 'Launcher');
      const worker = m.mainContainer(job, 'Worker');
      const argv = m.containerArgv(launcher);

      it(`validates against the ${job.apiVersion} schema`, function () {
        assert.deepEqual(errorsOf(job), []);
      });

      it('launches mpirun with -np = workers x slotsPerWorker, the keepalive settings and hvd\'s MNIST', function () {
        assert.equal(argv[0], 'mpirun');
        assert.equal(m.npOf(argv), workers * slots, `-np ${m.npOf(argv)} vs ${workers} workers x ${slots} slots`);
        const mca = m.mcaOf(argv);
        for (const kv of KEEPALIVE) assert.ok(mca.some(([k, v]) => k === kv[0] && v === kv[1]), `--mca ${kv.join(' ')} missing`);
        assert.ok(argv.includes('/opt/hvd/dist/mnist.js'));
        assert.equal(launcher.image, worker.image, 'launcher and workers run the same image (same OpenMPI at the same path)');
      });

      it('has resource requests on every container and a run policy that ends a failed job', function () {
        for (const type of ['Launcher', 'Worker']) {
          for (const c of m.replica(job, type).template.spec.containers) {
            assert.ok(c.resources && c.resources.requests && c.resources.requests.cpu && c.resources.requests.memory, `${type}/${c.name} has cpu and memory requests`);
          }
        }
        const rp = job.spec.runPolicy;
        assert.ok(rp.cleanPodPolicy && Number.isInteger(rp.backoffLimit) && rp.activeDeadlineSeconds > 0, JSON.stringify(rp));
      });

      if (job.apiVersion === 'kubeflow.org/v2beta1') {
        it('workers run sshd on 2222 as mpiuser, with a readiness probe for WaitForWorkersReady', function () {
          assert.deepEqual(m.containerArgv(worker).slice(0, 2), ['/usr/sbin/sshd', '-De']);
          assert.equal(job.spec.sshAuthMountPath, '/home/mpiuser/.ssh');
          assert.equal(job.spec.launcherCreationPolicy, 'WaitForWorkersReady');
          assert.equal(worker.readinessProbe.tcpSocket.port, 2222);
          for (const type of ['Launcher', 'Worker']) {
            const sc = m.replica(job, type).template.spec.securityContext;
            assert.deepEqual([sc.runAsUser, sc.fsGroup], [1000, 1000], `${type}: runs as mpiuser and can read the key Secret`);
          }
        });
      } else {
        it('puts the launcher command in args (Flyte\'s way) and leaves the workers\' command to the operator', function () {
          assert.equal(launcher.command, undefined);
          assert.equal(worker.command, undefined);
          assert.equal(worker.args, undefined);
        });
      }

      if (key.endsWith('Gpu')) {
        it('gives each worker one GPU per slot', function () {
          assert.equal(Number(worker.resources.limits['nvidia.com/gpu']), slots);
          assert.equal(Number(worker.resources.requests['nvidia.com/gpu']), slots);
          assert.equal(launcher.resources.limits['nvidia.com/gpu'], undefined, 'the launcher runs no rank');
        });
      }
    });
  }

  describe('the schemas are strict', function () {
    const v2 = m.load(m.MANIFESTS.v2beta1Cpu);
    const v1 = m.load(m.MANIFESTS.v1Cpu);
    const cases = [
      ['a misspelt spec field', v2, (j) => { j.spec.slotPerWorker = 2; }, /additional properties \(slotPerWorker\)/],
      ['a misspelt container field', v2, (j) => { j.spec.mpiReplicaSpecs.Worker.template.spec.containers[0].comand = ['x']; }, /containers\/0 must NOT have additional properties \(comand\)/],
      ['two launchers', v2, (j) => { j.spec.mpiReplicaSpecs.Launcher.replicas = 2; }, /Launcher\/replicas must be equal to constant/],
      ['restartPolicy Always on a v2beta1 launcher', v2, (j) => { j.spec.mpiReplicaSpecs.Launcher.restartPolicy = 'Always'; }, /Launcher\/restartPolicy must be equal to one of the allowed values/],
      ['an unknown launcherCreationPolicy', v2, (j) => { j.spec.launcherCreationPolicy = 'WhenReady'; }, /launcherCreationPolicy must be equal to one of the allowed values/],
      ['a bad quantity', v2, (j) => { j.spec.mpiReplicaSpecs.Worker.template.spec.containers[0].resources.requests.memory = '4 GB'; }, /requests\/memory/],
      ['a v2beta1-only field on v1', v1, (j) => { j.spec.sshAuthMountPath = '/root/.ssh'; }, /additional properties \(sshAuthMountPath\)/],
      ['a bad cleanPodPolicy', v1, (j) => { j.spec.runPolicy.cleanPodPolicy = 'Always'; }, /cleanPodPolicy must be equal to one of the allowed values/],
      ['a volume with two sources', v1, (j) => { j.spec.mpiReplicaSpecs.Worker.template.spec.volumes[0].persistentVolumeClaim = { claimName: 'x' }; }, /volumes\/0 must NOT have more than 2 properties/],
    ];
    for (const [what, base, change, re] of cases) {
      it(`rejects ${what}`, function () {
        const j = clone(base);
        change(j);
        const errs = errorsOf(j);
        assert.ok(errs.some((e) => re.test(e)), `expected ${re} in:\n${errs.join('\n')}`);
      });
    }
  });
});
