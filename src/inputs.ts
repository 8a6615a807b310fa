// When a Promise collective reads its input, and who may write it meanwhile.
//
// A Promise collective hands the engine the caller's memory; the engine reads
// it when the collective runs (after negotiation with the other ranks), not
// when the call returns. The contract, stated in the README and on each
// Promise form: a TypedArray input must stay unchanged until the Promise
// settles. Two things make breaking it hard:
//  - inputs of up to CALL_TIME_COPY_MAX_BYTES are copied at call time, so the
//    common small case (a metric or counter staging array refilled in a loop)
//    is correct anyway. bench/input_copy.js measured the copy at 0.5-3 us for
//    256 B-4 KiB against 40-75 us for the cheapest Promise allreduce (under
//    8%); at 64 KiB it is 30-40% and at 1-16 MiB 12-150%, so larger inputs
//    are not copied.
//  - HVD_CHECK_INPUTS=1 snapshots every uncopied input and rejects the
//    Promise when the input changed before it settled.
// An `inPlace` target is written by the engine, so while one is in flight no
// other collective may read or write any byte of it: that is checked always.
import { HorovodError } from './errors';
import type { HvdTypedArray, TensorSpec } from './tensor';

/** Inputs up to this many bytes are copied when a Promise collective is called. */
export const CALL_TIME_COPY_MAX_BYTES = 4096;

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function checkEnabled(): boolean {
  return process.env.HVD_CHECK_INPUTS === '1';
}

/**
 * What a Promise collective gives the engine for `data` (the input read from
 * `spec`), and a check to run once the collective succeeded: a copy for
 * small TypedArrays; the array itself otherwise, plus (with
 * HVD_CHECK_INPUTS=1) a verifier that throws when it changed in flight.
 * tfjs Tensors are immutable and are passed as they are.
 */
export function callTimeInput(
  spec: TensorSpec,
  data: HvdTypedArray,
  fn: string,
  name: string,
): { input: HvdTypedArray; verify?: () => void } {
  if (spec.kind !== 'typed') return { input: data };
  if (data.byteLength <= CALL_TIME_COPY_MAX_BYTES) return { input: data.slice() as HvdTypedArray };
  if (!checkEnabled()) return { input: data };
  const snapshot = Buffer.from(bytesOf(data));
  return {
    input: data,
    verify: () => {
      if (snapshot.equals(bytesOf(data))) return;
      throw new HorovodError(
        `${fn} '${name}': its input (a ${data.constructor.name} of ${data.length} elements) was modified before the Promise settled. ` +
          'A Promise collective reads its input when the engine runs it, not when it is called, so the result may hold the new values: ' +
          'leave the input unchanged until the Promise settles (await it before refilling the array), pass a copy, or use the Sync form. ' +
          '(Checked because HVD_CHECK_INPUTS=1.)',
        'HVD_INVALID_ARGUMENT',
      );
    },
  };
}

interface Target {
  start: number;
  end: number;
  fn: string;
  name: string;
}

// In-flight in-place targets by the ArrayBuffer they live in.
const targets = new Map<ArrayBufferLike, Target[]>();

function overlapping(a: ArrayBufferView): Target | undefined {
  if (targets.size === 0) return undefined;
  const list = targets.get(a.buffer);
  if (!list) return undefined;
  const start = a.byteOffset;
  const end = start + a.byteLength;
  return list.find((t) => t.start < end && start < t.end && a.byteLength > 0);
}

/** Whether `a` shares memory with an in-place target in flight (checkNotInPlaceTarget throws then). */
export function isInPlaceTarget(a: ArrayBufferView): boolean {
  return overlapping(a) !== undefined;
}

/**
 * Throws a TypeError when `a` shares memory with the target of an in-place
 * collective that has not settled: reading it would see partial results, and
 * writing it would race the engine.
 */
export function checkNotInPlaceTarget(a: ArrayBufferView, fn: string, inPlace: boolean): void {
  const t = overlapping(a);
  if (!t) return;
  throw new TypeError(
    `${fn}: tensor shares memory (bytes ${t.start}-${t.end} of one ArrayBuffer) with the target of the in-place ${t.fn} '${t.name}', which has not settled; ` +
      (inPlace
        ? 'two in-place collectives must not write the same memory at once: await the first one, or reduce into a different array'
        : 'the engine is writing that memory: await that call first, or pass a different array'),
  );
}

/** Marks `a` as an in-flight in-place target; returns the function that releases it. */
export function holdInPlaceTarget(a: ArrayBufferView, fn: string, name: string): () => void {
  const t: Target = { start: a.byteOffset, end: a.byteOffset + a.byteLength, fn, name };
  let list = targets.get(a.buffer);
  if (!list) targets.set(a.buffer, (list = []));
  list.push(t);
  return () => {
    const l = targets.get(a.buffer);
    if (!l) return;
    const i = l.indexOf(t);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) targets.delete(a.buffer);
  };
}
