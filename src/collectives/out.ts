// The `out` option: a collective writes its result into the caller's
// TypedArray, as mpi4py's receive buffers do, so a loop of collectives
// allocates nothing. Checked here before anything is submitted: the type
// must be the input's, and the length the result's where that is known at
// call time (allreduce, broadcast, reducescatter). allgather's and
// alltoall's result lengths are known only after negotiation: the engine
// checks those (AllocateResult in native/ops/registry.cc), still takes part
// in the collective so no other rank hangs or falls out of step, and fails
// only this rank's call with a RangeError naming options.out and the length
// the result has.
import { checkNotInPlaceTarget, isInPlaceTarget } from '../inputs';
import type { HvdTypedArray, TensorSpec } from '../tensor';

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'a plain Array';
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name}`;
  return typeof x === 'object' ? `an object (${(x as object).constructor?.name ?? 'Object'})` : `a ${typeof x}`;
}

/** Whether two views cover exactly the same bytes of one buffer. */
export function sameMemory(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.byteLength === b.byteLength;
}

export function overlap(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength && a.byteLength > 0 && b.byteLength > 0;
}

export interface OutCheck {
  /** Where the result goes. */
  out: HvdTypedArray;
  /** `out` is the input itself (allreduce and broadcast then run in place). */
  aliasesInput: boolean;
}

/**
 * Validates `options.out` for `spec`'s input. `length`: the result's element
 * count when known at call time. `mayAlias`: the op can run in place
 * (out covering exactly the input's memory); any other overlap with the
 * input is a TypeError.
 */
export function checkOut(
  value: unknown,
  spec: TensorSpec,
  fn: string,
  length: number | undefined,
  mayAlias: boolean,
  what = 'options.out',
): OutCheck | undefined {
  if (value === undefined) return undefined;
  if (spec.kind !== 'typed' || !spec.array) {
    throw new TypeError(`${fn}: ${what} needs a TypedArray input; pass the tensor's data (tensor.dataSync()) or drop out`);
  }
  const want = spec.ctor as unknown as { name: string; BYTES_PER_ELEMENT: number };
  if (!ArrayBuffer.isView(value) || (value as object).constructor !== (spec.ctor as unknown)) {
    throw new TypeError(`${fn}: ${what} must be a ${want.name} (the input's type); got ${describe(value)}`);
  }
  const out = value as HvdTypedArray;
  if (length !== undefined && out.length !== length) {
    throw new RangeError(`${fn}: ${what} has ${out.length} elements; the result has ${length}: pass a ${want.name} of ${length} elements`);
  }
  const aliasesInput = sameMemory(out, spec.array);
  if (overlap(out, spec.array) && !(aliasesInput && mayAlias)) {
    throw new TypeError(
      `${fn}: ${what} overlaps the input's memory; ` +
        (mayAlias ? 'pass the input itself (in place) or a separate array' : 'this collective reads its input while it writes the result: pass a separate array'),
    );
  }
  // Not the target of an in-place (or out) collective still in flight (the
  // message is built only then: this runs for every member of a group).
  if (!aliasesInput && isInPlaceTarget(out)) checkNotInPlaceTarget(out, `${fn}: ${what}`, true);
  return { out, aliasesInput };
}

/** Prefixes an engine RangeError about options.out with the function's name. */
export function namedOutError(e: Error, fn: string): Error {
  if (e instanceof RangeError && e.message.startsWith('options.out')) e.message = `${fn}: ${e.message}`;
  return e;
}
