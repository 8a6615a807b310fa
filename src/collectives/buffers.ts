// Memory hvd allocates on a caller's behalf: collective outputs and the
// buffers that packing.ts packs members into. Every such allocation goes
// through this file, so moving it onto other memory is a change here only.
import { hvdArrayBuffer, POOL_MIN_BYTES } from '../alloc';
import type { HvdTypedArray, TensorSpec } from '../tensor';

type Ctor = TensorSpec['ctor'];

// Outputs are entirely overwritten by the collective (or never returned, on
// error), so large ones skip the zero-fill (150 us per 4 MiB measured) and
// come from hvd's pool: huge pages, already faulted in when a block is
// reused (src/alloc.ts, native/pool.h; ordinary memory when the pool is full).
const UNZEROED_MIN_BYTES = POOL_MIN_BYTES;

/** An ArrayBuffer of `bytes` that the caller overwrites entirely (not zeroed from 64 KiB, on hvd's pool). */
export function outputBuffer(bytes: number): ArrayBuffer {
  return hvdArrayBuffer(bytes, false);
}

/** A TypedArray of `length` elements that the caller overwrites entirely. */
export function outputArray(ctor: Ctor, length: number): HvdTypedArray {
  const bytes = length * (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  if (bytes < UNZEROED_MIN_BYTES) return new ctor(length);
  return new (ctor as unknown as new (b: ArrayBuffer) => HvdTypedArray)(outputBuffer(bytes));
}
