'use strict';
// What the scripts under scripts/ (and the benchmark workers under bench/)
// share: finding programs, running as root under Open MPI, the environment a
// fresh mpirun gets, a process runner that never leaves orphans, and
// command-line parsing on node:util.parseArgs.
//
// Node built-ins only: scripts/setup.js and scripts/install.js load this file
// before node_modules exists (it ships in the package with them).

const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');
const util = require('util');

// ---------------------------------------------------------------------------
// programs and privileges
// ---------------------------------------------------------------------------

function isExecutable(p) {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of an executable found on PATH (or the path itself when it has a '/'), or null. */
function which(name, envPath = process.env.PATH || '') {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (isExecutable(p)) return p;
  }
  return null;
}

/** True when this process runs as root (uid 0); false where uids do not exist. */
function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * The environment for a new mpirun (or an MPI program started alone): `base`
 * without the variables of an MPI job this process may itself run in (a
 * script started by a rank would otherwise join that job), with Open MPI's
 * run-as-root consent when running as root, then `extra`.
 */
function mpiEnv(base = process.env, extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(base)) {
    if (!/^(OMPI_COMM_WORLD_|OMPI_MCA_orte_|PMIX_|PMI_)/.test(k)) env[k] = v;
  }
  if (isRoot()) {
    env.OMPI_ALLOW_RUN_AS_ROOT = '1';
    env.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = '1';
  }
  return { ...env, ...extra };
}

/** argv as one line a POSIX shell would run as it is (safe words bare, others single-quoted). */
function quoteArgv(argv) {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${String(a).replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Last `n` lines of `text`. */
function tailLines(text, n) {
  return String(text).trimEnd().split('\n').slice(-n).join('\n');
}

/** A `log(msg)` that prefixes every line it prints with `tag`. */
function makeLog(tag) {
  return (msg) => console.log(`${tag} ${msg}`);
}

// ---------------------------------------------------------------------------
// process runner
// ---------------------------------------------------------------------------

/** pids of every descendant of pid (Linux /proc; [] elsewhere). */
function descendants(pid) {
  const children = new Map();
  let entries = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(e));
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    for (const c of children.get(stack.pop()) || []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

/**
 * Signals a child's process group and every process it started (some leave
 * the group: ranks orphaned by a dying mpirun, daemons that call setsid).
 * `known` collects the pids seen so far, so that a later SIGKILL reaches
 * those already re-parented away from the tree.
 */
function killTree(pid, signal, known = new Set()) {
  for (const p of descendants(pid)) known.add(p);
  try {
    process.kill(-pid, signal);
  } catch {
    /* group gone */
  }
  for (const p of [pid, ...known]) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
}

const running = new Set(); // { child, known } of every runProcess child still alive
let interrupted = null; // the signal that stopped this process, if any

/** The signal (SIGINT, SIGTERM, SIGHUP) that interrupted this process, or null. */
function interruptedBy() {
  return interrupted;
}

let handlersInstalled = false;
function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // On SIGINT/SIGTERM/SIGHUP: TERM every running child's tree, KILL what is
  // left after 3 s, exit 128+signo after 5 s at the latest (sooner when the
  // caller finishes first). The children run in their own process groups, so
  // the terminal's Ctrl-C reaches them only through here.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      const code = 128 + (require('os').constants.signals[sig] || 0);
      if (interrupted) return;
      interrupted = sig;
      if (!running.size) process.exit(code);
      console.error(`\n${sig}: stopping ${running.size} running process${running.size === 1 ? '' : 'es'}`);
      for (const { child, known } of running) killTree(child.pid, 'SIGTERM', known);
      setTimeout(() => {
        for (const { child, known } of running) killTree(child.pid, 'SIGKILL', known);
      }, 3000).unref();
      setTimeout(() => process.exit(code), 5000).unref();
    });
  }
  // Whatever else ends this process (an uncaught error, process.exit): no
  // child outlives it.
  process.on('exit', () => {
    for (const { child, known } of running) killTree(child.pid, 'SIGKILL', known);
  });
}

