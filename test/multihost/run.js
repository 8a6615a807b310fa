'use strict';
// Runs an mpirun job across the test hosts of a Topology (./netns.js).
//
// mpirun itself runs in the launcher namespace, started through the rsh agent
// like any remote command, and reaches the hosts through the same agent
// (--mca plm_rsh_agent nsrsh) with a hostfile of host names, exactly as it
// would over ssh on a cluster. The whole thing is wrapped in
// `timeout -k 5 LIMIT`: mpirun can ignore SIGTERM while a daemon is
// unreachable, so only SIGKILL is a sure bound.
//
// With o.launcher = 'hvdrun' the job goes through the project's launcher
// (bin/hvdrun.js), which must then add the keepalive parameters by itself.
//
// The agent scrubs the environment as sshd does, so:
//   - node is given by absolute path (process.execPath);
//   - variables the ranks need are passed with `-x NAME=VALUE` (opts.env).

const { spawn } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

/** MCA parameters every multi-host test job gets (see NETNS.md / README.md). */
const BASE_MCA = [
  ['plm_rsh_agent', null], // filled in with the topology's agent
  ['oob_tcp_if_include', 'eth0'],
  ['btl_tcp_if_include', 'eth0'],
  ['mpi_yield_when_idle', '1'],
];

/**
 * The same keepalive parameters hvdrun adds for multi-host runs
 * (NETWORK_FAULT_TOLERANCE_DEFAULTS in src/launcher/hvdrun.ts): without them a
 * lost host is noticed only after about 490 s.
 */
const KEEPALIVE_MCA = [
  ['oob_tcp_keepalive_time', '5'],
  ['oob_tcp_keepalive_intvl', '2'],
  ['oob_tcp_keepalive_probes', '3'],
];

