'use strict';
// The deployment rehearsal (npm run test:deploy): builds the CPU image from
// deploy/docker/Dockerfile with podman and runs the manifests in
// deploy/k8s/ the way each operator would, in real containers on a private
// podman network:
//   - kubeflow.org/v2beta1: workers run the manifest's sshd command as
//     mpiuser with the SSH key mounted at sshAuthMountPath; the launcher runs
//     the manifest's own command with the operator's hostfile and OMPI_MCA_*;
//   - kubeflow.org/v1: workers only sleep; the launcher's rsh agent is
//     kubexec.sh with a podman-exec relay in place of kubectl exec;
//   - faults: a worker container killed mid-training; a launcher started
//     before the workers exist, and one started before their sshd listens.
// The launcher's command is read from the YAML; the rehearsal appends
// `--epochs/--train-samples` to shorten the training (util.parseArgs: the
// last value wins). Everything made here carries the run's label and is
// removed in `after` (also on failure or SIGINT/SIGTERM), and the run
// checks that nothing is left. Skipped, with the reason, only where podman
// cannot run at all (not Linux, not root, podman cannot be installed or
// does not start). Lines "MEASURED name=value" are the figures for the README.
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const pm = require('./podman');
const base = require('./base_image');
const manifests = require('./manifests');
const { plan } = require('./operators');
const { startRelay } = require('./podexec');

const ROOT = path.resolve(__dirname, '..', '..');
const RUN_ID = `${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
const IMAGE = `localhost/hvd-rehearsal:${RUN_ID}`;
const SUBNET_OCTET = 100 + (crypto.randomBytes(1)[0] % 100);
const NETWORK = `hvd-rehearsal-${RUN_ID}`;
const KEEP_BASE = process.env.HVD_DEPLOY_KEEP_CACHE === '1'; // dev re-runs: keep the base stand-in and build cache
const TRAIN_ARGS = ['--epochs', '1', '--train-samples', '12800'];
const ACCURACY_MIN = 0.85; // test/single/mnist.test.js's band for 1 epoch of 12,800 images
const LOST_HOST_BOUND_S = 30; // README Reliability: a lost host ends the job within 30 s

function measured(name, value) {
  console.log(`      MEASURED ${name}=${value}`);
}
function log(msg) {
  console.log(`      [deploy] ${msg}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tail = (s, n = 60) => s.split('\n').slice(-n).join('\n');

let tmp = null;
let scenario = 0; // each scenario gets fresh emptyDir volumes, as a new MPIJob gets new pods
let skipReason = null;
let built = false;
let imageConfig = { Entrypoint: null, Cmd: null };

function containerName(pod) {
  return `${RUN_ID}-${pod}`;
}

function bytesOf(q) {
  const mm = /^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q));
  if (!mm) throw new Error(`cannot read quantity ${q}`);
  const mult = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[mm[2]] || 1;
  return Math.round(Number(mm[1]) * mult);
}
function cpusOf(q) {
  const s = String(q);
  const n = s.endsWith('m') ? Number(s.slice(0, -1)) / 1000 : Number(s);
  return Math.min(n, os.cpus().length);
}

