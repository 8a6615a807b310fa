// The tensor bridge: what a collective accepts (TypedArrays and tfjs
// Tensors), how it becomes raw bytes plus a dtype code for the engine, and
// how results become the same kind of value the caller passed in.
import { DTYPES } from './codes';
import { ARRAY_CTORS, DTYPE_OF_ARRAY } from './dtypes';
import { NativeItem } from './native';
import { tfjsForTensors } from './tfjs/tf';

/** Element-type codes (native/codes.h, generated into src/codes.ts). */
export const DType = DTYPES;
export type DTypeName = keyof typeof DType;

/** The TypedArrays hvd accepts. */
export type HvdTypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array;

/**
 * The structural part of a tfjs `Tensor` that hvd relies on. Any tfjs
 * Tensor (from @tensorflow/tfjs, tfjs-core or tfjs-node) satisfies it; hvd
 * never imports tfjs unless a Tensor is actually passed.
 */
export interface TensorLike {
  readonly shape: number[];
  readonly dtype: string;
  readonly isDisposed: boolean;
  dataSync(): ArrayLike<number> | Uint8Array;
  data(): Promise<ArrayLike<number> | Uint8Array>;
}

/** Anything a collective accepts: a TypedArray or a tfjs Tensor. */
export type TensorInput = HvdTypedArray | TensorLike;

type TypedArrayCtor = { new (length: number): HvdTypedArray; new (buffer: ArrayBuffer): HvdTypedArray; name: string };


const TENSOR_DTYPES: Record<string, { dtype: DTypeName; ctor: TypedArrayCtor }> = {
  float32: { dtype: 'float32', ctor: ARRAY_CTORS.float32 as unknown as TypedArrayCtor },
  int32: { dtype: 'int32', ctor: ARRAY_CTORS.int32 as unknown as TypedArrayCtor },
  bool: { dtype: 'bool', ctor: ARRAY_CTORS.bool as unknown as TypedArrayCtor },
};

