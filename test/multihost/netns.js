'use strict';
// Test "hosts" on one machine, for hvd's multi-host tests.
//
//   <prefix>-sw        the switch: a bridge br0 with one port per host
//                      (vh1, vh2, ... and vl for the launcher)
//   <prefix>-hostK     a worker host: eth0 = 10.77.0.K/24, peer of vhK
//   <prefix>-launcher  where mpirun runs (no ranks): eth0 = 10.77.0.100/24
//
// The address range exists only inside these namespaces (no route, no NAT to
// anything else); the root namespace is never touched. Each Topology has a
// unique prefix, so parallel runs do not collide: the same addresses and
// port names are reused, but inside different namespaces. Processes are
// started in a host by the rsh agent ./nsrsh, which also gives each host its
// own hostname and /dev/shm.
//
// destroy() kills every process in every namespace (ip netns del alone does
// not) before deleting it, and is also run from process 'exit' and
// SIGINT/SIGTERM handlers, so a failing or interrupted test leaves nothing.

const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const NSRSH = path.join(__dirname, 'nsrsh');
const SUBNET = '10.77.0';
const LAUNCHER_IP = `${SUBNET}.100`;

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000, ...opts });
}

function tryRun(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30000, ...opts });
  return { ok: r.status === 0, status: r.status, stdout: r.stdout || '', stderr: r.stderr || '', error: r.error };
}

function haveCommand(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Why network-namespace tests cannot run here, or null when they can. Tries
 * to create (and delete) a namespace, so it never guesses.
 */
function unavailableReason() {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root: creating network namespaces needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)';
  for (const tool of ['ip', 'unshare', 'mount', 'hostname', 'timeout', 'mpirun']) {
    if (!haveCommand(tool)) return `${tool} not found in PATH`;
  }
  const probe = `hvdmhprobe${process.pid}`;
  const add = tryRun('ip', ['netns', 'add', probe]);
  if (!add.ok) return `ip netns is unavailable: ${(add.stderr || String(add.error)).trim()}`;
  const veth = tryRun('ip', ['-n', probe, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
  const bridge = tryRun('ip', ['-n', probe, 'link', 'add', 'b0', 'type', 'bridge']);
  const uts = tryRun('ip', ['netns', 'exec', probe, 'unshare', '--uts', '--mount', 'true']);
  tryRun('ip', ['netns', 'del', probe]);
  if (!veth.ok) return `cannot create veth pairs: ${veth.stderr.trim()}`;
  if (!bridge.ok) return `cannot create a bridge: ${bridge.stderr.trim()}`;
  if (!uts.ok) return `unshare --uts --mount fails: ${uts.stderr.trim()}`;
  return null;
}

/** Namespace inode ("net:[N]" of /proc/PID/ns/net) of a named namespace. */
function nsInode(name) {
  try {
    return fs.statSync(`/run/netns/${name}`).ino;
  } catch {
    return null;
  }
}

/** PIDs of processes whose network namespace has one of the inodes. */
function pidsInInodes(inodes) {
  const want = new Set(inodes.filter((i) => i !== null).map((i) => `net:[${i}]`));
  const out = [];
  if (want.size === 0) return out;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (want.has(fs.readlinkSync(`/proc/${d}/ns/net`))) out.push(Number(d));
    } catch {
      // the process exited meanwhile
    }
  }
  return out;
}

function cmdlineOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

const live = new Set();
let handlersInstalled = false;

function installExitHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const t of [...live]) t.destroy({ quiet: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      for (const t of [...live]) t.destroy({ quiet: true });
      process.kill(process.pid, sig); // the default action, now that the handler is gone
    });
  }
}

class Topology {
  /**
   * @param {object} [opts]
   * @param {number} [opts.hosts=2]  number of worker hosts
   * @param {number} [opts.slots=2]  MPI slots per host (for the hostfile)
   * @param {string} [opts.prefix]   namespace name prefix (default: unique per run)
   */
  constructor({ hosts = 2, slots = 2, prefix } = {}) {
    if (hosts < 1 || hosts > 99) throw new Error('hosts must be 1..99');
    this.prefix = prefix || `hvdmh${process.pid.toString(36)}${crypto.randomBytes(2).toString('hex')}`;
    this.slots = slots;
    this.agent = NSRSH;
    this.sw = `${this.prefix}-sw`;
    this.launcher = { name: 'launcher', ns: `${this.prefix}-launcher`, ip: LAUNCHER_IP, port: 'vl' };
    this.hosts = [];
    for (let k = 1; k <= hosts; k++) {
      this.hosts.push({ name: `host${k}`, ns: `${this.prefix}-host${k}`, ip: `${SUBNET}.${k}`, port: `vh${k}` });
    }
    this.dir = null;
    this.hostfile = null;
    this.inodes = [];
    this.created = [];
  }