/** A pod's `podman run` options, from its manifest (resources, user, volumes) and what the operator adds. */
function podOptions(pod, ip, { extraMounts = [], addHosts = [] } = {}) {
  const c = pod.container;
  const opts = ['--name', containerName(pod.name), '--label', `${pm.LABEL}=${RUN_ID}`, '--hostname', pod.name, '--network', NETWORK, '--ip', ip];
  for (const [h, a] of addHosts) opts.push('--add-host', `${h}:${a}`);
  const limits = (c.resources && c.resources.limits) || {};
  if (limits.cpu) opts.push('--cpus', String(cpusOf(limits.cpu)));
  if (limits.memory) opts.push('--memory', String(bytesOf(limits.memory)));
  const sc = pod.podSpec.securityContext || {};
  if (sc.runAsUser !== undefined) opts.push('--user', `${sc.runAsUser}:${sc.runAsGroup ?? sc.runAsUser}`);
  for (const vm of c.volumeMounts || []) {
    const vol = (pod.podSpec.volumes || []).find((v) => v.name === vm.name);
    assert.ok(vol, `${pod.name}: volumeMount ${vm.name} has no volume`);
    if (vol.emptyDir && vol.emptyDir.medium === 'Memory' && vm.mountPath === '/dev/shm') {
      opts.push('--shm-size', String(bytesOf(vol.emptyDir.sizeLimit || '64Mi')));
    } else if (vol.emptyDir) {
      const dir = volumeDir(pod.name, vm.name);
      fs.mkdirSync(dir, { recursive: true });
      fs.chownSync(dir, 1000, 1000); // an emptyDir is writable by the pod's user
      opts.push('-v', `${dir}:${vm.mountPath}`);
    } else {
      throw new Error(`${pod.name}: the rehearsal does not emulate volume ${JSON.stringify(vol)}`);
    }
  }
  for (const [k, v] of Object.entries(pod.env || {})) opts.push('-e', `${k}=${v}`);
  for (const mnt of extraMounts) opts.push('-v', mnt);
  if (pod.command) opts.push('--entrypoint', JSON.stringify(pod.command));
  return opts;
}

function volumeDir(pod, volume) {
  return path.join(tmp, 'volumes', String(scenario), pod, volume);
}

/** Starts a pod in the background (podman run -d). */
function startPod(pod, ip, extra = {}, argsOverride) {
  const args = argsOverride || pod.args || [];
  pm.podman(['run', '-d', ...podOptions(pod, ip, extra), IMAGE, ...args]);
}

