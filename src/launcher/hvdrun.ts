/**
 * `hvdrun`: launches a data-parallel job under OpenMPI's `mpirun`, in the
 * manner of Horovod's `horovodrun`.
 *
 * ```sh
 * npx hvdrun -np 4 -H host1:2,host2:2 -- node train.js --epochs 3
 * ```
 *
 * The functions here are pure where possible ({@link parseArgs},
 * {@link buildMpirunCommand}, {@link formatCheckBuild}) so that they can be
 * tested without MPI; {@link main} does the I/O.
 *
 * @packageDocumentation
 */

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { BuildInfo } from '../build_info';
import {
  HostSlots,
  formatHostsArg,
  isLocalHost,
  parseHostsArg,
  readHostfile,
  totalSlots,
  writeTempHostfile,
} from './hostfile';

/** Options of one `hvdrun` invocation, as produced by {@link parseArgs}. */
export interface HvdrunOptions {
  /** Number of processes (`-np`, `-n`, `--num-proc`). Required to run. */
  numProc?: number;
  /** Hosts from `-H` / `--hosts`. Mutually exclusive with {@link hostfile}. */
  hosts?: HostSlots[];
  /** Path given with `--hostfile`, or the temporary file main() wrote. */
  hostfile?: string;
  /**
   * Hosts listed in {@link hostfile}, once main() has read it. When absent,
   * {@link buildMpirunCommand} reads the file itself to count its slots.
   */
  hostfileHosts?: HostSlots[];
  /** Print the mpirun command line to stderr before running it. */
  verbose: boolean;
  /** `-h` / `--help`: print usage and exit. */
  help: boolean;
  /** `--check-build`: print what this build of hvd supports and exit. */
  checkBuild: boolean;
  /** `--tcp`: restrict MPI's byte transfer layers to TCP (`--mca btl tcp,self`). */
  tcp: boolean;
  /** Extra raw mpirun arguments from `--mpi-args`, split shell-style. */
  mpiArgs: string[];
  /**
   * Environment variables set by flags such as `--fusion-threshold-mb`; they
   * are added to mpirun's environment and exported to every rank with `-x`.
   */
  env: Record<string, string>;
  /** The command each rank runs, e.g. `['node', 'train.js']`. */
  command: string[];
}

/** One MCA parameter that hvdrun sets by default, and the reason. */
export interface McaDefault {
  /** MCA parameter name, passed as `--mca <param> <value>`. */
  readonly param: string;
  /** Its value. */
  readonly value: string;
  /** Why hvdrun sets it (one sentence, for the documentation). */
  readonly why: string;
}

/**
 * MCA parameters hvdrun adds for network fault tolerance and for
 * oversubscribed runs. A parameter the user sets already (with `--mca` in
 * `--mpi-args`, or with an `OMPI_MCA_<param>` environment variable) is left
 * out, so the user's value always wins.
 */
export const NETWORK_FAULT_TOLERANCE_DEFAULTS: {
  /** Added only for multi-host runs (`-H` or `--hostfile` given). */
  readonly multiHost: readonly McaDefault[];
  /** Added only when there are more ranks than local CPUs or slots. */
  readonly oversubscribed: readonly McaDefault[];
} = {
  multiHost: [
    {
      // OpenMPI's default is 300 s of silence before the first probe, so a
      // host that vanishes (power loss, cable pulled, VM pre-empted) leaves
      // the job hanging for many minutes; start probing after 5 s idle.
      param: 'oob_tcp_keepalive_time',
      value: '5',
      why: 'start TCP keepalive probes on the runtime (ORTE) connections after 5 s idle instead of 300 s, so a lost host is noticed quickly',
    },
    {
      // Default 20 s between unanswered probes; 2 s keeps detection fast.
      param: 'oob_tcp_keepalive_intvl',
      value: '2',
      why: 'send unanswered keepalive probes every 2 s instead of every 20 s',
    },
    {
      // Default 9 probes; with 3, a dead peer is declared after ~5+3*2 = 11 s
      // and mpirun aborts the job instead of hanging.
      param: 'oob_tcp_keepalive_probes',
      value: '3',
      why: 'declare a peer dead after 3 missed probes (about 11 s in all) so mpirun aborts the job rather than hanging',
    },
  ],
  oversubscribed: [
    {
      // With more ranks than cores, busy-polling ranks steal the CPU from the
      // very rank they are waiting for; yielding keeps progress fair.
      param: 'mpi_yield_when_idle',
      value: '1',
      why: 'let ranks that wait in MPI yield the CPU, since busy-polling ranks would otherwise starve the ranks they wait for when there are more ranks than cores',
    },
  ],
};

