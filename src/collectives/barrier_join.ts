// barrier and join: collectives without data.
import { running } from '../basics';
import { KINDS } from '../codes';
import { resolveSet, type ProcessSet } from '../process_sets';
import { DType } from '../tensor';
import { autoName, nameOf, NameOptions } from './naming';
import { Call, callSite, submit, submitSync } from './submit';
import { checkOptions } from './validation';

/** Options for {@link join}. */
export interface JoinOptions {
  /** The process set whose ranks join. Defaults to the global set. */
  processSet?: ProcessSet;
}

function dataless<R>(kind: number, name: string, processSet: number, fn: string, result: Call<R>['result']): Call<R> {
  return {
    kind,
    fn,
    names: [name],
    options: { processSet },
    specs: [],
    items: () => [{ name, input: null, dtype: DType.uint8, shape: [] }],
    result,
  };
}

function barrierCall(options: unknown, fn: string): Call<void> {
  const opts = checkOptions(options, ['name'], fn);
  const processSet = resolveSet(opts.processSet, fn).id;
  return dataless(KINDS.barrier, nameOf(opts, 'barrier', fn), processSet, fn, () => undefined);
}

function joinCall(options: unknown, fn: string): Call<number> {
  const opts = checkOptions(options, [], fn);
  const ps = resolveSet(opts.processSet, fn);
  return dataless(KINDS.join, autoName('join', ps), ps.id, fn, (r) => r[0] as number);
}

/**
 * Resolves once every rank has called barrier.
 *
 * @example
 * await hvd.barrier();
 */
export function barrier(options?: NameOptions): Promise<void> {
  running();
  return submit(barrierCall(options, 'barrier'), callSite(barrier));
}

/**
 * Blocks until every rank has called barrierSync.
 *
 * @example
 * hvd.barrierSync();
 */
export function barrierSync(options?: NameOptions): void {
  running();
  submitSync(barrierCall(options, 'barrierSync'));
}

/**
 * Declares that this rank has run out of data. Until every rank has joined,
 * this rank keeps serving the others' allreduces with zeros, and their
 * averages are taken over the ranks that actually contributed (Horovod
 * divides by the full size, which biases the result). Allgathers get no rows
 * from joined ranks; a broadcast whose root has joined fails. Resolves to the
 * rank that joined last, the same on every rank.
 *
 * @example
 * for (const batch of myShard) await step(batch);   // ranks may run different numbers of steps
 * const last = await hvd.join();
 */
export function join(options?: JoinOptions): Promise<number> {
  running();
  return submit(joinCall(options, 'join'), callSite(join));
}

/**
 * Blocking form of {@link join}. The JS thread is blocked until every rank
 * joined, so use the Promise form when this rank must keep serving Promise
 * collectives from its own event loop.
 *
 * @example
 * const last = hvd.joinSync();
 */
export function joinSync(options?: JoinOptions): number {
  running();
  return submitSync(joinCall(options, 'joinSync'));
}
