'use strict';
// Test "hosts" on one machine: network namespaces joined by a bridge, each
// with its own address in 10.77.0.0/24 (a range that exists only inside
// these namespaces), its own hostname and its own /dev/shm (so ranks on
// different hosts must talk TCP, and ranks on one host use shared memory).
// mpirun runs in a separate "launcher" namespace, as an MPI Operator
// launcher pod does, and reaches the hosts through an rsh agent (nsrsh) that
// enters a host's namespace instead of ssh'ing to it.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** Why these tests cannot run here, or null if they can. */
function unavailableReason() {
  if (process.getuid() !== 0) return 'network namespaces need root';
  for (const tool of ['ip', 'unshare']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  const probe = `hvdprobe${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `cannot create a network namespace: ${r.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

/** Installs Debian packages the impairment tests need, as root; returns an error string or null. */
function ensurePackages(pkgs, probe) {
  if (probe()) return null;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const upd = spawnSync('apt-get', ['update', '-qq'], { env, encoding: 'utf8', timeout: 300000 });
  const inst = spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { env, encoding: 'utf8', timeout: 600000 });
  if (probe()) return null;
  return `could not install ${pkgs.join(' ')}: ${(inst.stderr || upd.stderr || '').trim().split('\n').pop()}`;
}

class Topology {
  /** hosts: number of worker hosts (host1..hostN). */
  constructor(hosts) {
    this.prefix = `hvd${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
    this.hosts = Array.from({ length: hosts }, (_, i) => `host${i + 1}`);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-netns-'));
    this.namespaces = [];
    this.cleanup = () => this.down();
    process.on('exit', this.cleanup);
  }

  ns(host) {
    return `${this.prefix}-${host}`;
  }

  /** The switch-side veth of `host` (inside the bridge namespace). */
  port(host) {
    return host === 'launcher' ? 'vl' : `v${host.replace('host', 'h')}`;
  }

  up() {
    const sw = this.ns('sw');
    this.addNs(sw);
    sh('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
    const all = ['launcher', ...this.hosts];
    all.forEach((host, i) => {
      const ns = this.ns(host);
      this.addNs(ns);
      sh('ip', ['link', 'add', this.port(host), 'netns', sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh('ip', ['-n', sw, 'link', 'set', this.port(host), 'master', 'br0', 'up']);
      const addr = host === 'launcher' ? '10.77.0.100' : `10.77.0.${i}`;
      sh('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    });
    this.writeAgent();
    fs.writeFileSync(path.join(this.dir, 'hostfile'), this.hosts.map((h) => `${h} slots=2\n`).join(''));
    return this;
  }

  addNs(ns) {
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  // The rsh agent: `nsrsh HOST CMD...` behaves like `ssh HOST CMD...`. It
  // enters HOST's namespace with its own hostname and /dev/shm, scrubs the
  // environment as sshd would (so missing -x flags show up as they would on
  // a cluster), and execs bash so its PID becomes the orted.
  writeAgent() {
    this.agent = path.join(this.dir, 'nsrsh');
    fs.writeFileSync(
      this.agent,
      `#!/bin/bash
host="$1"; shift
exec ip netns exec "${this.prefix}-$host" unshare --uts --mount /bin/bash -c 'hostname "$0"; mount -t tmpfs tmpfs /dev/shm; exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root /bin/bash -c "$1"' "$host" "$*"
`,
      { mode: 0o755 },
    );
  }

  /** Bytes received + sent on `host`'s eth0. */
  bytes(host) {
    const dev = sh('ip', ['netns', 'exec', this.ns(host), 'cat', '/proc/net/dev']);
    const line = dev.split('\n').find((l) => l.trim().startsWith('eth0:'));
    const f = line.split(':')[1].trim().split(/\s+/).map(Number);
    return f[0] + f[8];
  }

  /** Runs `sh -c script` in the bridge namespace (impairments). */
  onSwitch(args) {
    return sh('ip', ['netns', 'exec', this.ns('sw'), ...args]);
  }

  /** The mpirun argv, run from the launcher namespace through the agent. */
  mpirunArgs(np, { env = {}, extra = [] } = {}) {
    const args = [
      '--allow-run-as-root', '-np', String(np), '--hostfile', path.join(this.dir, 'hostfile'),
      '--mca', 'plm_rsh_agent', this.agent,
      '--mca', 'oob_tcp_if_include', 'eth0', '--mca', 'btl_tcp_if_include', 'eth0',
      '--bind-to', 'none', '--map-by', 'slot', '--mca', 'mpi_yield_when_idle', '1',
      // hvdrun's multi-host defaults: a dead host or partition ends the job in ~10 s.
      '--mca', 'oob_tcp_keepalive_time', '5', '--mca', 'oob_tcp_keepalive_intvl', '2', '--mca', 'oob_tcp_keepalive_probes', '3',
      '--wdir', path.resolve(__dirname, '..', '..'),
      ...extra,
    ];
    for (const k of Object.keys(env)) args.push('-x', `${k}=${env[k]}`);
    return args;
  }

  /** `timeout -k 5 LIMIT mpirun ...` inside the launcher namespace; argv for spawn. */
  launch(np, command, { env = {}, extra = [], limit = 120 } = {}) {
    const mpirun = ['mpirun', ...this.mpirunArgs(np, { env, extra }), ...command];
    return ['ip', ['netns', 'exec', this.ns('launcher'), 'unshare', '--uts', 'bash', '-c', `hostname launcher; exec timeout -k 5 ${limit} "$@"`, 'x', ...mpirun]];
  }

  down() {
    for (const ns of this.namespaces.slice().reverse()) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      spawnSync('ip', ['netns', 'del', ns]);
    }
    this.namespaces = [];
    fs.rmSync(this.dir, { recursive: true, force: true });
    process.removeListener('exit', this.cleanup);
  }

  /** Our namespaces that still exist (should be none after down()). */
  leftovers() {
    return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(this.prefix));
  }
}

module.exports = { Topology, unavailableReason, ensurePackages, sh };