/** Log levels accepted by `--log-level` (HOROVOD_LOG_LEVEL). */
export const LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warning', 'error', 'fatal'];

/** Environment variables forwarded to the ranks (with `-x`) when set. */
export const FORWARDED_ENV_VARS: readonly string[] = ['PATH', 'LD_LIBRARY_PATH', 'NODE_PATH'];

/** Name prefixes of environment variables always forwarded to the ranks. */
export const FORWARDED_ENV_PREFIXES: readonly string[] = ['HOROVOD_', 'HVD_'];

/** The `hvdrun --help` text. */
export const USAGE = `usage: hvdrun -np N [-H host1:slots,host2:slots | --hostfile FILE] [options] [--] command [args...]
       hvdrun --check-build

Launch a Horovod-style data-parallel job under OpenMPI's mpirun.

required:
  -np, -n, --num-proc N       number of processes (ranks) to start

hosts (default: this machine, one slot per CPU):
  -H, --hosts LIST            comma-separated host:slots list, e.g. host1:2,host2:2
  --hostfile FILE             hostfile, lines "host slots=N" or "host:N" (# comments)

launcher:
  --verbose                   print the mpirun command line to stderr before running it
  --check-build               show the frameworks, controllers and tensor operations
                              this build supports, then exit
  --start-timeout SECONDS     time allowed for all ranks to start (HVD_START_TIMEOUT)
  --mpi-args "ARGS"           extra arguments for mpirun, split shell-style
  --tcp                       use TCP only for MPI transfers (--mca btl tcp,self)
  -h, --help                  show this help and exit

tuning (exported to every rank):
  --fusion-threshold-mb N     tensor fusion buffer size in MiB (HOROVOD_FUSION_THRESHOLD)
  --cycle-time-ms MS          background cycle time in ms (HOROVOD_CYCLE_TIME)
  --cache-capacity N          response cache capacity (HOROVOD_CACHE_CAPACITY)
  --timeline-filename FILE    write a Horovod timeline to FILE (HOROVOD_TIMELINE)
  --no-stall-check            disable the stall check (HOROVOD_STALL_CHECK_DISABLE=1)
  --stall-check-warning-time-seconds S
                              warn when a rank stalls for S seconds
                              (HOROVOD_STALL_CHECK_TIME_SECONDS)
  --stall-check-shutdown-time-seconds S
                              abort when a rank stalls for S seconds
                              (HOROVOD_STALL_SHUTDOWN_TIME_SECONDS)
  --log-level LEVEL           ${LOG_LEVELS.join(', ')} (HOROVOD_LOG_LEVEL)

Everything after "--" (or from the first argument that is not an option) is
the command each rank runs. Environment variables named HOROVOD_* or HVD_*,
and PATH, LD_LIBRARY_PATH and NODE_PATH, are forwarded to every rank.`;

/** Error thrown by {@link parseArgs}; its message ends with the usage text. */
export class UsageError extends Error {
  /** The problem alone, without the usage text. */
  readonly problem: string;
  constructor(problem: string) {
    super(`${problem}\n\n${USAGE}`);
    this.name = 'UsageError';
    this.problem = problem;
  }
}

type ValueKind = 'posint' | 'nonneg' | 'posnum' | 'string';

/** Options taking a value that becomes an environment variable for the ranks. */
const ENV_FLAGS: Record<string, { env: string; kind: ValueKind; scale?: number }> = {
  '--start-timeout': { env: 'HVD_START_TIMEOUT', kind: 'posnum' },
  '--timeline-filename': { env: 'HOROVOD_TIMELINE', kind: 'string' },
  '--fusion-threshold-mb': { env: 'HOROVOD_FUSION_THRESHOLD', kind: 'nonneg', scale: 1024 * 1024 },
  '--cycle-time-ms': { env: 'HOROVOD_CYCLE_TIME', kind: 'posnum' },
  '--cache-capacity': { env: 'HOROVOD_CACHE_CAPACITY', kind: 'nonneg' },
  '--stall-check-warning-time-seconds': { env: 'HOROVOD_STALL_CHECK_TIME_SECONDS', kind: 'nonneg' },
  '--stall-check-shutdown-time-seconds': { env: 'HOROVOD_STALL_SHUTDOWN_TIME_SECONDS', kind: 'nonneg' },
  '--log-level': { env: 'HOROVOD_LOG_LEVEL', kind: 'string' },
};

const NUM_PROC_FLAGS = new Set(['-np', '-n', '--num-proc', '--np']);
const VALUE_FLAGS = new Set<string>([
  ...NUM_PROC_FLAGS,
  '-H',
  '--hosts',
  '--hostfile',
  '--mpi-args',
  ...Object.keys(ENV_FLAGS),
]);