/**
 * Runs argv in its own process group, with a hard timeout after which the
 * whole tree gets SIGTERM and, `graceS` later, SIGKILL. Whatever ends the
 * child (its exit, a signal, the timeout), processes it left behind in its
 * group are killed too; when this process is interrupted or exits, so is
 * every child still running.
 *
 * @param {string[]} argv program and arguments
 * @param {object} [o]
 * @param {NodeJS.ProcessEnv} [o.env] default process.env
 * @param {string} [o.cwd] default the repository root
 * @param {number} [o.timeoutS] default 600
 * @param {number} [o.graceS] seconds between SIGTERM and SIGKILL on timeout (default 10)
 * @param {'inherit'|'pipe'} [o.stdio] 'pipe' collects stdout and stderr (default 'inherit')
 * @param {(msg: string) => void} [o.onTimeout] told when the timeout fires
 * @returns {Promise<{code: number|null, signal: string|null, timedOut: boolean, error: Error|null,
 *   seconds: number, stdout: string, stderr: string}>}
 */
function runProcess(argv, o = {}) {
  installHandlers();
  const { env = process.env, cwd = path.resolve(__dirname, '..', '..'), timeoutS = 600, graceS = 10, stdio = 'inherit', onTimeout } = o;
  return new Promise((resolve) => {
    const t0 = Date.now();
    const result = (extra) => ({ code: null, signal: null, timedOut: false, error: null, seconds: (Date.now() - t0) / 1000, stdout: '', stderr: '', ...extra });
    if (interrupted) {
      resolve(result({ error: new Error(`not started: interrupted by ${interrupted}`) }));
      return;
    }
    let child;
    try {
      child = childProcess.spawn(argv[0], argv.slice(1), {
        cwd,
        env,
        detached: true,
        stdio: stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : 'inherit',
      });
    } catch (error) {
      resolve(result({ error }));
      return;
    }
    const entry = { child, known: new Set() };
    running.add(entry);
    let stdout = '';
    let stderr = '';
    if (stdio === 'pipe') {
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
    }
    let timedOut = false;
    let killTimer = null;
    const timer = setTimeout(() => {
      timedOut = true;
      if (onTimeout) onTimeout(`still running after ${timeoutS}s; killing process group ${child.pid}`);
      killTree(child.pid, 'SIGTERM', entry.known);
      killTimer = setTimeout(() => killTree(child.pid, 'SIGKILL', entry.known), graceS * 1000);
    }, timeoutS * 1000);
    let error = null;
    let exited = null; // [code, signal] once the child itself has exited
    let settled = false;
    const settle = () => {
      if (settled || !exited) return;
      settled = true;
      clearTimeout(closeTimer);
      setImmediate(() => resolve(result({ code: exited[0], signal: exited[1], timedOut, error, stdout, stderr })));
    };
    let closeTimer = null;
    child.on('error', (e) => {
      error = e;
      if (child.pid === undefined) {
        running.delete(entry);
        clearTimeout(timer);
        exited = [null, null];
        settle();
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      // Stragglers (ranks orphaned by a dying mpirun) go in any case.
      killTree(child.pid, 'SIGKILL', entry.known);
      running.delete(entry);
      exited = [code, signal];
      // Piped output is complete at 'close'; a straggler that escaped the
      // group could hold the pipes open, so wait for it 2 s at most.
      if (stdio !== 'pipe') settle();
      else closeTimer = setTimeout(settle, 2000);
    });
    child.on('close', () => settle());
  });
}

/** The JSON objects among the lines of `text` (workers print their results as JSON lines). */
function jsonLines(text) {
  const rows = [];
  for (const line of String(text).split('\n')) {
    const s = line.trim();
    if (!s.startsWith('{')) continue;
    try {
      rows.push(JSON.parse(s));
    } catch {
      /* not a result */
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------
// mpirun
// ---------------------------------------------------------------------------

/**
 * The argv of an mpirun that starts `command` on `np` local ranks, built by
 * the launcher's own buildMpirunCommand (src/launcher/hvdrun.ts, so the test
 * and bench runs start ranks exactly as `hvdrun` does: --bind-to none
 * --map-by slot, --oversubscribe and mpi_yield_when_idle past the local
 * CPUs, --allow-run-as-root as root, -x for PATH, LD_LIBRARY_PATH, NODE_PATH,
 * HVD_* and HOROVOD_*). Needs the compiled launcher (npm run build).
 *
 * @param {number} np ranks
 * @param {string[]} command what each rank runs
 * @param {object} [o]
 * @param {NodeJS.ProcessEnv} [o.env] the environment mpirun will run with (default process.env)
 * @param {boolean} [o.tcp] MPI transfers over TCP only (hvdrun --tcp)
 * @param {string[]} [o.exportEnv] more variables to export to the ranks with -x (those set in env),
 *   or NAME=VALUE to set one for the ranks only
 * @param {string[]} [o.mpiArgs] raw mpirun arguments (hvdrun --mpi-args)
 */
function mpirunCommand(np, command, o = {}) {
  const env = o.env || process.env;
  const launcher = path.resolve(__dirname, '..', '..', 'dist', 'launcher', 'hvdrun.js');
  if (!fs.existsSync(launcher)) throw new Error(`${path.relative(process.cwd(), launcher)} is not built (npm run build)`);
  const { buildMpirunCommand } = require(launcher);
  const mpiArgs = [];
  for (const name of o.exportEnv || []) {
    if (name.includes('=') || env[name] !== undefined) mpiArgs.push('-x', name);
  }
  mpiArgs.push(...(o.mpiArgs || []));
  const opts = { numProc: np, command, mpiArgs, env: {}, tcp: Boolean(o.tcp), verbose: false, help: false, checkBuild: false };
  return buildMpirunCommand(opts, env, isRoot());
}

// ---------------------------------------------------------------------------
// command lines
// ---------------------------------------------------------------------------

/** A bad command line; its message names the argument. Scripts print it with their usage and exit 2. */
class UsageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * node:util.parseArgs in strict mode, with its errors turned into one-line
 * UsageErrors that name the argument ("unknown argument: --bogus", "--only
 * needs a value", "--quick does not take a value").
 *
 * @param {string[]} args the arguments (process.argv.slice(2))
 * @param {object} options parseArgs options ({ name: { type, short, multiple, default } })
 * @param {object} [o]
 * @param {boolean} [o.rest] arguments after `--` are returned as `rest` (otherwise refused)
 * @param {boolean} [o.positionals] plain arguments before `--` are allowed (returned as `positionals`)
 * @returns {{ values: object, positionals: string[], rest: string[] }}
 */
function parseCommandLine(args, options, o = {}) {
  let parsed;
  try {
    parsed = util.parseArgs({ args, options, strict: true, allowPositionals: true, tokens: true });
  } catch (e) {
    const name = (/'(?:-\w, )?(--?[^' ]+)/.exec(e.message) || [])[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown argument: ${name || e.message}`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name) {
      if (/does not take an argument/.test(e.message)) throw new UsageError(`${name} does not take a value`);
      if (/argument missing/.test(e.message)) throw new UsageError(`${name} needs a value`);
      if (/ambiguous/.test(e.message)) throw new UsageError(`${name} needs a value (write ${name}=VALUE for a value starting with '-')`);
    }
    throw new UsageError(e.message);
  }
  const positionals = [];
  const rest = [];
  let afterTerminator = false;
  for (const t of parsed.tokens) {
    if (t.kind === 'option-terminator') afterTerminator = true;
    else if (t.kind === 'positional') (afterTerminator ? rest : positionals).push(t.value);
  }
  if (positionals.length && !o.positionals) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  if (rest.length && !o.rest) throw new UsageError(`unexpected argument after --: ${rest[0]}`);
  return { values: parsed.values, positionals, rest };
}

/**
 * A number option's value: `text` parsed as a number that `check` accepts,
 * else a UsageError naming the option and what it needs.
 */
function numberOption(flag, text, check = (n) => n > 0, what = 'a positive number') {
  const n = Number(text);
  if (String(text).trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`--${flag} needs ${what}, got "${text}"`);
  return n;
}

/** The values of a repeatable, comma-separated option, each one checked against `allowed`. */
function listOption(flag, values, allowed) {
  const out = [];
  for (const v of values || []) out.push(...String(v).split(',').map((s) => s.trim()).filter(Boolean));
  for (const v of out) {
    if (allowed && !allowed.includes(v)) throw new UsageError(`--${flag}: unknown value "${v}" (use ${allowed.join('|')})`);
  }
  return out;
}

module.exports = {
  which,
  isExecutable,
  isRoot,
  mpiEnv,
  quoteArgv,
  tailLines,
  makeLog,
  descendants,
  killTree,
  runProcess,
  interruptedBy,
  jsonLines,
  mpirunCommand,
  UsageError,
  parseCommandLine,
  numberOption,
  listOption,
};
