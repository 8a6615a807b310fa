// allgather and groupedAllgather: every rank's tensor, concatenated along
// the first dimension in rank order.
import { running } from '../basics';
import { KINDS } from '../codes';
import { checkNotInPlaceTarget } from '../inputs';
import { resolveSet, type ProcessSet } from '../process_sets';
import { HvdTypedArray, inspect, TensorInput, toItem } from '../tensor';
import { groupCall } from './grouped';
import { nameOf } from './naming';
import { checkOut } from './out';
import { Call, callSite, engineResult, submit, submitSync } from './submit';
import { checkHasFirstDim, checkOptions } from './validation';

/** Options for {@link allgather}. */
export interface AllgatherOptions {
  /** Run on this process set (ranks and roots relative to it). Defaults to the global set. */
  processSet?: ProcessSet;
  /** Defaults to `allgather.noname.<n>`. */
  name?: string;
  /** Row-major shape of a TypedArray input; the first dimension may differ per rank. Defaults to `[length]`. */
  shape?: number[];
  /**
   * Write the result into this TypedArray (the input's type; the sum of
   * every rank's length) and return it, allocating nothing. The length is
   * known only once every rank submitted: a wrong one fails this rank's call
   * with a RangeError naming the right length, after the collective ran on
   * every rank (the others get their results). Must not overlap the input.
   */
  out?: HvdTypedArray;
}

/** Options for {@link groupedAllgather}. */
export interface GroupedAllgatherOptions {
  /** Group name; members are named `<name>.<i>`. Defaults to `groupedAllgather.noname.<n>`. */
  name?: string;
  /** Run on this process set. Defaults to the global set. */
  processSet?: ProcessSet;
}

function allgatherCall<T>(tensor: unknown, options: unknown, fn: string): Call<T> {
  const opts = checkOptions(options, ['name', 'shape', 'out'], fn);
  const spec = inspect(tensor, `${fn}: tensor`, opts.shape);
  if (spec.array) checkNotInPlaceTarget(spec.array, fn, false);
  checkHasFirstDim(spec, `${fn}: tensor`, ' to concatenate along');
  const name = nameOf(opts, 'allgather', fn);
  const oc = checkOut(opts.out, spec, fn, undefined, false);
  return {
    kind: KINDS.allgather,
    fn,
    names: [name],
    options: { processSet: resolveSet(opts.processSet, fn).id },
    specs: [spec],
    outs: oc ? [oc.out] : undefined,
    items: (inputs) => [toItem(name, spec, inputs[0], oc?.out)],
    result: (r) => (oc ? (oc.out as unknown as T) : engineResult<T>(spec, r[0])),
  };
}

/**
 * Concatenates every rank's `tensor` along the first dimension, in rank
 * order. The first dimension may differ per rank; the rest must match.
 *
 * The input is read when the engine runs the collective, not when this is
 * called: a TypedArray input larger than 4 KiB must stay unchanged until the
 * Promise settles (smaller ones are copied at call time; set
 * HVD_CHECK_INPUTS=1 to have a change rejected). tfjs Tensors are immutable.
 *
 * @example
 * const all = await hvd.allgather(new Float32Array([hvd.rank()]));  // [0, 1, ..., size-1]
 */
export function allgather<T extends TensorInput>(tensor: T, options?: AllgatherOptions): Promise<T> {
  running();
  return submit(allgatherCall<T>(tensor, options, 'allgather'), callSite(allgather));
}

/**
 * Blocking form of {@link allgather}.
 *
 * @example
 * const all = hvd.allgatherSync(rows, { shape: [rows.length / 4, 4] });
 */
export function allgatherSync<T extends TensorInput>(tensor: T, options?: AllgatherOptions): T {
  running();
  return submitSync(allgatherCall<T>(tensor, options, 'allgatherSync'));
}

/**
 * Allgathers several tensors with one negotiation; results in input order
 * (Horovod's `grouped_allgather`).
 *
 * @example
 * const [ids, rows] = await hvd.groupedAllgather([myIds, myRows]);
 */
export function groupedAllgather<T extends TensorInput>(tensors: T[], options?: GroupedAllgatherOptions): Promise<T[]> {
  running();
  const call = groupCall<T>(KINDS.allgather, 'groupedAllgather', false, tensors, options, 'groupedAllgather');
  return submit(call, callSite(groupedAllgather));
}

/** Blocking form of {@link groupedAllgather}. @example const [a, b] = hvd.groupedAllgatherSync([x, y]); */
export function groupedAllgatherSync<T extends TensorInput>(tensors: T[], options?: GroupedAllgatherOptions): T[] {
  running();
  return submitSync(groupCall<T>(KINDS.allgather, 'groupedAllgather', false, tensors, options, 'groupedAllgatherSync'));
}
