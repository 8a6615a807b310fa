'use strict';
// Network faults for the multi-host tests, applied on the switch (the bridge
// namespace) per port, like a misbehaving cable or switch port: the hosts
// themselves are not touched. This kernel has no sch_netem, so:
//   loss       iptables `-m statistic --mode random --probability P -j DROP`
//   delay      iptables NFQUEUE to ./nfq_delay (built here with gcc)
//   link down  `ip -n SW link set vhK down` (the host's eth0 loses carrier)
//   partition  iptables DROP of everything to and from the port (link stays up)
// Rules go in the bridge namespace's FORWARD chain with `-m physdev`
// (bridged packets pass iptables because br_netfilter is on):
//   --physdev-out vhK  traffic going to hostK;  --physdev-in vhK  from hostK.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const NFQ_SOURCE = path.join(__dirname, 'nfq_delay.c');

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30000, ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || '').trim() || r.error}`);
  }
  return r.stdout;
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function haveNfqHeaders() {
  return fs.existsSync('/usr/include/libnetfilter_queue/libnetfilter_queue.h');
}

/**
 * Makes sure iptables, gcc and libnetfilter-queue-dev are present, installing
 * the missing Debian packages with apt-get as root (as the project's setup
 * does for OpenMPI). Returns null when everything is there, else the reason
 * the impairment tests must be skipped.
 */
function ensureTools({ log = () => {} } = {}) {
  const missing = [];
  if (!has('iptables')) missing.push('iptables');
  if (!haveNfqHeaders()) missing.push('libnetfilter-queue-dev');
  if (!has('gcc')) missing.push('gcc');
  if (missing.length === 0) return null;
  if (process.getuid() !== 0) return `missing ${missing.join(', ')} and not root to install them`;
  if (!has('apt-get')) return `missing ${missing.join(', ')} and no apt-get to install them`;
  log(`installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env, encoding: 'utf8', timeout: 600000 });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { env, encoding: 'utf8', timeout: 600000 });
    r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env, encoding: 'utf8', timeout: 600000 });
  }
  if (r.status !== 0) {
    const why = ((r.stderr || '') + (r.error ? String(r.error) : '')).trim().split('\n').pop();
    return `could not install ${missing.join(' ')}: ${why || `apt-get exited ${r.status}`}`;
  }
  const still = [];
  if (!has('iptables')) still.push('iptables (not in PATH)');
  if (!haveNfqHeaders()) still.push('libnetfilter_queue.h');
  if (!has('gcc')) still.push('gcc (not in PATH)');
  if (still.length) return `apt-get installed ${missing.join(' ')}, but still missing: ${still.join(', ')}`;
  return null;
}

/**
 * Checks that iptables works in the topology's switch namespace and that the
 * matches we need exist (physdev, statistic, NFQUEUE). Returns null or a reason.
 */
function iptablesReason(topo) {
  const probe = ['-m', 'physdev', '--physdev-out', topo.hosts[0].port, '-m', 'statistic', '--mode', 'random', '--probability', '0.5'];
  const add = spawnSync('ip', ['netns', 'exec', topo.sw, 'iptables', '-w', '-A', 'FORWARD', ...probe, '-j', 'DROP'], { encoding: 'utf8' });
  if (add.status !== 0) return `iptables physdev/statistic unavailable: ${(add.stderr || '').trim()}`;
  spawnSync('ip', ['netns', 'exec', topo.sw, 'iptables', '-w', '-D', 'FORWARD', ...probe, '-j', 'DROP']);
  const q = ['-m', 'physdev', '--physdev-out', topo.hosts[0].port, '-j', 'NFQUEUE', '--queue-num', '9', '--queue-bypass'];
  const addq = spawnSync('ip', ['netns', 'exec', topo.sw, 'iptables', '-w', '-A', 'FORWARD', ...q], { encoding: 'utf8' });
  if (addq.status !== 0) return `iptables NFQUEUE unavailable: ${(addq.stderr || '').trim()}`;
  spawnSync('ip', ['netns', 'exec', topo.sw, 'iptables', '-w', '-D', 'FORWARD', ...q]);
  return null;
}

/** Compiles nfq_delay.c into dir (a temp dir by default); returns the binary's path. */
function buildDelayer(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfq-delay-'))) {
  const bin = path.join(dir, 'nfq_delay');
  sh('gcc', ['-O2', '-Wall', '-o', bin, NFQ_SOURCE, '-lnetfilter_queue', '-lnfnetlink'], { timeout: 120000 });
  return bin;
}

function ipt(topo, args) {
  return sh('ip', ['netns', 'exec', topo.sw, 'iptables', '-w', ...args]);
}

function physdevArgs(port, direction) {
  return direction === 'in' ? ['-m', 'physdev', '--physdev-in', port] : ['-m', 'physdev', '--physdev-out', port];
}

function directions(direction) {
  if (direction === 'both') return ['out', 'in'];
  if (direction === 'out' || direction === 'in') return [direction];
  throw new Error(`direction must be out, in or both, not ${direction}`);
}

/**
 * Drops a fraction p (0..1) of the packets to (direction 'out', the default),
 * from ('in') or both ways of a host. Returns the rules' specs, for counters().
 */
function loss(topo, host, p, { direction = 'out' } = {}) {
  const h = topo.host(host);
  const specs = directions(direction).map((d) => [
    ...physdevArgs(h.port, d),
    '-m', 'statistic', '--mode', 'random', '--probability', String(p),
    '-m', 'comment', '--comment', `hvd-loss-${h.name}-${d}`,
    '-j', 'DROP',
  ]);
  for (const s of specs) ipt(topo, ['-I', 'FORWARD', ...s]);
  return specs;
}

