// Process-level API: joining the job, leaving it, and where this process
// sits in it. Horovod's names, in camelCase.
import { loadNative, NativeBinding, NativeTopology, EngineStats } from './native';
import { inspect } from 'util';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fromNative, HorovodError, notInitialized, shutDown } from './errors';

type State = 'new' | 'running' | 'shut';
let state: State = 'new';
let topo: NativeTopology | undefined;
let native: NativeBinding | undefined;

/**
 * Joins the job: under mpirun (or hvdrun) this connects to the other ranks;
 * run plainly, the process is a world of size 1. Idempotent.
 *
 * @throws HorovodError `HVD_SHUT_DOWN` after {@link shutdown}: MPI cannot restart.
 * @example
 * import * as hvd from 'hvd';
 * hvd.init();
 * console.log(`rank ${hvd.rank()} of ${hvd.size()}`);
 */
export function init(): void {
  if (state === 'running') return;
  if (state === 'shut') throw shutDown();
  const b = loadNative();
  const timeoutS = startTimeoutSeconds();
  const marker = markArrival();
  try {
    b.init(timeoutS * 1000);
  } catch (e) {
    const err = fromNative(e);
    if ((err as HorovodError).code === 'HVD_START_TIMEOUT') throw startTimeoutError(timeoutS, marker);
    throw err;
  }
  native = b;
  topo = b.topology();
  state = 'running';
  // Every rank has arrived (MPI_Init waits for all), so nobody needs the markers.
  removeMarker(marker);
  if (topo.size > 1) process.on('uncaughtExceptionMonitor', reportFatal);
  process.on('exit', leaveAtExit);
}

/**
 * The process is exiting (process.exit(), the end of the script, or an
 * uncaught exception) while hvd is running: leave the job cleanly, as
 * {@link shutdown} would. Without this, process.exit() skipped MPI_Finalize
 * (Node runs no environment cleanup hooks on process.exit), so mpirun
 * reported the rank as "exited improperly" and exited 1 even at -np 1.
 * The other ranks' collectives that need this rank fail with HVD_SHUT_DOWN
 * naming it, and MPI is finalized once every rank has shut down. A process
 * exiting with a non-zero code (a crash) waits for the others at most
 * HVD_EXIT_TIMEOUT_SECONDS (default 10) and then ends without finalizing.
 */
function leaveAtExit(code: number): void {
  if (state !== 'running' || !native) return;
  state = 'shut';
  const v = Number(process.env.HVD_EXIT_TIMEOUT_SECONDS);
  const limitS = Number.isFinite(v) && v >= 0 ? v : 10;
  try {
    if (code === 0) native.shutdown();
    else native.shutdown(Math.round(limitS * 1000), code);
  } catch {
    /* exiting anyway */
  }
}

/** HVD_START_TIMEOUT in seconds (default 120): how long init() waits for every rank. */
function startTimeoutSeconds(): number {
  const v = Number(process.env.HVD_START_TIMEOUT);
  return Number.isFinite(v) && v > 0 ? v : 120;
}

interface ArrivalMarker {
  dir: string;
  rank: number;
  size: number;
}

/**
 * MPI_Init cannot say who is missing, so before joining, each rank leaves a
 * marker in a per-job folder; a rank that times out lists the ranks without
 * one (ranks on other hosts are invisible from here and are said to be).
 */
