'use strict';
// Podman for the deployment rehearsal (npm run test:deploy), without a Docker
// daemon. Measured on the CI machine (Debian 12, podman 4.3, kernel with
// hybrid cgroups v1/v2):
//   - crun refuses these cgroups: use runc with the cgroupfs cgroup manager;
//   - the default ulimits cannot be set here: fix default_ulimits;
//   - overlay storage;
//   - ONE consistent containers.conf/storage.conf from the first podman call
//     (switching configs under an existing store made every later run hang).
// So every podman call made here gets CONTAINERS_CONF / CONTAINERS_STORAGE_CONF
// pointing at the files below, with a store, run dir and network config of
// its own under STATE_DIR: the machine's own podman setup (if any) is neither
// read nor changed. If the files on disk differ from what this code writes
// (the code changed), the store is deleted first: it is a cache.
//
// Everything a test creates carries the label LABEL=<run id>; cleanupRun()
// removes a run's containers, networks and images, and cleanupStale() those
// of earlier runs that died without cleaning up.

const childProcess = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const STATE_DIR = process.env.HVD_DEPLOY_STATE_DIR || '/var/lib/hvd-deploy';
const RUN_DIR = process.env.HVD_DEPLOY_RUN_DIR || '/run/hvd-deploy';
const CONF_DIR = path.join(STATE_DIR, 'conf');
const LABEL = 'hvd-deploy-run';
const APT_PACKAGES = ['podman', 'buildah', 'runc', 'conmon', 'containernetworking-plugins', 'iptables', 'debootstrap', 'uidmap', 'fuse-overlayfs', 'slirp4netns'];

function containersConf() {
  return [
    '# written by test/deploy/podman.js (hvd npm run test:deploy)',
    '[containers]',
    'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    'log_driver = "k8s-file"',
    '',
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `tmp_dir = "${RUN_DIR}/libpod"`,
    `static_dir = "${STATE_DIR}/storage/libpod"`,
    `volume_path = "${STATE_DIR}/storage/volumes"`,
    '',
    '[network]',
    'network_backend = "cni"',
    `network_config_dir = "${STATE_DIR}/cni"`,
    '',
  ].join('\n');
}

function storageConf() {
  return [
    '# written by test/deploy/podman.js (hvd npm run test:deploy)',
    '[storage]',
    'driver = "overlay"',
    `graphroot = "${STATE_DIR}/storage"`,
    `runroot = "${RUN_DIR}/storage"`,
    '',
  ].join('\n');
}

const CONTAINERS_CONF = path.join(CONF_DIR, 'containers.conf');
const STORAGE_CONF = path.join(CONF_DIR, 'storage.conf');

/** Environment for every podman/buildah call. */
function podmanEnv(base = process.env) {
  return { ...base, CONTAINERS_CONF, CONTAINERS_STORAGE_CONF: STORAGE_CONF, BUILDAH_ISOLATION: 'chroot' };
}

/**
 * Writes the two config files before the first podman call. If they exist
 * with other contents, the store made under them is deleted first.
 */
function writeConfig(log = () => {}) {
  const want = { [CONTAINERS_CONF]: containersConf(), [STORAGE_CONF]: storageConf() };
  const differs = Object.entries(want).some(([f, text]) => {
    try {
      return fs.readFileSync(f, 'utf8') !== text;
    } catch {
      return true;
    }
  });
  if (differs && fs.existsSync(path.join(STATE_DIR, 'storage'))) {
    log(`podman config changed: deleting the old store under ${STATE_DIR} (a cache)`);
    // overlay mounts may still be active after a crash; unmount before deleting
    childProcess.spawnSync('sh', ['-c', `grep -o ' ${STATE_DIR}/storage[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`], { stdio: 'ignore' });
    fs.rmSync(path.join(STATE_DIR, 'storage'), { recursive: true, force: true });
    fs.rmSync(path.join(STATE_DIR, 'cni'), { recursive: true, force: true });
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
  }
  fs.mkdirSync(CONF_DIR, { recursive: true });
  fs.mkdirSync(path.join(STATE_DIR, 'cni'), { recursive: true });
  fs.mkdirSync(RUN_DIR, { recursive: true });
  for (const [f, text] of Object.entries(want)) fs.writeFileSync(f, text);
}

