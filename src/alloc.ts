// hvd-owned memory for users' own buffers: hvd.alloc(dtype, length).
//
// The array lives on hvd's pool (native/pool.h): 2 MiB-aligned blocks the
// kernel backs with transparent huge pages (madvise), which MPI moves 2-2.6x
// faster than ordinary 4 KiB-page memory at 1-16 MiB on shared memory, and
// which stay faulted in when the pool reuses them. When the array is
// garbage collected its block returns to the pool. Arrays under 64 KiB, and
// any allocation while the pool is at HVD_POOL_MAX_BYTES, are ordinary
// TypedArrays: the call never fails because the pool is full.
import { ARRAY_CTORS, ArrayOfDType } from './dtypes';
import { loadNative } from './native';

/** Element types hvd.alloc can make, and the TypedArray each gives (src/dtypes.ts). */
export type AllocTypes = ArrayOfDType;

/** A dtype name accepted by {@link alloc}. */
export type DType = keyof AllocTypes;

/** Smallest allocation the pool serves (native/pool.h Pool::kDefaultMinBytes). */
export const POOL_MIN_BYTES = 64 * 1024;

/**
 * An ArrayBuffer of `bytes` on hvd's pool, or an ordinary one when it is
 * small or the pool is full. `zero`: filled with zeros (else, from 64 KiB,
 * its contents are undefined: for outputs a collective overwrites entirely).
 */
export function hvdArrayBuffer(bytes: number, zero: boolean): ArrayBuffer {
  // Small ones: V8's own (the zero-fill costs little below 64 KiB).
  if (bytes < POOL_MIN_BYTES) return new ArrayBuffer(bytes);
  return loadNative().allocBuffer(bytes, zero);
}

/**
 * A zero-filled TypedArray of `length` elements of `dtype` on hvd's own
 * memory (huge pages, reused from a pool), for staging buffers that
 * collectives read or write: inputs, `inPlace` targets and `out` arrays.
 * It behaves like `new Float32Array(length)` in every other way; its memory
 * returns to the pool when it is garbage collected. Below 64 KiB, or while
 * the pool is at `HVD_POOL_MAX_BYTES`, it is an ordinary TypedArray.
 * Works before `hvd.init()`.
 *
 * @param dtype 'float32', 'float64', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8', 'int64', 'uint64', 'float16' (Uint16Array bits) or 'bool' (Uint8Array).
 * @param length number of elements, a non-negative safe integer.
 * @throws TypeError for an unknown dtype; RangeError for a bad length.
 * @example
 * const grads = hvd.alloc('float32', 1 << 20);
 * const sum = hvd.alloc('float32', 1 << 20);
 * hvd.allreduceSync(grads, { op: 'sum', out: sum });
 */
export function alloc<D extends DType>(dtype: D, length: number): AllocTypes[D] {
  if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(ARRAY_CTORS, dtype)) {
    throw new TypeError(`alloc: dtype must be one of ${Object.keys(ARRAY_CTORS).map((d) => `'${d}'`).join(', ')}; got ${typeof dtype === 'string' ? `'${dtype}'` : typeof dtype}`);
  }
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`alloc: length must be a non-negative integer; got ${String(length)}`);
  }
  const ctor = ARRAY_CTORS[dtype];
  const bytes = length * ctor.BYTES_PER_ELEMENT;
  if (bytes > Number.MAX_SAFE_INTEGER) throw new RangeError(`alloc: ${length} ${dtype} elements is too large`);
  return new ctor(hvdArrayBuffer(bytes, true), 0, length) as unknown as AllocTypes[D];
}
