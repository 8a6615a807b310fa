// Process-level API: joining the job, leaving it, and where this process
// sits in it. Horovod's names, in camelCase.
import { loadNative, NativeBinding, NativeTopology, EngineStats } from './native';
import { inspect } from 'util';
import { fromNative, notInitialized, shutDown } from './errors';

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
  try {
    b.init();
  } catch (e) {
    throw fromNative(e);
  }
  native = b;
  topo = b.topology();
  state = 'running';
  if (topo.size > 1) process.on('uncaughtExceptionMonitor', reportFatal);
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