/** Runs the launcher attached; resolves {code, out, seconds}; onOutput(out) sees the output as it grows. */
function runLauncher(pod, ip, extra, { timeoutMs = 420000, onOutput } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = pm.spawnPodman(['run', ...podOptions(pod, ip, extra), IMAGE, ...(pod.args || [])]);
    let out = '';
    const add = (d) => {
      out += d.toString('utf8');
      if (onOutput) onOutput(out);
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = setTimeout(() => {
      out += `\n[rehearsal] launcher still running after ${timeoutMs / 1000} s: killing it\n`;
      pm.podman(['kill', containerName(pod.name)], { check: false });
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

function removePods(names) {
  const ids = names.map(containerName);
  pm.podman(['rm', '-f', '--ignore', '-t', '0', ...ids], { check: false, timeoutMs: 120000 });
}

/** What kubelet's tcpSocket readiness probe checks, from the host. */
async function waitReady(ip, port, timeoutMs) {
  const t0 = Date.now();
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: ip, port, timeout: 1000 });
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
      s.on('timeout', () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${ip}:${port} not ready after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/** The operator's SSH key Secret, as mounted with fsGroup 1000: root-owned, group mpiuser, 0640. */
function makeSshSecret() {
  const dir = path.join(tmp, 'ssh-secret');
  fs.mkdirSync(dir, { recursive: true });
  pm.podman(['run', '--rm', '--label', `${pm.LABEL}=${RUN_ID}`, '--user', '0', '--network', 'none', '-v', `${dir}:/keys`, IMAGE,
    'ssh-keygen', '-q', '-t', 'ecdsa', '-b', '521', '-N', '', '-C', 'hvd-rehearsal', '-f', '/keys/id_rsa']);
  fs.copyFileSync(path.join(dir, 'id_rsa.pub'), path.join(dir, 'authorized_keys'));
  for (const f of ['id_rsa', 'id_rsa.pub', 'authorized_keys']) {
    fs.chownSync(path.join(dir, f), 0, 1000);
    fs.chmodSync(path.join(dir, f), 0o640);
  }
  fs.chownSync(dir, 0, 1000);
  fs.chmodSync(dir, 0o750);
  return dir;
}

const ip = (host) => `10.91.${SUBNET_OCTET}.${host}`;

/** Sets up a v2beta1 job's pods: workers (optionally not yet), hostfile; returns what the launcher needs. */
function v2beta1Job(extraArgs, { startWorkers = true, workerArgsOverride } = {}) {
  scenario++;
  const job = manifests.load(manifests.MANIFESTS.v2beta1Cpu);
  const p = plan(job, { extraArgs, imageEntrypoint: imageConfig.Entrypoint || [], imageCmd: imageConfig.Cmd || [] });
  const secret = path.join(tmp, 'ssh-secret');
  const hostfile = path.join(tmp, `hostfile-${p.name}`);
  fs.writeFileSync(hostfile, p.hostfile);
  fs.chmodSync(hostfile, 0o644);
  const hosts = p.workers.map((w, i) => [w.fqdn, ip(10 + i)]);
  const common = [`${secret}:${p.sshAuthMountPath}:ro`];
  if (startWorkers) p.workers.forEach((w, i) => startPod(w, ip(10 + i), { extraMounts: common, addHosts: hosts }, workerArgsOverride));
  return {
    p,
    hosts,
    launcherExtra: { extraMounts: [...common, `${hostfile}:/etc/mpi/hostfile:ro`], addHosts: startWorkers ? hosts : [] },
    startWorkers: (override) => p.workers.forEach((w, i) => startPod(w, ip(10 + i), { extraMounts: common, addHosts: hosts }, override)),
    pods: [p.launcher.name, ...p.workers.map((w) => w.name)],
  };
}

function checkTrained(r, p, label) {
  assert.equal(r.code, 0, `${label}: launcher exit ${r.code}\n${tail(r.out)}`);
  assert.match(r.out, new RegExp(`hvd MNIST: ${p.np} rank\\(s\\)`), tail(r.out));
  assert.match(r.out, new RegExp(`weights consistent across ${p.np} ranks`), tail(r.out));
  const acc = Number(/test accuracy ([\d.]+)% \(10000 images\)/.exec(r.out)?.[1]) / 100;
  assert.ok(acc >= ACCURACY_MIN, `${label}: test accuracy ${acc}\n${tail(r.out)}`);
  measured(`${label}_test_accuracy`, acc.toFixed(4));
  measured(`${label}_launcher_seconds`, r.seconds.toFixed(1));
  return acc;
}

/**
 * Issue 13: examples/mnist.ts prints plain lines unless HVD_PROGRESS=1,
 * although mpirun gives the ranks a pty (checked last in each test).
 */
function assertNoEscapes(r, label) {
  assert.ok(!r.out.includes('\x1b'), `${label}: the launcher log has ESC bytes (progress bar escape codes under mpirun's pty): ${JSON.stringify(r.out.slice(r.out.indexOf('\x1b') - 40, r.out.indexOf('\x1b') + 40))}`);
}

function cleanupAll() {
  if (skipReason || !tmp) return;
  pm.cleanup(RUN_ID, log);
  if (!KEEP_BASE) base.removeStandIn(log);
  fs.rmSync(tmp, { recursive: true, force: true });
}

function onSignal(sig) {
  console.error(`\n[deploy] ${sig}: removing this run's containers, networks and images`);
  try {
    cleanupAll();
  } finally {
    process.exit(sig === 'SIGINT' ? 130 : 143);
  }
}

describe('deploy rehearsal in podman containers', function () {
  this.timeout(0);

  before(async function () {
    skipReason = pm.ensureInstalled(log);
    if (!skipReason) {
      pm.writeConfig(log);
      skipReason = pm.infoReason();
    }
    if (skipReason) {
      console.log(`      SKIPPED: ${skipReason}`);
      this.skip();
    }
    Object.assign(process.env, pm.podmanEnv({}));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-deploy-'));
    fs.chmodSync(tmp, 0o755);
    pm.cleanupStale(log);
    const b = base.ensureBaseImage(log);
    measured('base_image_seconds', b.seconds.toFixed(1));
    // Build exactly what a user builds: podman build -f deploy/docker/Dockerfile .
    const t0 = Date.now();
    const buildArgs = ['build', '--layers', '--label', `${pm.LABEL}=${RUN_ID}`, '-f', 'deploy/docker/Dockerfile', '-t', IMAGE];
    const ca = process.env.NODE_EXTRA_CA_CERTS;
    if (ca && fs.existsSync(ca)) buildArgs.push('-v', `${ca}:/run/hvd-build-ca.crt:ro`, '--build-arg', 'NODE_EXTRA_CA_CERTS=/run/hvd-build-ca.crt');
    if (process.env.HVD_DEPLOY_TFJS_NODE) buildArgs.push('--build-arg', `TFJS_NODE=${process.env.HVD_DEPLOY_TFJS_NODE}`);
    const logFile = path.join(tmp, 'build.log');
    log(`podman ${buildArgs.join(' ')} .  (log: ${logFile})`);
    const code = await new Promise((resolve) => {
      const out = fs.openSync(logFile, 'w');
      const child = pm.spawnPodman([...buildArgs, '.'], { stdio: ['ignore', out, out] });
      child.on('close', (c) => {
        fs.closeSync(out);
        resolve(c);
      });
    });
    const buildLog = fs.readFileSync(logFile, 'utf8');
    assert.equal(code, 0, `podman build failed (exit ${code}):\n${tail(buildLog, 80)}`);
    built = true;
    measured('cpu_image_build_seconds', ((Date.now() - t0) / 1000).toFixed(1));
    const inspect = JSON.parse(pm.podman(['image', 'inspect', IMAGE]))[0];
    imageConfig = inspect.Config || {};
    measured('cpu_image_size_mb', (inspect.Size / 1e6).toFixed(0));
    const tfjs = /^(tfjs-node installed.*|tfjs-node does not install here.*|TFJS_NODE=0: .*)$/m.exec(buildLog);
    log(`tfjs in the image: ${tfjs ? tfjs[0] : 'unknown'}`);
    pm.podman(['network', 'create', '--label', `${pm.LABEL}=${RUN_ID}`, '--subnet', `10.91.${SUBNET_OCTET}.0/24`, NETWORK]);
    makeSshSecret();
  });

  after(function () {
    if (skipReason || !tmp) return;
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    cleanupAll();
    const left = pm.leftovers(RUN_ID);
    assert.deepEqual(left, { containers: [], networks: [], images: [] }, 'the rehearsal left things behind');
  });

  describe('the image', function () {
    it('has no ENTRYPOINT to swallow the operators\' args, runs as mpiuser (uid 1000), with OpenMPI 4.1 and hvd built', function () {
      assert.ok(!imageConfig.Entrypoint || imageConfig.Entrypoint.length === 0, `Entrypoint ${JSON.stringify(imageConfig.Entrypoint)}`);
      assert.equal(String(imageConfig.User), '1000');
      const out = pm.podman(['run', '--rm', '--label', `${pm.LABEL}=${RUN_ID}`, '--network', 'none', IMAGE, 'sh', '-c',
        'id -u; id -un; mpirun --version | head -1; for c in orted sshd ssh; do command -v $c; done; node -e "const h=require(\'/opt/hvd\'); h.init(); console.log(h.size(), h.buildInfo().mpiVendor); h.shutdown()"']);
      const lines = out.split('\n');
      assert.deepEqual(lines.slice(0, 2), ['1000', 'mpiuser']);
      assert.match(lines[2], /Open MPI\) 4\.1\./);
      assert.deepEqual(lines.slice(3, 6), ['/usr/bin/orted', '/usr/sbin/sshd', '/usr/bin/ssh']);
      assert.equal(lines[6], '1 Open MPI');
    });
  });

  describe('kubeflow.org/v2beta1 (MPI Operator, ssh)', function () {
    let job;
    afterEach(function () {
      if (job) removePods(job.pods);
      job = null;
    });

    it('trains MNIST across two worker containers with the manifest\'s launcher command, weights consistent, rank 0 checkpointing', async function () {
      job = v2beta1Job(TRAIN_ARGS);
      const ready = await Promise.all(job.p.workers.map((w, i) => waitReady(ip(10 + i), 2222, 60000)));
      measured('v2beta1_workers_ready_seconds', Math.max(...ready).toFixed(1));
      const r = await runLauncher(job.p.launcher, ip(9), job.launcherExtra);
      console.log(tail(r.out, 8).replace(/^/gm, '        | '));
      checkTrained(r, job.p, 'v2beta1');
      const ckpt = path.join(volumeDir(job.p.workers[0].name, 'models'), 'mnist.hvdckpt');
      assert.ok(fs.existsSync(ckpt), `rank 0 (on ${job.p.workers[0].name}) wrote no checkpoint to its models volume`);
      assertNoEscapes(r, 'v2beta1');
    });

    it('a worker container killed mid-training ends the launcher non-zero within the reliability bound, naming the lost worker', async function () {
      job = v2beta1Job(['--epochs', '20', '--train-samples', '6400']);
      await Promise.all(job.p.workers.map((w, i) => waitReady(ip(10 + i), 2222, 60000)));
      let killedAt = 0;
      const victim = job.p.workers[1];
      const r = await runLauncher(job.p.launcher, ip(9), job.launcherExtra, {
        timeoutMs: 300000,
        onOutput: (out) => {
          if (!killedAt && /epoch \d+: loss/.test(out)) {
            killedAt = Date.now();
            pm.podman(['kill', '-s', 'KILL', containerName(victim.name)], { check: false });
          }
        },
      });
      assert.ok(killedAt, `training never reached epoch 1:\n${tail(r.out)}`);
      const seconds = (Date.now() - killedAt) / 1000;
      measured('v2beta1_worker_killed_job_over_seconds', seconds.toFixed(2));
      console.log(tail(r.out, 12).replace(/^/gm, '        | '));
      assert.notEqual(r.code, 0, 'the launcher exited 0 after losing a worker');
      assert.ok(seconds < LOST_HOST_BOUND_S, `the job took ${seconds.toFixed(1)} s to end after the kill`);
      // Ranks 2 and 3 ran on worker 1 (--map-by slot, 2 slots per worker).
      // ORTE sees its ssh session to that worker end and reports a daemon
      // failure without naming it; ssh names the worker whose connection died.
      assert.match(r.out, /ORTE was unable to reliably start one or more daemons|ORTE has lost communication with a remote daemon|exited on signal/, tail(r.out));
      assert.match(r.out, /Connection to hvd-mnist-worker-1\.hvd-mnist\.default\.svc closed|hvd-mnist-worker-1\.hvd-mnist\.default\.svc.*(reset|closed|lost)|node hvd-mnist-worker-1/, `the launcher log does not name the lost worker (hvd-mnist-worker-1, ranks 2-3):\n${tail(r.out)}`);
    });

    it('a launcher started before the workers exist fails at once with ssh\'s "Could not resolve hostname" (README: WaitForWorkersReady)', async function () {
      job = v2beta1Job(['--epochs', '1', '--train-samples', '1280'], { startWorkers: false });
      const r = await runLauncher(job.p.launcher, ip(9), job.launcherExtra, { timeoutMs: 120000 });
      measured('v2beta1_launcher_without_workers_fails_seconds', r.seconds.toFixed(1));
      console.log(tail(r.out, 8).replace(/^/gm, '        | '));
      assert.notEqual(r.code, 0);
      assert.match(r.out, /Could not resolve hostname hvd-mnist-worker-\d\.hvd-mnist\.default\.svc/);
      assert.ok(r.seconds < 60, `failing took ${r.seconds} s`);
    });

    it('a launcher started while the workers\' sshd is still coming up waits (ConnectionAttempts=10) and the job runs', async function () {
      const worker = manifests.mainContainer(manifests.load(manifests.MANIFESTS.v2beta1Cpu), 'Worker');
      // the workers' sshd starts 5 s late; the launcher does not wait for readiness
      job = v2beta1Job(['--epochs', '1', '--train-samples', '1280'], { startWorkers: false });
      for (const w of job.p.workers) w.command = ['/bin/sh', '-c', 'sleep 5; exec "$@"', 'sh', ...worker.command];
      job.startWorkers();
      job.launcherExtra.addHosts = job.hosts;
      const r = await runLauncher(job.p.launcher, ip(9), job.launcherExtra, { timeoutMs: 240000 });
      console.log(tail(r.out, 4).replace(/^/gm, '        | '));
      assert.equal(r.code, 0, tail(r.out));
      assert.match(r.out, /weights consistent across 4 ranks/);
      measured('v2beta1_late_sshd_launcher_seconds', r.seconds.toFixed(1));
    });
  });

  describe('kubeflow.org/v1 (training-operator / Flyte, kubexec)', function () {
    let pods = [];
    let relay = null;
    afterEach(async function () {
      if (relay) await relay.close();
      relay = null;
      removePods(pods);
      pods = [];
    });

    it('trains MNIST with sleeping workers reached through kubexec.sh (podman exec), launcher command from args', async function () {
      scenario++;
      const job = manifests.load(manifests.MANIFESTS.v1Cpu);
      const p = plan(job, { extraArgs: TRAIN_ARGS, imageEntrypoint: imageConfig.Entrypoint || [], imageCmd: imageConfig.Cmd || [] });
      assert.equal(p.launcher.command, undefined, 'v1 launcher command must come from args alone');
      pods = [p.launcher.name, ...p.workers.map((w) => w.name)];
      const etcMpi = path.join(tmp, 'etc-mpi-v1');
      const sockDir = path.join(tmp, 'podexec');
      fs.mkdirSync(etcMpi, { recursive: true });
      fs.mkdirSync(sockDir, { recursive: true });
      fs.chmodSync(sockDir, 0o777);
      fs.writeFileSync(path.join(etcMpi, 'hostfile'), p.hostfile);
      fs.copyFileSync(path.join(__dirname, 'kubexec.sh'), path.join(etcMpi, 'kubexec.sh'));
      fs.copyFileSync(path.join(__dirname, 'podexec.js'), path.join(etcMpi, 'podexec.js'));
      fs.chmodSync(path.join(etcMpi, 'kubexec.sh'), 0o755);
      const sock = path.join(sockDir, 'podexec.sock');
      const podMap = Object.fromEntries(p.workers.map((w) => [w.name, containerName(w.name)]));
      relay = startRelay(sock, podMap, (container, argv) => ['podman', 'exec', '-i', container, ...argv]);
      await relay.ready;
      fs.chmodSync(sock, 0o666);
      // The operator's ConfigMap (hostfile, kubexec.sh) is mounted on every
      // pod: mpirun forwards OMPI_MCA_plm_rsh_agent to the orteds, which
      // refuse to start when that path does not exist on the worker.
      p.workers.forEach((w, i) => startPod(w, ip(20 + i), { extraMounts: [`${etcMpi}:/etc/mpi:ro`] }));
      for (const w of p.workers) {
        const cmd = pm.podman(['inspect', '--format', '{{json .Config.Entrypoint}} {{json .Config.Cmd}}', containerName(w.name)]);
        assert.match(cmd, /sleep.*365d/, `${w.name} runs ${cmd}`);
      }
      const r = await runLauncher(p.launcher, ip(19), { extraMounts: [`${etcMpi}:/etc/mpi:ro`, `${sockDir}:/run/podexec`] });
      console.log(tail(r.out, 8).replace(/^/gm, '        | '));
      checkTrained(r, p, 'v1');
      const reached = [...new Set(relay.calls.map((c) => c.pod))].sort();
      assert.deepEqual(reached, p.workers.map((w) => w.name).sort(), 'mpirun reached every worker through kubexec.sh');
      assert.ok(relay.calls.every((c) => c.argv[0] === '/bin/sh' && c.argv[1] === '-c' && /orted/.test(c.argv[2])), JSON.stringify(relay.calls));
      const ckpt = path.join(volumeDir(p.workers[0].name, 'models'), 'mnist.hvdckpt');
      assert.ok(fs.existsSync(ckpt), 'rank 0 wrote no checkpoint');
      assertNoEscapes(r, 'v1');
    });
  });
});
