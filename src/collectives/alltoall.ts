// alltoall: rank i sends splits[j] first-dimension rows to rank j.
import { running } from '../basics';
import { KINDS } from '../codes';
import { NativeResult } from '../native';
import { resolveSet, type ProcessSet } from '../process_sets';
import { fromBuffer, HvdTypedArray, inspect, TensorInput, TensorSpec, toItem, wrap } from '../tensor';
import { nameOf } from './naming';
import { checkOut } from './out';
import { Call, callSite, submit, submitSync } from './submit';
import { checkHasFirstDim, checkOptions } from './validation';

/** Options for {@link alltoall}. */
export interface AlltoallOptions {
  /** Run on this process set (ranks and roots relative to it). Defaults to the global set. */
  processSet?: ProcessSet;
  /**
   * First-dimension rows this rank sends to each rank, in rank order (one
   * entry per rank, adding up to the first dimension). Defaults to an equal
   * split, which needs a first dimension divisible by the number of ranks.
   */
  splits?: ArrayLike<number>;
  /** Defaults to `alltoall.noname.<n>`. */
  name?: string;
  /** Row-major shape of a TypedArray input. Defaults to `[length]`. */
  shape?: number[];
  /**
   * Write the received rows into this TypedArray (the input's type; the
   * rows every rank sends here times the row length) and return it as
   * `output`, allocating nothing. The length is known only once every rank
   * submitted: a wrong one fails this rank's call with a RangeError naming
   * the right length, after the exchange ran on every rank (the others get
   * their results). Must not overlap the input.
   */
  out?: HvdTypedArray;
}

/** What {@link alltoall} returns. */
export interface AlltoallResult<T> {
  /** The rows every rank sent this rank, concatenated in rank order. */
  output: T;
  /** How many rows came from each rank, in rank order. */
  receivedSplits: Int32Array;
}

function checkSplits(value: unknown, spec: TensorSpec, n: number, fn: string): number[] {
  if (value === undefined) {
    if (spec.shape[0] % n !== 0) {
      throw new RangeError(
        `${fn}: the first dimension (${spec.shape[0]}) is not divisible by the number of ranks (${n}); pass options.splits to say how many rows go to each rank`,
      );
    }
    return new Array<number>(n).fill(spec.shape[0] / n);
  }
  const s = value as ArrayLike<unknown>;
  if (typeof s !== 'object' || s === null || typeof s.length !== 'number') {
    throw new TypeError(`${fn}: options.splits must be an array of non-negative integers`);
  }
  // Splits that do not add up are the engine's to report: every rank then
  // fails with the same HVD_MISMATCH.
  return Array.from(s, (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new RangeError(`${fn}: options.splits must hold non-negative integers; got ${String(v)}`);
    }
    return v;
  });
}

function exchanged<T>(spec: TensorSpec, r: NativeResult): AlltoallResult<T> {
  const res = r as { buffer: ArrayBuffer; shape: number[]; ints: Int32Array };
  return { output: wrap<T>(spec, fromBuffer(spec, res.buffer), res.shape), receivedSplits: res.ints };
}

function alltoallCall<T>(tensor: unknown, options: unknown, fn: string): Call<AlltoallResult<T>> {
  const opts = checkOptions(options, ['splits', 'name', 'shape', 'out'], fn);
  const spec = inspect(tensor, 'tensor', opts.shape);
  checkHasFirstDim(spec, `${fn}: tensor`, ' to split');
  const ps = resolveSet(opts.processSet, fn);
  const splits = checkSplits(opts.splits, spec, ps.size(), fn);
  const name = nameOf(opts, 'alltoall', fn);
  const oc = checkOut(opts.out, spec, fn, undefined, false);
  return {
    kind: KINDS.alltoall,
    fn,
    names: [name],
    options: { processSet: ps.id },
    specs: [spec],
    outs: oc ? [oc.out] : undefined,
    items: (inputs) => [{ ...toItem(name, spec, inputs[0], oc?.out), splits }],
    result: (r) =>
      oc ? { output: oc.out as unknown as T, receivedSplits: (r[0] as { ints: Int32Array }).ints } : exchanged<T>(spec, r[0]),
  };
}

/**
 * Sends `splits[j]` first-dimension rows of `tensor` to rank j and returns
 * the rows every rank sent here, in rank order (Horovod's `alltoall`).
 * Splits that do not add up to the first dimension, or a dtype or row
 * shape that differs between ranks, fail on every rank with `HVD_MISMATCH`.
 *
 * @example
 * const { output, receivedSplits } = await hvd.alltoall(rows, { splits: [1, 3] });
 */
export function alltoall<T extends TensorInput>(tensor: T, options?: AlltoallOptions): Promise<AlltoallResult<T>> {
  running();
  return submit(alltoallCall<T>(tensor, options, 'alltoall'), callSite(alltoall));
}

/**
 * Blocking form of {@link alltoall}.
 *
 * @example
 * const { output } = hvd.alltoallSync(new Float32Array(2 * hvd.size()));
 */
export function alltoallSync<T extends TensorInput>(tensor: T, options?: AlltoallOptions): AlltoallResult<T> {
  running();
  return submitSync(alltoallCall<T>(tensor, options, 'alltoallSync'));
}