  /** Every namespace of this topology, switch first. */
  get namespaces() {
    return [this.sw, this.launcher.ns, ...this.hosts.map((h) => h.ns)];
  }

  /** The host record for a name ("host2") or a 0-based index. */
  host(which) {
    const h = typeof which === 'number' ? this.hosts[which] : this.hosts.find((x) => x.name === which);
    if (!h) throw new Error(`no such host: ${which}`);
    return h;
  }

  /** Builds the namespaces, links, addresses and the hostfile. */
  create() {
    installExitHandlers();
    live.add(this);
    try {
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${this.prefix}-`));
      this._addNs(this.sw);
      run('ip', ['-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0']);
      run('ip', ['-n', this.sw, 'link', 'set', 'br0', 'up']);
      // Bridged traffic must pass iptables (for the impairments). The switch
      // gets no address: it only forwards.
      tryRun('ip', ['netns', 'exec', this.sw, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1']);
      for (const h of [this.launcher, ...this.hosts]) this._addHost(h);
      fs.writeFileSync(
        path.join(this.dir, 'hostfile'),
        this.hosts.map((h) => `${h.name} slots=${this.slots}\n`).join(''),
      );
      this.hostfile = path.join(this.dir, 'hostfile');
    } catch (e) {
      this.destroy({ quiet: true });
      throw e;
    }
    return this;
  }

  _addNs(name) {
    run('ip', ['netns', 'add', name]);
    this.created.push(name);
    this.inodes.push(nsInode(name));
    run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  _addHost(h) {
    this._addNs(h.ns);
    // Both ends are created directly in their namespaces: nothing appears in
    // the root namespace, even for a moment.
    run('ip', ['link', 'add', h.port, 'netns', this.sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
    run('ip', ['-n', this.sw, 'link', 'set', h.port, 'master', 'br0']);
    run('ip', ['-n', this.sw, 'link', 'set', h.port, 'up']);
    run('ip', ['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0']);
    run('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
  }

  /** Runs a command in a namespace (synchronously); returns stdout. */
  exec(ns, cmd, args = [], opts = {}) {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  /** Byte and packet counters of eth0 in a host (from its /proc/net/dev). */
  counters(which) {
    const h = which === 'launcher' ? this.launcher : this.host(which);
    const text = this.exec(h.ns, 'cat', ['/proc/net/dev']);
    const line = text.split('\n').find((l) => l.trim().startsWith('eth0:'));
    if (!line) throw new Error(`no eth0 in ${h.ns}`);
    const f = line.split(':')[1].trim().split(/\s+/).map(Number);
    return { rxBytes: f[0], rxPackets: f[1], txBytes: f[8], txPackets: f[9] };
  }

  /** PIDs of every process in any of this topology's namespaces. */
  pids() {
    return pidsInInodes(this.inodes);
  }

  /** Describes the processes still inside the namespaces ("PID cmdline"). */
  leftovers() {
    return this.pids().map((p) => `${p} ${cmdlineOf(p).slice(0, 160)}`);
  }

  /**
   * SIGKILLs every process in every namespace, repeatedly until none are
   * left (a dying orted may still fork). Returns how many were killed.
   */
  reap() {
    let killed = 0;
    for (let round = 0; round < 20; round++) {
      // `ip netns pids` per namespace, plus a scan by namespace inode: the
      // scan also finds processes whose namespace name was already deleted.
      const pids = new Set(this.pids());
      for (const ns of this.created) {
        const r = tryRun('ip', ['netns', 'pids', ns]);
        for (const p of r.stdout.split(/\s+/).filter(Boolean)) pids.add(Number(p));
      }
      pids.delete(process.pid);
      if (pids.size === 0) return killed;
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
          killed++;
        } catch {
          // gone already
        }
      }
      spawnSync('sleep', ['0.1']);
    }
    return killed;
  }

  /**
   * Kills every process, deletes every namespace and the temp dir. Safe to
   * call twice. Returns {killed, leftNamespaces, leftProcesses}.
   */
  destroy({ quiet = false, keepDir = false } = {}) {
    const killed = this.reap();
    for (const ns of [...this.created].reverse()) tryRun('ip', ['netns', 'del', ns]);
    this.created = [];
    const leftNamespaces = listNamespaces().filter((n) => n.startsWith(`${this.prefix}-`));
    const leftProcesses = this.leftovers();
    if (this.dir && !keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
    if (!quiet && (leftNamespaces.length || leftProcesses.length)) {
      console.error(`netns cleanup left namespaces [${leftNamespaces}] processes [${leftProcesses}]`);
    }
    return { killed, leftNamespaces, leftProcesses };
  }
}

/** Names of every network namespace on the machine. */
function listNamespaces() {
  const r = tryRun('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean);
}

module.exports = { Topology, unavailableReason, listNamespaces, NSRSH, SUBNET, LAUNCHER_IP };