/** Packets/bytes matched by our rules: {comment: {packets, bytes}}. */
function counters(topo) {
  const text = ipt(topo, ['-L', 'FORWARD', '-v', '-x', '-n']);
  const out = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*(\d+)\s+(\d+)\s+.*\/\*\s*(hvd-\S+)\s*\*\//);
    if (m) out[m[3]] = { packets: Number(m[1]), bytes: Number(m[2]) };
  }
  return out;
}

/**
 * Delays every packet to (direction 'out') / from ('in') / both ways of a
 * host by ms milliseconds: an NFQUEUE rule in the switch's FORWARD chain and
 * the nfq_delay helper running in the switch namespace. `--queue-bypass`
 * makes the rule fail open if the helper dies, so check() verifies that the
 * helper runs and counts packets.
 *
 * Resolves a Delayer {proc, bin, queue, check(): Promise<counts>, stop(): Promise<counts>}.
 */
async function delay(topo, host, ms, { direction = 'out', queue = 0, bin, lossPct = 0 } = {}) {
  const h = topo.host(host);
  const exe = bin || buildDelayer();
  const ownBin = !bin; // built here: removed again by stop()
  const proc = spawn('ip', ['netns', 'exec', topo.sw, exe, String(queue), String(ms), String(lossPct)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const d = { proc, bin: exe, queue, out: '', exited: false };
  proc.stdout.on('data', (b) => (d.out += b));
  proc.stderr.on('data', (b) => (d.out += b));
  d.done = new Promise((r) => proc.on('close', (code, signal) => {
    d.exited = true;
    r({ code, signal });
  }));
  const until = Date.now() + 10000;
  while (!/nfq_delay ready/.test(d.out)) {
    if (d.exited || Date.now() > until) throw new Error(`nfq_delay did not start: ${d.out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  d.specs = directions(direction).map((dir) => [
    ...physdevArgs(h.port, dir),
    '-m', 'comment', '--comment', `hvd-delay-${h.name}-${dir}`,
    '-j', 'NFQUEUE', '--queue-num', String(queue), '--queue-bypass',
  ]);
  for (const s of d.specs) ipt(topo, ['-A', 'FORWARD', ...s]);
  const lastCounts = () => {
    const all = [...d.out.matchAll(/nfq_delay counts in=(\d+) accepted=(\d+) dropped=(\d+) overflow=(\d+) max_held=(\d+)/g)];
    if (all.length === 0) return null;
    const m = all[all.length - 1];
    return { in: +m[1], accepted: +m[2], dropped: +m[3], overflow: +m[4], maxHeld: +m[5] };
  };
  /** Asks the running helper for its counters (SIGUSR1). */
  d.check = async () => {
    if (d.exited) throw new Error(`nfq_delay is not running: ${d.out}`);
    const n = (d.out.match(/nfq_delay counts/g) || []).length;
    signalHelper(topo, exe, 'SIGUSR1');
    const t = Date.now() + 5000;
    while ((d.out.match(/nfq_delay counts/g) || []).length === n) {
      if (d.exited || Date.now() > t) throw new Error(`nfq_delay did not report: ${d.out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return lastCounts();
  };
  /** Removes the rules, stops the helper (it releases held packets) and returns its final counters. */
  d.stop = async () => {
    for (const s of d.specs) spawnSync('ip', ['netns', 'exec', topo.sw, 'iptables', '-w', '-D', 'FORWARD', ...s]);
    if (!d.exited) {
      signalHelper(topo, exe, 'SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await d.done;
      clearTimeout(timer);
    }
    if (ownBin) fs.rmSync(path.dirname(exe), { recursive: true, force: true });
    return lastCounts();
  };
  return d;
}

/**
 * Signals the helper itself. `ip netns exec` execs the program, so the
 * spawned PID is the helper; find it by binary path in the switch namespace
 * anyway, in case an ip version forks.
 */
function signalHelper(topo, exe, sig) {
  const r = spawnSync('ip', ['netns', 'pids', topo.sw], { encoding: 'utf8' });
  for (const p of (r.stdout || '').split(/\s+/).filter(Boolean)) {
    let exePath = '';
    try {
      exePath = fs.readlinkSync(`/proc/${p}/exe`);
    } catch {
      continue;
    }
    if (exePath === exe) {
      try {
        process.kill(Number(p), sig);
      } catch {
        // exited meanwhile
      }
    }
  }
}

/** The host's switch port goes down (its eth0 loses carrier), as if the cable were pulled. */
function linkDown(topo, host) {
  sh('ip', ['-n', topo.sw, 'link', 'set', topo.host(host).port, 'down']);
}

function linkUp(topo, host) {
  sh('ip', ['-n', topo.sw, 'link', 'set', topo.host(host).port, 'up']);
}

/** Drops everything to and from a host; the link stays up. */
function partition(topo, host) {
  const h = topo.host(host);
  const specs = ['out', 'in'].map((d) => [...physdevArgs(h.port, d), '-m', 'comment', '--comment', `hvd-partition-${h.name}-${d}`, '-j', 'DROP']);
  for (const s of specs) ipt(topo, ['-I', 'FORWARD', ...s]);
  return specs;
}

/** Undoes every impairment: flushes FORWARD, removes qdiscs, sets every port up. */
function clearAll(topo) {
  spawnSync('ip', ['netns', 'exec', topo.sw, 'iptables', '-w', '-F', 'FORWARD'], { stdio: 'ignore' });
  for (const h of topo.hosts) {
    spawnSync('ip', ['-n', topo.sw, 'link', 'set', h.port, 'up'], { stdio: 'ignore' });
  }
}

module.exports = {
  ensureTools,
  iptablesReason,
  buildDelayer,
  loss,
  delay,
  counters,
  linkDown,
  linkUp,
  partition,
  clearAll,
};
