// Memory hvd allocates on a caller's behalf: collective outputs and the
// buffers that packing.ts packs members into. Every such allocation goes
// through this file, so moving it onto other memory is a change here only.
import type { HvdTypedArray, TensorSpec } from '../tensor';

type Ctor = TensorSpec['ctor'];

// Outputs are entirely overwritten by the collective (or never returned, on
// error), so large ones skip V8's zero-fill: 150 us per 4 MiB measured.
const UNZEROED_MIN_BYTES = 64 * 1024;

/** An ArrayBuffer of `bytes` that the caller overwrites entirely (not zeroed above 64 KiB). */
export function outputBuffer(bytes: number): ArrayBuffer {
  return bytes >= UNZEROED_MIN_BYTES ? (Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer) : new ArrayBuffer(bytes);
}

/** A TypedArray of `length` elements that the caller overwrites entirely. */
export function outputArray(ctor: Ctor, length: number): HvdTypedArray {
  const bytes = length * (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  if (bytes < UNZEROED_MIN_BYTES) return new ctor(length);
  return new (ctor as unknown as new (b: ArrayBuffer) => HvdTypedArray)(outputBuffer(bytes));
}
