// reducescatter and groupedReducescatter: reduce across ranks, keep this
// rank's share of the first dimension.
import { running } from '../basics';
import { KINDS } from '../codes';
import { resolveSet, type ProcessSet } from '../process_sets';
import { HvdTypedArray, inspect, TensorInput, toItem } from '../tensor';
import { groupCall } from './grouped';
import { nameOf } from './naming';
import { checkOut, OutCheck } from './out';
import { ReduceOp, ReductionOptions } from './reduce_op';
import { Call, callSite, engineResult, submit, submitSync } from './submit';
import { checkHasFirstDim, checkOptions, checkReducible, checkReduction, reductionOptions } from './validation';

/** Options for {@link reducescatter}. */
export interface ReducescatterOptions extends ReductionOptions {
  /** Defaults to `reducescatter.noname.<n>`. */
  name?: string;
  /**
   * Write this rank's share into this TypedArray (the input's type; this
   * rank's rows times the row length) and return it, allocating nothing.
   * Must not overlap the input.
   */
  out?: HvdTypedArray;
}

/** Options for {@link groupedReducescatter}. */
export interface GroupedReducescatterOptions {
  /** Defaults to `'average'`. */
  op?: ReduceOp;
  /** Group name; members are named `<name>.<i>`. Defaults to `groupedReducescatter.noname.<n>`. */
  name?: string;
  /** Defaults to 1. */
  prescaleFactor?: number;
  /** Defaults to 1. */
  postscaleFactor?: number;
  /** Run on this process set. Defaults to the global set. */
  processSet?: ProcessSet;
}

function reducescatterCall<T>(tensor: unknown, options: unknown, fn: string): Call<T> {
  const opts = checkOptions(options, ['op', 'name', 'prescaleFactor', 'postscaleFactor', 'shape', 'out'], fn);
  const spec = inspect(tensor, 'tensor', opts.shape);
  checkHasFirstDim(spec, `${fn}: tensor`, ' to scatter');
  const r = checkReduction(opts, fn);
  checkReducible(spec, r, 'tensor', fn);
  const ps = resolveSet(opts.processSet, fn);
  const processSet = ps.id;
  const name = nameOf(opts, 'reducescatter', fn);
  let oc: OutCheck | undefined;
  if (opts.out !== undefined) {
    // This rank's rows, as the engine splits them (reducescatter_op.cc).
    const dim0 = spec.shape[0];
    const n = ps.size();
    const me = ps.rank();
    const rowLen = spec.shape.slice(1).reduce((a, b) => a * b, 1);
    const rows = Math.floor(dim0 / n) + (me < dim0 % n ? 1 : 0);
    oc = checkOut(opts.out, spec, fn, me < 0 ? undefined : rows * rowLen, false);
  }
  return {
    kind: KINDS.reducescatter,
    fn,
    names: [name],
    options: reductionOptions(r, processSet),
    specs: [spec],
    outs: oc ? [oc.out] : undefined,
    items: (inputs) => [toItem(name, spec, inputs[0], oc?.out)],
    result: (res) => (oc ? (oc.out as unknown as T) : engineResult<T>(spec, res[0])),
  };
}

/**
 * Reduces `tensor` across ranks (as {@link allreduce}) and returns this
 * rank's share of the first dimension: `dim0 / size` rows, and one more on
 * the first `dim0 % size` ranks (Horovod's `reducescatter`).
 *
 * @example
 * const mine = await hvd.reducescatter(grads, { op: 'sum' });
 */
export function reducescatter<T extends TensorInput>(tensor: T, options?: ReducescatterOptions): Promise<T> {
  running();
  return submit(reducescatterCall<T>(tensor, options, 'reducescatter'), callSite(reducescatter));
}

/**
 * Blocking form of {@link reducescatter}.
 *
 * @example
 * const mine = hvd.reducescatterSync(new Float32Array(8), { op: 'sum' });
 */
export function reducescatterSync<T extends TensorInput>(tensor: T, options?: ReducescatterOptions): T {
  running();
  return submitSync(reducescatterCall<T>(tensor, options, 'reducescatterSync'));
}

/**
 * Reduce-scatters several tensors with one negotiation; each result is this
 * rank's share of that tensor's first dimension, in input order (Horovod's
 * `grouped_reducescatter`).
 *
 * @example
 * const [a, b] = await hvd.groupedReducescatter([gradA, gradB], { op: 'sum' });
 */
export function groupedReducescatter<T extends TensorInput>(tensors: T[], options?: GroupedReducescatterOptions): Promise<T[]> {
  running();
  const call = groupCall<T>(KINDS.reducescatter, 'groupedReducescatter', true, tensors, options, 'groupedReducescatter');
  return submit(call, callSite(groupedReducescatter));
}

/** Blocking form of {@link groupedReducescatter}. @example const [a] = hvd.groupedReducescatterSync([x], { op: 'sum' }); */
export function groupedReducescatterSync<T extends TensorInput>(tensors: T[], options?: GroupedReducescatterOptions): T[] {
  running();
  return submitSync(groupCall<T>(KINDS.reducescatter, 'groupedReducescatter', true, tensors, options, 'groupedReducescatterSync'));
}