function which(name) {
  for (const dir of (process.env.PATH || '/usr/bin:/bin').split(':')) {
    const p = path.join(dir || '.', name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Tools the rehearsal needs that are not installed. */
function missingTools() {
  const tools = { podman: 'podman', buildah: 'buildah', runc: 'runc', conmon: 'conmon', debootstrap: 'debootstrap', iptables: 'iptables' };
  const out = Object.keys(tools).filter((t) => !which(t) && !fs.existsSync(`/usr/sbin/${t}`) && !fs.existsSync(`/usr/libexec/podman/${t}`));
  if (!fs.existsSync('/usr/lib/cni/bridge') && !fs.existsSync('/opt/cni/bin/bridge')) out.push('containernetworking-plugins');
  return out;
}

/**
 * Installs podman and friends with apt-get when missing (idempotent).
 * Returns null when ready, or the reason podman cannot run here at all.
 */
function ensureInstalled(log = () => {}) {
  if (process.platform !== 'linux') return `podman rehearsal needs Linux (this is ${process.platform})`;
  if (!isRoot()) return 'podman rehearsal needs root (rootful podman with runc, debootstrap, CNI networks); run test:deploy as root';
  let missing = missingTools();
  if (missing.length === 0) return null;
  if (!which('apt-get')) return `missing ${missing.join(', ')} and apt-get is not available to install them`;
  log(`installing ${APT_PACKAGES.join(' ')} (missing: ${missing.join(', ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = childProcess.spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  r = childProcess.spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...APT_PACKAGES], { stdio: 'inherit', env });
  if (r.status !== 0) return `apt-get install ${APT_PACKAGES.join(' ')} failed (exit ${r.status})`;
  missing = missingTools();
  return missing.length ? `still missing after apt-get: ${missing.join(', ')}` : null;
}

class PodmanError extends Error {}

/**
 * Runs `podman ARGS` synchronously; returns stdout (trimmed). Throws with
 * stderr on failure unless opts.check === false (then returns the result).
 */
function podman(args, opts = {}) {
  const r = childProcess.spawnSync('podman', args, {
    env: podmanEnv(opts.env),
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120000,
    killSignal: 'SIGKILL',
    input: opts.input,
    maxBuffer: 256 * 1024 * 1024,
    stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (opts.check === false) return r;
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}`;
    throw new PodmanError(`podman ${args.join(' ')}: ${why}\n${(r.stderr || '').trim()}`);
  }
  return (r.stdout || '').trim();
}

/** Spawns `podman ARGS` asynchronously (for builds and jobs that stream output). */
function spawnPodman(args, opts = {}) {
  return childProcess.spawn('podman', args, { env: podmanEnv(opts.env), stdio: opts.stdio || ['ignore', 'pipe', 'pipe'], detached: opts.detached });
}

/** `podman info` works: null, else the reason. */
function infoReason() {
  const r = podman(['info', '--format', '{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}} {{.Host.CgroupManager}}'], { check: false, timeoutMs: 60000 });
  if (r.error || r.status !== 0) return `podman cannot run here: ${(r.stderr || (r.error && r.error.message) || '').trim().split('\n').slice(-3).join(' | ')}`;
  return null;
}

/** Removes every container, network and image labelled with this run id (or any run id when runId is null). */
function cleanup(runId, log = () => {}) {
  const filter = runId ? `label=${LABEL}=${runId}` : `label=${LABEL}`;
  const gone = { containers: 0, networks: 0, images: 0 };
  const ids = (args) => {
    const r = podman(args, { check: false, timeoutMs: 60000 });
    return r.status === 0 ? r.stdout.split('\n').map((s) => s.trim()).filter(Boolean) : [];
  };
  const cs = ids(['ps', '-a', '-q', '--filter', filter]);
  if (cs.length) {
    podman(['rm', '-f', '-t', '0', ...cs], { check: false, timeoutMs: 120000 });
    gone.containers = cs.length;
  }
  const ns = ids(['network', 'ls', '-q', '--filter', filter]);
  if (ns.length) {
    podman(['network', 'rm', '-f', ...ns], { check: false });
    gone.networks = ns.length;
  }
  const is = ids(['images', '-q', '--filter', filter]);
  if (is.length) {
    podman(['rmi', '-f', ...new Set(is)], { check: false, timeoutMs: 120000 });
    gone.images = new Set(is).size;
  }
  // the build's intermediate layers (untagged once the image is gone);
  // HVD_DEPLOY_KEEP_CACHE=1 keeps them (and the base stand-in) for re-runs
  if (process.env.HVD_DEPLOY_KEEP_CACHE !== '1') podman(['image', 'prune', '-f'], { check: false, timeoutMs: 120000 });
  log(`cleanup ${runId || '(stale)'}: removed ${gone.containers} container(s), ${gone.networks} network(s), ${gone.images} image(s)`);
  return gone;
}

/**
 * Removes what earlier runs left behind: their label value starts with
 * "<pid>-", and a run whose process is gone cleaned up nothing.
 */
function cleanupStale(log = () => {}) {
  const runs = new Set();
  const collect = (args) => {
    const r = podman(args, { check: false, timeoutMs: 60000 });
    if (r.status !== 0) return;
    for (const line of r.stdout.split('\n')) {
      const m = new RegExp(`${LABEL}[:=]([0-9]+-[0-9a-f]+)`).exec(line);
      if (m) runs.add(m[1]);
    }
  };
  collect(['ps', '-a', '--filter', `label=${LABEL}`, '--format', '{{.Labels}}']);
  collect(['network', 'ls', '--filter', `label=${LABEL}`, '--format', '{{.Labels}}']);
  collect(['images', '--filter', `label=${LABEL}`, '--format', '{{.Labels}}']);
  for (const run of runs) {
    const pid = Number(run.split('-')[0]);
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      /* gone */
    }
    if (!alive) cleanup(run, log);
  }
}

/** What is left with this run's label (for the "nothing left" check). */
function leftovers(runId) {
  const filter = `label=${LABEL}=${runId}`;
  const list = (args) => podman(args, { check: false }).stdout.split('\n').filter(Boolean);
  return {
    containers: list(['ps', '-a', '-q', '--filter', filter]),
    networks: list(['network', 'ls', '-q', '--filter', filter]),
    images: list(['images', '-q', '--filter', filter]),
  };
}

module.exports = {
  STATE_DIR,
  LABEL,
  podmanEnv,
  writeConfig,
  ensureInstalled,
  infoReason,
  podman,
  spawnPodman,
  cleanup,
  cleanupStale,
  leftovers,
  which,
  PodmanError,
};