export function isTensor(x: unknown): x is TensorLike {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as TensorLike).dataSync === 'function' &&
    typeof (x as TensorLike).data === 'function' &&
    Array.isArray((x as TensorLike).shape) &&
    typeof (x as TensorLike).dtype === 'string'
  );
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'a plain Array';
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name}`;
  if (typeof x === 'object') return `an object (${(x as object).constructor?.name ?? 'Object'})`;
  return `a ${typeof x}`;
}

/** What the engine needs to know about one input, before reading its data. */
export interface TensorSpec {
  kind: 'typed' | 'tensor';
  dtype: DTypeName;
  ctor: TypedArrayCtor;
  shape: number[];
  /** The TypedArray itself, or undefined for a tensor (read on demand). */
  array?: HvdTypedArray;
  tensor?: TensorLike;
}

type CheckedBuffer = ArrayBuffer & { detached?: boolean; resizable?: boolean };

/**
 * The spec of `x` when it is a TypedArray hvd accepts as it is (a supported
 * type over a plain, attached, fixed-length ArrayBuffer), else null: then
 * inspect() decides, and names the argument in its error. Hot loops (a
 * group's members, every call's input) call this first so that they build
 * the argument's name only when something is wrong.
 */
export function inspectTyped(x: unknown): TensorSpec | null {
  const dtype = plainTypedDtype(x);
  if (dtype === undefined) return null;
  const arr = x as HvdTypedArray;
  return { kind: 'typed', dtype, ctor: arr.constructor as TypedArrayCtor, shape: [arr.length], array: arr };
}

/** inspectTyped's test alone, allocating nothing: `x`'s dtype when hvd accepts it as it is, else undefined. */
export function plainTypedDtype(x: unknown): DTypeName | undefined {
  if (!ArrayBuffer.isView(x)) return undefined;
  const dtype = DTYPE_OF_ARRAY.get(x.constructor);
  if (dtype === undefined) return undefined;
  const buf = x.buffer as CheckedBuffer;
  if (buf.detached === true || buf.resizable === true || x.byteLength === 0) return undefined;
  if (typeof SharedArrayBuffer !== 'undefined' && buf instanceof SharedArrayBuffer) return undefined;
  return dtype;
}

/**
 * Validates `x` as a collective input and describes it. Throws TypeError
 * naming `arg` (the caller passes `<function>: <argument>`, so every message
 * starts with the function's name) for anything unusable. `shape` optionally gives a TypedArray
 * a multi-dimensional row-major shape.
 */
export function inspect(x: unknown, arg: string, shape?: unknown): TensorSpec {
  if (isTensor(x)) {
    if (x.isDisposed) throw new TypeError(`${arg} is a disposed tfjs Tensor`);
    const t = TENSOR_DTYPES[x.dtype];
    if (!t) {
      throw new TypeError(`${arg} is a tfjs Tensor of dtype '${x.dtype}'; hvd supports float32, int32 and bool tensors`);
    }
    if (shape !== undefined) throw new TypeError(`${arg}: the shape option applies to TypedArrays only; a Tensor has its own shape`);
    return { kind: 'tensor', dtype: t.dtype, ctor: t.ctor, shape: x.shape.slice(), tensor: x };
  }
  if (!ArrayBuffer.isView(x) || x instanceof DataView) {
    throw new TypeError(
      `${arg} must be a TypedArray (Float32Array, Float64Array, Int32Array, Uint32Array, Int16Array, Uint16Array, Int8Array, Uint8Array, BigInt64Array, BigUint64Array) or a tfjs Tensor; got ${describe(x)}`,
    );
  }
  const dtype = DTYPE_OF_ARRAY.get(x.constructor);
  if (dtype === undefined) {
    throw new TypeError(`${arg} is a ${x.constructor.name}, which hvd does not support; use one of Float32Array, Float64Array, Int32Array, Uint32Array, Int16Array, Uint16Array, Int8Array, Uint8Array, BigInt64Array, BigUint64Array`);
  }
  const buf = x.buffer as CheckedBuffer;
  if (typeof SharedArrayBuffer !== 'undefined' && buf instanceof SharedArrayBuffer) {
    throw new TypeError(`${arg} is backed by a SharedArrayBuffer; pass a TypedArray over a plain ArrayBuffer (another thread could write it during the collective)`);
  }
  if (buf.detached === true || (x.byteLength === 0 && isDetached(buf))) {
    throw new TypeError(`${arg} is backed by a detached ArrayBuffer (it was transferred)`);
  }
  if (buf.resizable === true) throw new TypeError(`${arg} is backed by a resizable ArrayBuffer; pass a fixed-length one`);
  const arr = x as HvdTypedArray;
  let dims: number[] = [arr.length];
  if (shape !== undefined) {
    dims = checkShape(shape, `${arg} shape`);
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== arr.length) {
      throw new RangeError(`${arg} shape [${dims.join(',')}] has ${n} elements but the array has ${arr.length}`);
    }
  }
  return { kind: 'typed', dtype, ctor: arr.constructor as TypedArrayCtor, shape: dims, array: arr };
}

function isDetached(buf: ArrayBuffer): boolean {
  // Node 20 has no ArrayBuffer.prototype.detached; a view over a detached
  // buffer cannot be constructed, which tells the two kinds of empty apart.
  try {
    new Uint8Array(buf);
    return false;
  } catch {
    return true;
  }
}

export function checkShape(shape: unknown, arg: string): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${arg} must be an array of non-negative integers`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new RangeError(`${arg} must hold non-negative integers; got ${String(d)}`);
    }
  }
  return shape.slice() as number[];
}

export function isIntegral(dtype: DTypeName): boolean {
  return dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16';
}

/** The bytes to send, synchronously (dataSync for tensors; no copy on cpu). */
export function readSync(spec: TensorSpec): HvdTypedArray {
  if (spec.array) return spec.array;
  return asTyped(spec, spec.tensor!.dataSync());
}

function asTyped(spec: TensorSpec, data: ArrayLike<number> | Uint8Array): HvdTypedArray {
  if (data instanceof (spec.ctor as unknown as typeof Float32Array) || (spec.dtype === 'bool' && data instanceof Uint8Array)) {
    return data as HvdTypedArray;
  }
  // Some backends hand back a different array type (e.g. bool as Int32Array).
  const out = new spec.ctor(data.length);
  for (let i = 0; i < data.length; i++) (out as unknown as number[])[i] = Number(data[i]);
  return out;
}

export function toItem(name: string, spec: TensorSpec, input: HvdTypedArray | null, output?: HvdTypedArray): NativeItem {
  return { name, input, output: output ?? null, dtype: DType[spec.dtype], shape: spec.shape };
}

/**
 * Wraps a result array as the same kind of value the caller passed. Result
 * Tensors come from hvd's one tfjs loader (src/tfjs/tf.ts): the instance
 * given to useTfjs(), else the one the application loaded.
 */
export function wrap<T>(spec: TensorSpec, data: HvdTypedArray, shape: number[]): T {
  if (spec.kind === 'tensor') return tfjsForTensors().tensor(data as Float32Array, shape, spec.dtype as 'float32') as unknown as T;
  return data as unknown as T;
}

export function fromBuffer(spec: TensorSpec, buffer: ArrayBuffer): HvdTypedArray {
  return new spec.ctor(buffer);
}