function parseNumber(flag: string, text: string, kind: ValueKind): number {
  const n = Number(text);
  const ok =
    text.trim() !== '' &&
    Number.isFinite(n) &&
    (kind === 'posint' ? Number.isSafeInteger(n) && n >= 1 : kind === 'posnum' ? n > 0 : n >= 0);
  if (!ok) {
    const what = kind === 'posint' ? 'a positive integer' : kind === 'posnum' ? 'a positive number' : 'a non-negative number';
    throw new UsageError(`${flag} needs ${what}, got "${text}"`);
  }
  return n;
}

/**
 * Parses the launcher's command line (without `node` and the script name).
 *
 * Option values may be given as the next argument or, for long options, as
 * `--option=value`. Everything after `--`, or from the first argument that
 * does not start with `-`, is the command.
 *
 * @param argv - e.g. `['-np', '2', '--', 'node', 'train.js']`.
 * @returns the parsed options. With `-h` or `--check-build` the other
 *   requirements are not checked.
 * @throws UsageError (an Error whose message includes the usage text) on
 *   bad input: an unknown option, a missing or malformed value, `-H`
 *   together with `--hostfile`, or a missing `-np` or command.
 */
export function parseArgs(argv: string[]): HvdrunOptions {
  const opts: HvdrunOptions = {
    verbose: false,
    help: false,
    checkBuild: false,
    tcp: false,
    mpiArgs: [],
    env: {},
    command: [],
  };
  let hostsGiven = false;
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i];
    if (arg === '--') {
      opts.command = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      opts.command = argv.slice(i);
      break;
    }
    let flag = arg;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq !== -1) {
      flag = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    }
    i += 1;
    if (VALUE_FLAGS.has(flag)) {
      if (value === undefined) {
        if (i >= argv.length) throw new UsageError(`${flag} needs a value`);
        value = argv[i];
        i += 1;
      }
    } else if (value !== undefined) {
      throw new UsageError(`${flag} does not take a value`);
    }

    if (NUM_PROC_FLAGS.has(flag)) {
      opts.numProc = parseNumber(flag, value as string, 'posint');
    } else if (flag === '-H' || flag === '--hosts') {
      if (hostsGiven || opts.hostfile !== undefined) {
        throw new UsageError('give -H/--hosts or --hostfile once, not both');
      }
      try {
        opts.hosts = parseHostsArg(value as string);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      hostsGiven = true;
    } else if (flag === '--hostfile') {
      if (hostsGiven || opts.hostfile !== undefined) {
        throw new UsageError('give -H/--hosts or --hostfile once, not both');
      }
      if (value === '') throw new UsageError('--hostfile needs a file name');
      opts.hostfile = value;
    } else if (flag === '--mpi-args') {
      try {
        opts.mpiArgs.push(...shellSplit(value as string));
      } catch (err) {
        throw new UsageError(`--mpi-args: ${(err as Error).message}`);
      }
    } else if (flag in ENV_FLAGS) {
      const spec = ENV_FLAGS[flag];
      const text = value as string;
      if (spec.kind === 'string') {
        if (text === '') throw new UsageError(`${flag} needs a non-empty value`);
        if (flag === '--log-level') {
          const lvl = text.toLowerCase() === 'warn' ? 'warning' : text.toLowerCase();
          if (!LOG_LEVELS.includes(lvl)) {
            throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}; got "${text}"`);
          }
          opts.env[spec.env] = lvl.toUpperCase();
        } else {
          opts.env[spec.env] = text;
        }
      } else {
        const n = parseNumber(flag, text, spec.kind);
        opts.env[spec.env] = spec.scale ? String(Math.floor(n * spec.scale)) : String(n);
      }
    } else if (flag === '--no-stall-check') {
      opts.env.HOROVOD_STALL_CHECK_DISABLE = '1';
    } else if (flag === '--verbose') {
      opts.verbose = true;
    } else if (flag === '-h' || flag === '--help') {
      opts.help = true;
    } else if (flag === '--check-build' || flag === '-cb') {
      opts.checkBuild = true;
    } else if (flag === '--tcp') {
      opts.tcp = true;
    } else {
      throw new UsageError(`unrecognized option ${flag}`);
    }
  }

  if (opts.help || opts.checkBuild) return opts;
  if (opts.numProc === undefined) throw new UsageError('-np N is required');
  if (opts.command.length === 0) throw new UsageError('no command given (put it after --)');
  return opts;
}

/**
 * Splits a string into words the way a POSIX shell would, without any
 * expansion: whitespace separates words, `'...'` is literal, `"..."` allows
 * `\"`, `\\`, `` \` `` and `\$` escapes, and a backslash outside quotes
 * escapes the next character.
 *
 * @throws Error on an unterminated quote or a trailing backslash.
 */
export function shellSplit(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i += 1;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw new Error('unterminated single quote');
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i += 1;
      let closed = false;
      while (i < text.length) {
        const d = text[i];
        if (d === '"') {
          closed = true;
          i += 1;
          break;
        }
        if (d === '\\' && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1])) {
          if (text[i + 1] !== '\n') word += text[i + 1];
          i += 2;
        } else {
          word += d;
          i += 1;
        }
      }
      if (!closed) throw new Error('unterminated double quote');
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new Error('trailing backslash');
      if (text[i + 1] !== '\n') {
        word += text[i + 1];
        inWord = true;
      }
      i += 2;
    } else {
      word += c;
      inWord = true;
      i += 1;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Quotes one argument for a POSIX shell; safe words are left bare.
 */
export function shellQuote(arg: string): string {
  if (arg === '') return "''";
  if (/^[A-Za-z0-9_\/.,:=@%+-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Number of CPUs on this machine, as Node reports it. */
export function localCpuCount(): number {
  const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, n);
}

/** True when running as root (uid 0); always false where uids do not exist. */
export function isRootUser(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * The environment mpirun runs with: `base` plus the variables set by
 * launcher flags ({@link HvdrunOptions.env}), which take precedence.
 */
export function buildChildEnv(opts: HvdrunOptions, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...base, ...opts.env };
}

/**
 * Names of the environment variables exported to the ranks with `-x`:
 * {@link FORWARDED_ENV_VARS} that are set, then every variable starting with
 * one of {@link FORWARDED_ENV_PREFIXES}, sorted.
 */
export function forwardedEnvNames(env: NodeJS.ProcessEnv): string[] {
  const fixed = FORWARDED_ENV_VARS.filter((name) => env[name] !== undefined);
  const prefixed = Object.keys(env)
    .filter((name) => env[name] !== undefined && FORWARDED_ENV_PREFIXES.some((p) => name.startsWith(p)))
    .filter((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    .sort();
  return [...fixed, ...prefixed];
}

/** True when `args` (raw mpirun arguments) set the MCA parameter `param`. */
function setsMca(args: readonly string[], param: string): boolean {
  for (let i = 0; i + 1 < args.length; i++) {
    if (/^--?g?mca$/.test(args[i]) && args[i + 1] === param) return true;
  }
  return false;
}

/** True when `args` contain the option `name` (as `-name` or `--name`). */
function hasOption(args: readonly string[], name: string): boolean {
  return args.some((a) => a === `-${name}` || a === `--${name}` || a.startsWith(`--${name}=`));
}

/**
 * Builds the argv of the mpirun command for `opts`.
 *
 * The result is, in order: `mpirun`, `--allow-run-as-root` (when `isRoot`),
 * `-np N`, `-H host:slots,...` or `--hostfile F` (when given), `--bind-to
 * none --map-by slot` (unless `--mpi-args` sets them), `--oversubscribe`
 * (when N exceeds the total slots; without hosts the slots are the local
 * CPUs), the {@link NETWORK_FAULT_TOLERANCE_DEFAULTS} that apply, `--mca btl
 * tcp,self` (with `--tcp`), `-x NAME` for each of
 * {@link forwardedEnvNames}, the `--mpi-args`, and finally the command.
 *
 * @param opts - parsed options; `numProc` and `command` must be set.
 * @param env - the environment mpirun will see (before the variables in
 *   `opts.env`, which are merged in here as well).
 * @param isRoot - whether the launcher runs as root.
 * @param localCpus - CPUs on this machine; defaults to {@link localCpuCount}.
 * @throws Error when `numProc` or `command` is missing, or a hostfile
 *   named in `opts` cannot be read.
 */
export function buildMpirunCommand(
  opts: HvdrunOptions,
  env: NodeJS.ProcessEnv,
  isRoot: boolean,
  localCpus: number = localCpuCount(),
): string[] {
  if (opts.numProc === undefined) throw new Error('buildMpirunCommand: numProc is not set');
  if (opts.command.length === 0) throw new Error('buildMpirunCommand: command is empty');
  const np = opts.numProc;
  const childEnv = buildChildEnv(opts, env);
  const args: string[] = ['mpirun'];
  if (isRoot) args.push('--allow-run-as-root');
  args.push('-np', String(np));

  let hosts: HostSlots[] | undefined;
  if (opts.hosts) {
    hosts = opts.hosts;
    args.push('-H', formatHostsArg(hosts));
  } else if (opts.hostfile !== undefined) {
    hosts = opts.hostfileHosts ?? readHostfile(opts.hostfile).hosts;
    args.push('--hostfile', opts.hostfile);
  }

  if (!hasOption(opts.mpiArgs, 'bind-to')) args.push('--bind-to', 'none');
  if (!hasOption(opts.mpiArgs, 'map-by')) args.push('--map-by', 'slot');

  const slots = hosts ? totalSlots(hosts) : localCpus;
  const oversubscribed = np > slots;
  if (oversubscribed && !hasOption(opts.mpiArgs, 'oversubscribe')) args.push('--oversubscribe');

  const mca: McaDefault[] = [];
  // Multi-host runs: detect dead hosts within seconds instead of minutes.
  if (hosts) mca.push(...NETWORK_FAULT_TOLERANCE_DEFAULTS.multiHost);
  // More ranks than cores (on this machine, or than the slots offered):
  // waiting ranks must yield the CPU.
  const allLocal = !hosts || hosts.every((h) => isLocalHost(h.host));
  if (oversubscribed || (allLocal && np > localCpus)) {
    mca.push(...NETWORK_FAULT_TOLERANCE_DEFAULTS.oversubscribed);
  }
  for (const m of mca) {
    if (setsMca(opts.mpiArgs, m.param) || childEnv[`OMPI_MCA_${m.param}`] !== undefined) continue;
    args.push('--mca', m.param, m.value);
  }

  if (opts.tcp && !setsMca(opts.mpiArgs, 'btl')) args.push('--mca', 'btl', 'tcp,self');

  for (const name of forwardedEnvNames(childEnv)) args.push('-x', name);
  args.push(...opts.mpiArgs);
  args.push(...opts.command);
  return args;
}

/** Message printed when `mpirun` cannot be found. */
export const MPIRUN_NOT_FOUND_MESSAGE = `hvdrun: error: \`mpirun\` was not found on PATH: OpenMPI is missing.
hvdrun: install it with:  apt-get install -y openmpi-bin libopenmpi-dev
hvdrun: (or run \`npm test\`, which installs it), then run hvdrun again.`;

/** Signals hvdrun forwards to mpirun; receiving one makes hvdrun exit 128+signo. */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The executable `name` resolves to on `PATH` (as execvp would find it), or undefined. */
export function findOnPath(name: string, envPath: string | undefined): string | undefined {
  if (name.includes('/')) return name;
  for (const dir of (envPath ?? '').split(':')) {
    const candidate = path.join(dir || '.', name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

const setprivChecked = new Map<string, boolean>();

/**
 * The `setpriv` to start mpirun with when `setpriv --pdeathsig` works with
 * this PATH (util-linux 2.33 or later; Debian and Ubuntu always ship it),
 * else undefined. Checked once per binary by running it.
 */
export function pdeathsigWrapper(envPath: string | undefined): string | undefined {
  const setpriv = findOnPath('setpriv', envPath);
  if (setpriv === undefined) return undefined;
  if (!setprivChecked.has(setpriv)) {
    const r = spawnSync(setpriv, ['--pdeathsig', 'TERM', '--', '/bin/sh', '-c', 'exit 0'], { stdio: 'ignore', timeout: 10000 });
    setprivChecked.set(setpriv, r.status === 0);
  }
  return setprivChecked.get(setpriv) ? setpriv : undefined;
}

// Fallback when setpriv is missing: a small process that holds the read end
// of a pipe from hvdrun. The pipe closes only when hvdrun is gone (however it
// died, SIGKILL included); the watchdog then ends mpirun with SIGTERM (mpirun
// takes its ranks down), and SIGKILL after a grace period. It ignores the
// terminal's SIGINT: hvdrun forwards that itself.
const WATCHDOG = `
const pid = Number(process.argv[1]);
const grace = Number(process.argv[2]);
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
process.stdin.on('data', () => {});
process.stdin.on('close', () => {
  if (!alive()) process.exit(0);
  try { process.kill(pid, 'SIGTERM'); } catch {}
  const t0 = Date.now();
  setInterval(() => {
    if (!alive()) process.exit(0);
    if (Date.now() - t0 > grace) { try { process.kill(pid, 'SIGKILL'); } catch {} process.exit(0); }
  }, 100);
});
`;

/** How hvdrun ties mpirun's life to its own: see {@link runMpirun}. */
export type Lifeline = 'pdeathsig' | 'watchdog';

/**
 * Runs `args` (argv[0] is the program) with `env`, forwarding SIGINT,
 * SIGTERM and SIGHUP received by this process to it.
 *
 * mpirun never outlives hvdrun, whatever ends hvdrun (SIGKILL included):
 * with `lifeline` 'pdeathsig' (the default where `setpriv --pdeathsig`
 * works) mpirun is started through `setpriv --pdeathsig TERM`, so the kernel
 * sends it SIGTERM the moment hvdrun dies, and mpirun takes its ranks down;
 * with 'watchdog' a small watchdog process does the same when the pipe it
 * holds from hvdrun closes.
 *
 * @returns its exit code; 128+signo when hvdrun received one of
 *   {@link FORWARDED_SIGNALS} (130 for SIGINT, 143 for SIGTERM) or mpirun was
 *   killed by a signal; 127 when the program was not found, 126 when it could
 *   not be executed.
 */
export function runMpirun(args: string[], env: NodeJS.ProcessEnv, lifeline?: Lifeline): Promise<number> {
  const setpriv = lifeline === 'watchdog' ? undefined : pdeathsigWrapper(env.PATH);
  const mode: Lifeline = setpriv !== undefined ? 'pdeathsig' : 'watchdog';
  return new Promise<number>((resolve) => {
    let settled = false;
    let received: NodeJS.Signals | undefined;
    // Looked up first, so that a missing mpirun is reported as such, not as setpriv's failure.
    if (findOnPath(args[0], env.PATH) === undefined) {
      process.stderr.write(`${args[0] === 'mpirun' ? MPIRUN_NOT_FOUND_MESSAGE : `hvdrun: error: ${args[0]} was not found on PATH`}\n`);
      resolve(127);
      return;
    }
    const argv = mode === 'pdeathsig' ? [setpriv as string, '--pdeathsig', 'TERM', '--', ...args] : args;
    const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env });
    let watchdog: ReturnType<typeof spawn> | undefined;
    if (mode === 'watchdog' && child.pid !== undefined) {
      watchdog = spawn(process.execPath, ['-e', WATCHDOG, String(child.pid), '10000'], { stdio: ['pipe', 'ignore', 'ignore'] });
      watchdog.on('error', () => {});
      // Neither the watchdog nor its pipe may keep hvdrun's event loop alive.
      watchdog.unref();
      (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    }
    const onSignal = (sig: NodeJS.Signals): void => {
      received = sig;
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    for (const sig of FORWARDED_SIGNALS) process.on(sig, onSignal);
    const finish = (code: number): void => {
      if (settled) return;
      settled = true;
      // mpirun is gone: the watchdog must not act on a pid that may be reused.
      watchdog?.kill('SIGKILL');
      for (const sig of FORWARDED_SIGNALS) process.removeListener(sig, onSignal);
      resolve(received !== undefined ? 128 + (os.constants.signals[received] ?? 0) : code);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        process.stderr.write(`${MPIRUN_NOT_FOUND_MESSAGE}\n`);
        finish(127);
      } else {
        process.stderr.write(`hvdrun: error: cannot run ${args[0]}: ${err.message}\n`);
        finish(err.code === 'EACCES' ? 126 : 1);
      }
    });
    child.on('exit', (code, signal) => {
      if (code !== null) finish(code);
      else if (signal !== null) finish(128 + (os.constants.signals[signal] ?? 0));
      else finish(1);
    });
  });
}

/** tfjs packages whose presence `--check-build` reports. */
export const TFJS_PACKAGES: readonly string[] = [
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
  '@tensorflow/tfjs-backend-wasm',
];

/** Where `--check-build` looks for tfjs packages: the working directory (the application), then hvd itself. */
function tfjsSearchPaths(cwd: string = process.cwd()): string[] {
  return [cwd, __dirname];
}

/** The tfjs packages in {@link TFJS_PACKAGES} that can be resolved from here or the working directory. */
export function detectTfjsPackages(cwd?: string): string[] {
  return TFJS_PACKAGES.filter((name) => {
    try {
      require.resolve(name, { paths: tfjsSearchPaths(cwd) });
      return true;
    } catch {
      return false;
    }
  });
}

/** What `--check-build` found by trying things in short child processes. */
export interface BuildProbes {
  /** The thread level MPI granted to a probe process that ran `hvd.init()`, or why it could not tell. */
  mpiThreadLevel?: { level: string } | { error: string };
  /** Whether @tensorflow/tfjs-node loads, and its versions. */
  tfjsNode?: { status: 'not installed' } | { status: 'loads'; version: string; tensorflow: string } | { status: 'fails'; error: string };
}

const PROBE_TIMEOUT_MS = 60000;

function firstLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== '' && !/^\s*at /.test(l)) ?? ''
  );
}

function probeProcess(code: string, env: NodeJS.ProcessEnv, cwd: string): { json?: Record<string, unknown>; error?: string } {
  const r = spawnSync(process.execPath, ['-e', code], { env, cwd, encoding: 'utf8', timeout: PROBE_TIMEOUT_MS });
  if (r.error) return { error: r.error.message };
  const m = /^HVD_PROBE (.*)$/m.exec(r.stdout ?? '');
  if (m) {
    try {
      return { json: JSON.parse(m[1]) as Record<string, unknown> };
    } catch {
      /* fall through */
    }
  }
  if (r.signal) return { error: `the probe process was killed by ${r.signal}${r.signal === 'SIGTERM' ? ` (timeout ${PROBE_TIMEOUT_MS / 1000} s)` : ''}` };
  return { error: firstLine(r.stderr ?? '') || `the probe process exited ${r.status}` };
}

/**
 * Asks MPI which thread level it grants: a child process runs `hvd.init()`
 * as a world of one (MPI_Init_thread with the level hvd requests, honouring
 * HOROVOD_MPI_THREADS_DISABLE) and reports `buildInfo().mpiThreadLevel`.
 * The child gets no OMPI_/PMIX_ variables, so it never joins a running job.
 */
export function probeMpiThreadLevel(indexPath: string, env: NodeJS.ProcessEnv = process.env): BuildProbes['mpiThreadLevel'] {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!/^(OMPI_(?!ALLOW_RUN_AS_ROOT)|PMIX_|PMI_|ORTE_)/.test(k)) clean[k] = v;
  clean.OMPI_ALLOW_RUN_AS_ROOT = '1';
  clean.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = '1';
  const code = `const hvd = require(${JSON.stringify(indexPath)}); hvd.init(); const level = hvd.buildInfo().mpiThreadLevel; hvd.shutdown(); console.log('HVD_PROBE ' + JSON.stringify({ level }));`;
  const r = probeProcess(code, clean, process.cwd());
  if (r.json && typeof r.json.level === 'string') return { level: r.json.level };
  return { error: r.error ?? 'no thread level reported' };
}

/**
 * Tries to load @tensorflow/tfjs-node (as the application in `cwd` would
 * find it) in a child process, so that a crash or a missing libtensorflow
 * cannot take hvdrun down, and reports its version and TensorFlow's.
 */
export function probeTfjsNode(cwd: string = process.cwd()): BuildProbes['tfjsNode'] {
  let resolved: string;
  try {
    resolved = require.resolve('@tensorflow/tfjs-node', { paths: tfjsSearchPaths(cwd) });
  } catch {
    return { status: 'not installed' };
  }
  const code = `
    let tf;
    try { tf = require(${JSON.stringify(resolved)}); } catch (e) {
      const msg = String(e && e.message !== undefined ? e.name + ': ' + e.message : e).split('\\n')[0];
      console.log('HVD_PROBE ' + JSON.stringify({ error: msg }));
      process.exit(0);
    }
    let tensorflow = 'unknown';
    try { tensorflow = String(tf.backend().binding.TF_Version); } catch {}
    const version = (tf.version && (tf.version['tfjs-node'] || tf.version.tfjs)) || 'unknown';
    console.log('HVD_PROBE ' + JSON.stringify({ version: String(version), tensorflow }));`;
  const r = probeProcess(code, process.env, cwd);
  if (r.json && typeof r.json.error === 'string') return { status: 'fails', error: r.json.error };
  if (r.json) return { status: 'loads', version: String(r.json.version), tensorflow: String(r.json.tensorflow) };
  return { status: 'fails', error: r.error ?? 'unknown error' };
}

/**
 * Formats the `--check-build` report.
 *
 * @param info - from `buildInfo()`.
 * @param frameworks - detected tfjs package names (may be empty).
 * @param probes - what the probe processes found; without them the thread
 *   level is `info.mpiThreadLevel` (known only after `hvd.init()`).
 */
export function formatCheckBuild(info: BuildInfo, frameworks: readonly string[], probes: BuildProbes = {}): string {
  const box = (on: boolean): string => (on ? '[X]' : '[ ]');
  const tfjs = frameworks.length > 0 ? `TensorFlow.js (${frameworks.join(', ')})` : 'TensorFlow.js (no @tensorflow/tfjs package found)';
  const nccl = info.ncclBuilt && !info.ncclAvailable ? 'NCCL (built, but libnccl was not found at run time)' : info.ncclBuilt ? 'NCCL' : 'NCCL (not built into this release)';
  const mpiLib = info.mpiLibraryVersion.replace(/\0/g, '').split(/\r?\n/)[0].trim() || info.mpiVendor;
  let thread: string;
  const t = probes.mpiThreadLevel;
  if (info.mpiThreadLevel) thread = info.mpiThreadLevel;
  else if (t && 'level' in t) thread = t.level;
  else if (t) thread = `unknown (MPI_Init in a probe process failed: ${t.error})`;
  else thread = 'not initialized (reported after hvd.init())';
  const lines = [
    `hvd v${info.version}:`,
    '',
    'Available frameworks:',
    `    ${box(frameworks.length > 0)} ${tfjs}`,
  ];
  const n = probes.tfjsNode;
  if (n) {
    if (n.status === 'loads') lines.push(`    [X] tfjs-node: loads (tfjs-node ${n.version}, TensorFlow ${n.tensorflow})`);
    else if (n.status === 'fails') lines.push(`    [ ] tfjs-node: installed but does not load: ${n.error}`);
    else lines.push('    [ ] tfjs-node: not installed');
  }
  lines.push(
    '',
    'Available controllers:',
    `    ${box(true)} MPI`,
    '',
    'Available tensor operations:',
    `    ${box(info.ncclBuilt && info.ncclAvailable)} ${nccl}`,
    `    ${box(true)} MPI`,
    '',
    `MPI library: ${mpiLib}`,
    `MPI thread level: ${thread}`,
    `Addon: ${info.addonPath}`,
    '',
  );
  return lines.join('\n');
}

/** Prints the `--check-build` report; returns the exit code. */
function checkBuild(): number {
  let info: BuildInfo;
  const indexPath = path.join(__dirname, '..', 'index');
  try {
    // Loaded lazily: the package entry point loads the native addon, which
    // the rest of the launcher does not need.
    const hvd = require(indexPath) as { buildInfo?: () => BuildInfo };
    if (typeof hvd.buildInfo !== 'function') throw new Error('this hvd build has no buildInfo()');
    info = hvd.buildInfo();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`hvdrun: error: cannot load the hvd native addon: ${msg}\n`);
    process.stderr.write('hvdrun: build it with `npm run build` (needs OpenMPI: apt-get install -y openmpi-bin libopenmpi-dev)\n');
    return 1;
  }
  const probes: BuildProbes = { mpiThreadLevel: probeMpiThreadLevel(indexPath), tfjsNode: probeTfjsNode() };
  process.stdout.write(formatCheckBuild(info, detectTfjsPackages(), probes));
  return 0;
}

/**
 * Runs the launcher: parses `argv`, prints help or the build report, or
 * builds and runs the mpirun command and waits for it.
 *
 * @param argv - the arguments after the script name (`process.argv.slice(2)`).
 * @returns the exit code: mpirun's own, 128+signo if mpirun was killed by a
 *   signal, 127 if mpirun is not installed, 2 on a usage error, 1 on other
 *   errors.
 */
export async function main(argv: string[]): Promise<number> {
  let opts: HvdrunOptions;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`hvdrun: error: ${err.problem}\n\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (opts.checkBuild) return checkBuild();

  let cleanup: (() => void) | undefined;
  try {
    if (opts.hostfile !== undefined) {
      const parsed = readHostfile(opts.hostfile);
      opts = { ...opts, hostfileHosts: parsed.hosts };
      if (!parsed.openMpiCompatible) {
        // OpenMPI cannot read "host:N" lines; hand it an equivalent file.
        const tmp = writeTempHostfile(parsed.hosts);
        cleanup = tmp.cleanup;
        opts.hostfile = tmp.path;
      }
    }
    // Ranks write to mpirun's pipes, so they cannot see that the user has a
    // terminal; tell them (the MNIST example then draws progress bars).
    if (process.stdout.isTTY && process.env.HVD_PROGRESS === undefined && opts.env.HVD_PROGRESS === undefined) {
      opts.env.HVD_PROGRESS = '1';
    }
    const env = buildChildEnv(opts, process.env);
    const args = buildMpirunCommand(opts, process.env, isRootUser());
    if (opts.verbose) {
      const flagEnv = Object.keys(opts.env);
      if (flagEnv.length > 0) {
        process.stderr.write(`hvdrun: environment: ${flagEnv.map((k) => shellQuote(`${k}=${opts.env[k]}`)).join(' ')}\n`);
      }
      process.stderr.write(`hvdrun: ${args.map(shellQuote).join(' ')}\n`);
    }
    return await runMpirun(args, env);
  } catch (err) {
    process.stderr.write(`hvdrun: error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    cleanup?.();
  }
}
