// The TypedArray that holds each of hvd's dtypes (the names of src/codes.ts
// DTYPES): the one table behind hvd.alloc (dtype -> array) and the input
// checks (array -> dtype). float16 travels as its raw bits in a Uint16Array
// and bool as one byte per element in a Uint8Array; each of the other ten
// has a TypedArray of its own.
import type { DTYPES } from './codes';

/** The TypedArray each dtype is held in. */
export interface ArrayOfDType {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  /** IEEE half floats as raw bits (what `Compression.fp16` sends). */
  float16: Uint16Array;
  /** One byte per element, 0 or 1 (tfjs's bool). */
  bool: Uint8Array;
}

// Every dtype of native/codes.h has an array here, and nothing else does.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const covered: Same<keyof ArrayOfDType, keyof typeof DTYPES> = true;
void covered;

/** A constructor of one of those TypedArrays. */
export type ArrayCtor = {
  new (length: number): ArrayOfDType[keyof ArrayOfDType];
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): ArrayOfDType[keyof ArrayOfDType];
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

export const ARRAY_CTORS = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float16: Uint16Array,
  bool: Uint8Array,
} as unknown as Record<keyof ArrayOfDType, ArrayCtor>;

/**
 * The dtype a TypedArray input stands for: its own element type. A
 * Uint8Array is uint8 and a Uint16Array uint16 (bool and float16 come only
 * from tfjs tensors or an explicit dtype).
 */
export const DTYPE_OF_ARRAY: ReadonlyMap<unknown, keyof ArrayOfDType> = new Map(
  (Object.keys(ARRAY_CTORS) as Array<keyof ArrayOfDType>)
    .filter((d) => d !== 'float16' && d !== 'bool')
    .map((d) => [ARRAY_CTORS[d], d] as const),
);