function markArrival(): ArrivalMarker | null {
  const env = process.env;
  const rank = Number(env.OMPI_COMM_WORLD_RANK ?? env.PMI_RANK ?? env.PMIX_RANK);
  const size = Number(env.OMPI_COMM_WORLD_SIZE ?? env.PMI_SIZE);
  const job = env.OMPI_MCA_ess_base_jobid ?? env.PMIX_NAMESPACE ?? env.PMI_JOBID;
  if (!Number.isInteger(rank) || !Number.isInteger(size) || !job) return null;
  const dir = path.join(os.tmpdir(), `hvd-start-${String(job).replace(/[^A-Za-z0-9_.-]/g, '_')}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `rank-${rank}`), `${os.hostname()} ${process.pid}\n`);
  } catch {
    return null;
  }
  return { dir, rank, size };
}

function removeMarker(marker: ArrivalMarker | null): void {
  if (!marker) return;
  try {
    fs.rmSync(path.join(marker.dir, `rank-${marker.rank}`), { force: true });
    fs.rmdirSync(marker.dir); // the last rank to get here removes the folder
  } catch {
    /* other ranks' markers are still there */
  }
}

function startTimeoutError(seconds: number, marker: ArrivalMarker | null): HorovodError {
  let who = '';
  if (marker) {
    let seen: Set<number>;
    try {
      seen = new Set(fs.readdirSync(marker.dir).map((f) => Number(f.replace('rank-', ''))));
    } catch {
      seen = new Set();
    }
    const missing = [...Array(marker.size).keys()].filter((r) => !seen.has(r));
    who = missing.length
      ? ` Ranks that have not reached hvd.init() on this host (${os.hostname()}): ${missing.join(', ')} (ranks on other hosts are not visible from here and may be among them).`
      : ' Every rank on this host reached hvd.init(); the missing ranks run on other hosts.';
  }
  return new HorovodError(
    `hvd.init() gave up after ${seconds} s (HVD_START_TIMEOUT) waiting for all ranks to call hvd.init().${who} ` +
      'A rank that crashed, is stuck or is slow before hvd.init() (loading data, out of memory, a different script) holds everyone up: check its output (mpirun --tag-output). Calling hvd.init() again keeps waiting.',
    'HVD_START_TIMEOUT',
  );
}

/**
 * An uncaught exception on this rank is reported to every rank before the
 * process dies, so their pending collectives fail at once with this rank's
 * error instead of waiting (or printing a generic "shut down").
 */
function reportFatal(err: unknown, origin: string): void {
  if (state !== 'running' || !native || !topo) return;
  const e = err instanceof Error ? err : new Error(String(err));
  const firstFrame = (e.stack ?? '').split('\n').find((l) => /^\s+at /.test(l))?.trim() ?? '(no stack)';
  const kind = origin === 'unhandledRejection' ? 'an unhandled rejection' : 'an uncaught exception';
  // Print the full error first: once the peers learn of it they fail and
  // exit, and the launcher may kill this process before Node reports it.
  try {
    process.stderr.write(`[hvd rank ${topo.rank}] ${kind}: ${inspect(e)}\n`);
  } catch {
    /* stderr gone */
  }
  const reason = `rank ${topo.rank} failed with ${kind}: ${e.name}: ${e.message} (${firstFrame}). The other ranks' collectives were cancelled; this rank's output has the full stack.`;
  try {
    native.abort(reason);
  } catch {
    /* the process is dying anyway */
  }
}

/**
 * Leaves the job: collectives still pending fail with `HVD_SHUT_DOWN`, and
 * MPI is finalized once every rank has shut down (so this blocks until the
 * others call it too, or exit). Idempotent; a no-op before {@link init}.
 * A process that exits without calling it is shut down by an exit hook.
 *
 * @example
 * hvd.shutdown();
 */
export function shutdown(): void {
  if (state !== 'running') return;
  state = 'shut';
  try {
    native!.shutdown();
  } catch (e) {
    throw fromNative(e);
  }
}

/** True between {@link init} and {@link shutdown}. @example if (!hvd.isInitialized()) hvd.init(); */
export function isInitialized(): boolean {
  return state === 'running';
}

/** The native binding, or the reason it cannot be used now. @internal */
export function running(): NativeBinding {
  if (state === 'running') return native!;
  throw state === 'new' ? notInitialized() : shutDown();
}

function topology(): NativeTopology {
  if (state === 'new') throw notInitialized();
  return topo!;
}

/** Number of ranks in the job. @example const n = hvd.size(); */
export function size(): number {
  return topology().size;
}
/** This process's rank, 0 … size()-1. @example if (hvd.rank() === 0) console.log('leader'); */
export function rank(): number {
  return topology().rank;
}
/** Rank among the processes on this host. @example const gpu = hvd.localRank(); */
export function localRank(): number {
  return topology().localRank;
}
/** Number of processes on this host. @example hvd.localSize(); */
export function localSize(): number {
  return topology().localSize;
}
/** Index of this host among hosts (rank among processes with the same local rank). @example hvd.crossRank(); */
export function crossRank(): number {
  return topology().crossRank;
}
/** Number of hosts (processes with the same local rank). @example hvd.crossSize(); */
export function crossSize(): number {
  return topology().crossSize;
}
/** True when every host runs the same number of processes. @example hvd.isHomogeneous(); */
export function isHomogeneous(): boolean {
  return topology().isHomogeneous;
}
/** True when MPI granted MPI_THREAD_MULTIPLE. @example hvd.mpiThreadsSupported(); */
export function mpiThreadsSupported(): boolean {
  return topology().mpiThreadsSupported;
}
/** The MPI thread level granted at init, or null before init. @internal */
export function mpiThreadLevel(): NativeTopology['mpiThreadLevel'] | null {
  return topo ? topo.mpiThreadLevel : null;
}

/**
 * Engine counters (responses, fused responses, fusion-buffer copy bytes,
 * allreduce payload bytes, negotiation rounds). They only grow; take
 * differences around the code you measure.
 *
 * @example
 * const before = hvd.engineStats().allreduceBytes;
 * hvd.allreduceSync(x);
 * console.log(hvd.engineStats().allreduceBytes - before);
 */
export function engineStats(): EngineStats {
  return running().stats();
}
