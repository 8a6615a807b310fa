// broadcast: root's tensor on every rank.
import { running } from '../basics';
import { KINDS } from '../codes';
import { checkNotInPlaceTarget } from '../inputs';
import { resolveSet, type ProcessSet } from '../process_sets';
import { HvdTypedArray, inspect, TensorInput, toItem, wrap } from '../tensor';
import { outputArray } from './buffers';
import { checkOut } from './out';
import { nameOf } from './naming';
import { Call, callSite, submit, submitSync } from './submit';
import { checkOptions, checkRoot } from './validation';

/** Options for {@link broadcast}. */
export interface BroadcastOptions {
  /** Run on this process set (ranks and roots relative to it). Defaults to the global set. */
  processSet?: ProcessSet;
  /** Defaults to `broadcast.noname.<n>`. */
  name?: string;
  /** Row-major shape of a TypedArray input. Defaults to `[length]`. */
  shape?: number[];
  /**
   * Write root's value into this TypedArray (the input's type and length)
   * and return it, allocating nothing. The input itself broadcasts in place
   * (Horovod's `broadcast_`). TypedArray inputs only; with the Promise form
   * it belongs to the engine until the Promise settles.
   */
  out?: HvdTypedArray;
}

function broadcastCall<T>(tensor: unknown, rootRank: unknown, options: unknown, fn: string): Call<T> {
  const opts = checkOptions(options, ['name', 'shape', 'out'], fn);
  const spec = inspect(tensor, `${fn}: tensor`, opts.shape);
  if (spec.array) checkNotInPlaceTarget(spec.array, fn, false);
  const ps = resolveSet(opts.processSet, fn);
  const root = checkRoot(rootRank, fn, ps);
  const name = nameOf(opts, 'broadcast', fn);
  const oc = checkOut(opts.out, spec, fn, spec.array?.length, true);
  let out: HvdTypedArray;
  return {
    kind: KINDS.broadcast,
    fn,
    names: [name],
    options: { root, processSet: ps.id },
    specs: [spec],
    verifyInputs: ps.rank() === root && !oc?.aliasesInput, // other ranks' contents are ignored
    inPlace: oc?.aliasesInput,
    outs: oc && !oc.aliasesInput ? [oc.out] : undefined,
    items: (inputs) => {
      out = oc ? oc.out : outputArray(spec.ctor, inputs[0].length);
      return [toItem(name, spec, inputs[0], out)];
    },
    result: () => wrap<T>(spec, out, spec.shape),
  };
}

/**
 * Returns root's `tensor` on every rank. Every rank passes a tensor of the
 * same shape and type (non-root contents are ignored).
 *
 * The input is read when the engine runs the collective, not when this is
 * called: a TypedArray input larger than 4 KiB must stay unchanged until the
 * Promise settles (smaller ones are copied at call time; set
 * HVD_CHECK_INPUTS=1 to have a change rejected). tfjs Tensors are immutable.
 *
 * @example
 * const w = await hvd.broadcast(weights, 0, { name: 'init/w' });
 */
export function broadcast<T extends TensorInput>(tensor: T, rootRank: number, options?: BroadcastOptions): Promise<T> {
  running();
  return submit(broadcastCall<T>(tensor, rootRank, options, 'broadcast'), callSite(broadcast));
}

/**
 * Blocking form of {@link broadcast}.
 *
 * @example
 * const w = hvd.broadcastSync(weights, 0);
 */
export function broadcastSync<T extends TensorInput>(tensor: T, rootRank: number, options?: BroadcastOptions): T {
  running();
  return submitSync(broadcastCall<T>(tensor, rootRank, options, 'broadcastSync'));
}