/** Quotes one word for a POSIX shell. */
function shq(s) {
  s = String(s);
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The mpirun argv (without timeout and agent) for a job.
 * @param {Topology} topo
 * @param {object} o  see runJob
 */
function mpirunArgv(topo, o) {
  const argv = ['mpirun', '--allow-run-as-root', '-np', String(o.np), '--hostfile', topo.hostfile];
  const mca = BASE_MCA.map(([k, v]) => [k, k === 'plm_rsh_agent' ? topo.agent : v]);
  if (o.keepalive !== false) mca.push(...KEEPALIVE_MCA);
  for (const [k, v] of Object.entries(o.mca || {})) {
    const i = mca.findIndex(([name]) => name === k);
    if (i >= 0) mca.splice(i, 1);
    if (v !== null) mca.push([k, String(v)]);
  }
  for (const [k, v] of mca) argv.push('--mca', k, v);
  argv.push('--bind-to', 'none', '--wdir', o.cwd || ROOT);
  if (o.tagOutput) argv.push('--tag-output');
  for (const [k, v] of Object.entries(o.env || {})) argv.push('-x', `${k}=${v}`);
  argv.push(...(o.mpiArgs || []));
  argv.push(...o.command);
  return argv;
}

/**
 * The argv for running the job through the project's launcher instead:
 * `node bin/hvdrun.js -np N (-H LIST | --hostfile F) --verbose --mpi-args "..." -- CMD`.
 * The keepalive parameters are NOT added here unless o.keepalive === true:
 * hvdrun adds them itself for multi-host runs, which is what such a job tests.
 */
function hvdrunArgv(topo, o) {
  const mpi = BASE_MCA.map(([k, v]) => ['--mca', k, k === 'plm_rsh_agent' ? topo.agent : v]).flat();
  if (o.keepalive === true) mpi.push(...KEEPALIVE_MCA.map(([k, v]) => ['--mca', k, v]).flat());
  for (const [k, v] of Object.entries(o.mca || {})) if (v !== null) mpi.push('--mca', k, String(v));
  mpi.push('--wdir', o.cwd || ROOT);
  if (o.tagOutput) mpi.push('--tag-output');
  for (const [k, v] of Object.entries(o.env || {})) mpi.push('-x', `${k}=${v}`);
  mpi.push(...(o.mpiArgs || []));
  const hosts = o.hostsArg ? ['-H', o.hostsArg] : ['--hostfile', topo.hostfile];
  return [
    process.execPath, path.join(ROOT, 'bin', 'hvdrun.js'),
    '-np', String(o.np), ...hosts, '--verbose',
    '--mpi-args', mpi.map(shq).join(' '),
    '--', ...o.command,
  ];
}

/**
 * Starts a job; returns a Job:
 *   child       the `timeout` process (its child is mpirun itself)
 *   out         stdout+stderr so far (string)
 *   lines       [{t, text}] every output line with the ms it arrived, since start
 *   startedAt   Date.now() at spawn
 *   done        Promise<{code, signal, ms, at, out}>; code 124/137 = timed out
 *   waitFor(re, ms)  resolves with the match once `out` matches re
 *   argv        the mpirun argv, for messages
 *
 * @param {Topology} topo
 * @param {object} o
 * @param {number} o.np              ranks
 * @param {string[]} o.command       e.g. [process.execPath, 'dist/mnist.js', '--json']
 * @param {number} [o.limit=120]     seconds before `timeout` SIGTERMs mpirun (SIGKILL 5 s later)
 * @param {object} [o.env]           NAME: value, exported to every rank with -x
 * @param {object} [o.mca]           extra/overriding MCA params (value null removes one)
 * @param {boolean} [o.keepalive=true] add the OOB keepalive params
 * @param {boolean} [o.tagOutput]    --tag-output ("[1,RANK]<stdout>:" prefixes)
 * @param {string[]} [o.mpiArgs]     more raw mpirun arguments
 * @param {string} [o.cwd]           --wdir for the ranks (default: the repo root)
 * @param {string} [o.launcher='mpirun']  'hvdrun' runs bin/hvdrun.js instead (see hvdrunArgv)
 * @param {string} [o.hostsArg]      with hvdrun: `-H` value (e.g. host1:2,host2:2) instead of --hostfile
 */
function runJob(topo, o) {
  if (!o || !o.np || !Array.isArray(o.command) || o.command.length === 0) throw new Error('runJob: np and command are required');
  if (!path.isAbsolute(o.command[0])) throw new Error(`runJob: the agent scrubs PATH, give ${o.command[0]} by absolute path`);
  const limit = o.limit || 120;
  const argv = o.launcher === 'hvdrun' ? hvdrunArgv(topo, o) : mpirunArgv(topo, o);
  const line = argv.map(shq).join(' ');
  const child = spawn('timeout', ['-k', '5', String(limit), topo.agent, topo.launcher.name, line], {
    env: { PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin', NSRSH_PREFIX: topo.prefix },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const job = { child, argv, out: '', lines: [], startedAt: Date.now() };
  let partial = { stdout: '', stderr: '' };
  const onData = (which) => (d) => {
    const s = d.toString();
    job.out += s;
    const t = Date.now() - job.startedAt;
    const parts = (partial[which] + s).split('\n');
    partial[which] = parts.pop();
    for (const text of parts) job.lines.push({ t, text });
  };
  child.stdout.on('data', onData('stdout'));
  child.stderr.on('data', onData('stderr'));
  job.done = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      const at = Date.now();
      for (const which of ['stdout', 'stderr']) if (partial[which]) job.lines.push({ t: at - job.startedAt, text: partial[which] });
      resolve({ code, signal, at, ms: at - job.startedAt, out: job.out });
    });
  });
  job.waitFor = async (re, ms = 60000) => {
    const until = Date.now() + ms;
    let exited = false;
    job.done.then(() => (exited = true));
    for (;;) {
      const m = job.out.match(re);
      if (m) return m;
      if (exited) throw new Error(`job exited before its output matched ${re}:\n${tail(job.out)}`);
      if (Date.now() > until) throw new Error(`no output matching ${re} within ${ms} ms:\n${tail(job.out)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return job;
}

/** Runs a job to completion; resolves {code, signal, ms, out, lines}. */
async function runJobToEnd(topo, o) {
  const job = runJob(topo, o);
  const r = await job.done;
  return { ...r, lines: job.lines, argv: job.argv };
}

/** The last n characters of a long output, for assertion messages. */
function tail(s, n = 4000) {
  return s.length > n ? `...${s.slice(-n)}` : s;
}

/** Lines a rank printed under --tag-output ("[1,R]<stdout>:text"), without the tag. */
function rankLines(out, rank) {
  const re = new RegExp(`^\\[\\d+,${rank}\\]<std(?:out|err)>:(.*)$`);
  return out
    .split('\n')
    .map((l) => l.match(re))
    .filter(Boolean)
    .map((m) => m[1]);
}

module.exports = { runJob, runJobToEnd, mpirunArgv, hvdrunArgv, shq, tail, rankLines, KEEPALIVE_MCA, ROOT };
