// The collectives. Each comes as a Promise form (`allreduce`) and a blocking
// form (`allreduceSync`), like tfjs's data()/dataSync(). Arguments are
// validated here, synchronously, before anything reaches the engine; names
// are assigned at call time, so auto-names follow call order on every rank.
import { hvdArrayBuffer, POOL_MIN_BYTES } from './alloc';
import * as v8 from 'v8';
import { running, size, rank } from './basics';
import { KINDS, REDUCE_OPS } from './codes';
import { fromNative, HorovodError } from './errors';
import { globalProcessSet, ProcessSet, resolveSet } from './process_sets';
import { callTimeInput, checkNotInPlaceTarget, holdInPlaceTarget } from './inputs';
import { NativeOptions, NativeResult } from './native';
import {
  fromBuffer,
  HvdTypedArray,
  inspect,
  isIntegral,
  readSync,
  TensorInput,
  TensorSpec,
  toItem,
  wrap,
  DType,
} from './tensor';

/** Reduction applied by allreduce. */
export type ReduceOp = 'average' | 'sum' | 'min' | 'max' | 'product';
/** Average across ranks (sum, then divide by the number of contributing ranks). */
export const Average: ReduceOp = 'average';
/** Elementwise sum across ranks. */
export const Sum: ReduceOp = 'sum';
/** Elementwise minimum across ranks. */
export const Min: ReduceOp = 'min';
/** Elementwise maximum across ranks. */
export const Max: ReduceOp = 'max';
/** Elementwise product across ranks. */
export const Product: ReduceOp = 'product';

const OP_CODES: Record<ReduceOp, number> = REDUCE_OPS;
const KIND = KINDS;

/** What every reduction ({@link allreduce}, {@link reducescatter}) takes. */
export interface ReductionOptions {
  /** Run on this process set (ranks and roots relative to it). Defaults to the global set. */
  processSet?: ProcessSet;
  /** Reduction. Defaults to `'average'` (as in Horovod); integer and bool inputs need another op. */
  op?: ReduceOp;
  /**
   * Multiply the input by this before reducing. Defaults to 1. On integer
   * dtypes a factor other than 1 is applied in double precision and the
   * result rounded once (ties to even) and saturated.
   */
  prescaleFactor?: number;
  /** Multiply the result by this after reducing. Defaults to 1 (integers: as for prescaleFactor). */
  postscaleFactor?: number;
  /** Row-major shape of a TypedArray input (checked across ranks). Defaults to `[length]`. */
  shape?: number[];
}

/** Options for {@link allreduce} and {@link allreduceSync}. */
export interface AllreduceOptions extends ReductionOptions {
  /** Name that matches this call across ranks. Defaults to `allreduce.noname.<n>` in call order. */
  name?: string;
  /**
   * Reduce into the input TypedArray itself and return it, saving the
   * output allocation (for callers that own the buffer, such as gradient
   * staging buffers). Not allowed for tfjs Tensors, whose memory tfjs may
   * share. With the Promise form the array belongs to the engine until the
   * Promise settles: another collective on any part of its memory meanwhile
   * (a second in-place call included) throws a TypeError. Defaults to false.
   */
  inPlace?: boolean;
}

/** Options for {@link groupedAllreduce}. */
export interface GroupedAllreduceOptions {
  /** Run on this process set (ranks and roots relative to it). Defaults to the global set. */
  processSet?: ProcessSet;
  /** Defaults to `'average'`. */
  op?: ReduceOp;
  /** Group name; members are named `<name>.<i>`. Defaults to `groupedAllreduce.noname.<n>`. */
  name?: string;
  /** Defaults to 1. */
  prescaleFactor?: number;
  /** Defaults to 1. */
  postscaleFactor?: number;
}

/** Options for {@link allgather}. */
export interface AllgatherOptions {
  /** Run on this process set (ranks and roots relative to it). Defaults to the global set. */
  processSet?: ProcessSet;
  /** Defaults to `allgather.noname.<n>`. */
  name?: string;
  /** Row-major shape of a TypedArray input; the first dimension may differ per rank. Defaults to `[length]`. */
  shape?: number[];
}

/** Options for {@link broadcast}. */
export interface BroadcastOptions {
  /** Run on this process set (ranks and roots relative to it). Defaults to the global set. */
  processSet?: ProcessSet;
  /** Defaults to `broadcast.noname.<n>`. */
  name?: string;
  /** Row-major shape of a TypedArray input. Defaults to `[length]`. */
  shape?: number[];
}

/** Options for {@link barrier} and the object collectives. */
export interface NameOptions {
  /** Run on this process set (ranks and roots relative to it). Defaults to the global set. */
  processSet?: ProcessSet;
  /** Defaults to `<collective>.noname.<n>`. */
  name?: string;
}

const counters = new Map<string, number>();
// Counted per process set: a rank's calls on sets it is in must not shift
// the auto-names of its calls on the others.
function autoName(kind: string, set: ProcessSet = globalProcessSet): string {
  const key = set.id === 0 ? kind : `${kind}.ps${set.id}`;
  const n = counters.get(key) ?? 0;
  counters.set(key, n + 1);
  return `${key}.noname.${n}`;
}

// Names of Promise-form calls that have not settled yet. The engine also
// rejects duplicates, but only while it still holds the request; tracking
// until the Promise settles makes "already in flight" mean what the caller sees.
const inflight = new Set<string>();

function claim(names: string[]): void {
  for (const name of names) {
    if (inflight.has(name)) {
      throw new HorovodError(
        `a collective named '${name}' is already in flight on this rank; names must be unique among pending operations (pass a different name, or await the first one)`,
        'HVD_DUPLICATE_NAME',
      );
    }
  }
  for (const name of names) inflight.add(name);
}

function release(names: string[]): void {
  for (const name of names) inflight.delete(name);
}

/** Runs an async collective body with its names claimed until it settles. */
function tracked<R>(names: string[], body: () => Promise<R>): Promise<R> {
  try {
    claim(names);
  } catch (e) {
    return Promise.reject(e);
  }
  let p: Promise<R>;
  try {
    p = body();
  } catch (e) {
    release(names);
    return Promise.reject(e);
  }
  return p.finally(() => release(names));
}

/** Sync calls only need to know they do not collide with a pending Promise call. */
function checkNotInflight(names: string[]): void {
  for (const name of names) {
    if (inflight.has(name)) claim([name]);
  }
}

function checkOptions(opts: unknown, allowed: readonly string[], fn: string): Record<string, unknown> {
  if (opts === undefined) return {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new TypeError(`${fn}: options must be an object; got ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts}`);
  }
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key) && key !== 'processSet') {
      throw new TypeError(`${fn}: unknown option '${key}' (allowed: ${[...allowed, 'processSet'].join(', ')})`);
    }
  }
  return opts as Record<string, unknown>;
}

function nameOf(opts: Record<string, unknown>, kind: string, fn: string): string {
  const name = opts.name;
  if (name === undefined) return autoName(kind, resolveSet(opts.processSet, fn));
  if (typeof name !== 'string') throw new TypeError(`${fn}: options.name must be a string; got ${typeof name}`);
  if (name.length === 0) throw new RangeError(`${fn}: options.name must not be empty`);
  return name;
}

function checkOp(op: unknown, fn: string): ReduceOp {
  if (op === undefined) return 'average';
  if (typeof op !== 'string') throw new TypeError(`${fn}: options.op must be a string; got ${typeof op}`);
  if (!(op in OP_CODES)) {
    throw new RangeError(`${fn}: options.op must be one of 'average', 'sum', 'min', 'max', 'product'; got '${op}'`);
  }
  return op as ReduceOp;
}

function checkScale(v: unknown, what: string, fn: string): number {
  if (v === undefined) return 1;
  if (typeof v !== 'number') throw new TypeError(`${fn}: options.${what} must be a number; got ${typeof v}`);
  if (!Number.isFinite(v)) throw new RangeError(`${fn}: options.${what} must be finite; got ${v}`);
  return v;
}

function checkRoot(root: unknown, fn: string, set: ProcessSet = globalProcessSet): number {
  if (typeof root !== 'number') throw new TypeError(`${fn}: rootRank must be a number; got ${typeof root}`);
  const n = set.size();
  if (!Number.isInteger(root) || root < 0 || root >= n) {
    throw new RangeError(`${fn}: rootRank must be an integer in [0, ${n}); got ${root}`);
  }
  return root;
}

function checkReducible(spec: TensorSpec, op: ReduceOp, pre: number, post: number, arg: string, fn: string): void {
  if (op === 'average' && isIntegral(spec.dtype)) {
    throw new TypeError(
      `${fn}: op 'average' is not defined for ${spec.dtype} ${arg} (an integer average would truncate); use op 'sum' and divide, or pass floats`,
    );
  }
  if (spec.dtype === 'bool' && (pre !== 1 || post !== 1)) {
    throw new TypeError(`${fn}: prescaleFactor/postscaleFactor cannot scale a bool ${arg}`);
  }
}

/** Captures the caller's stack for errors that surface later, from the engine thread. */
function callSite(fn: Function): { stack?: string } {
  const site: { stack?: string } = {};
  Error.captureStackTrace(site, fn);
  return site;
}

// --- allreduce ---------------------------------------------------------------

interface Prepared {
  specs: TensorSpec[];
  names: string[];
  options: NativeOptions;
  inPlace?: boolean;
}

function prepareAllreduce(tensor: unknown, options: unknown, fn: string): Prepared {
  const opts = checkOptions(options, ['op', 'name', 'prescaleFactor', 'postscaleFactor', 'shape', 'inPlace'], fn);
  const spec = inspect(tensor, `${fn}: tensor`, opts.shape);
  const op = checkOp(opts.op, fn);
  const pre = checkScale(opts.prescaleFactor, 'prescaleFactor', fn);
  const post = checkScale(opts.postscaleFactor, 'postscaleFactor', fn);
  checkReducible(spec, op, pre, post, 'tensor', fn);
  if (opts.inPlace !== undefined && typeof opts.inPlace !== 'boolean') throw new TypeError(`${fn}: options.inPlace must be a boolean`);
  const inPlace = opts.inPlace === true;
  if (inPlace && spec.kind === 'tensor') {
    throw new TypeError(`${fn}: options.inPlace needs a TypedArray; a tfjs Tensor's memory may be shared with other tensors`);
  }
  if (spec.array) checkNotInPlaceTarget(spec.array, fn, inPlace);
  const name = nameOf(opts, 'allreduce', fn);
  const processSet = resolveSet(opts.processSet, fn).id;
  return { specs: [spec], names: [name], options: { op: OP_CODES[op], prescale: pre, postscale: post, processSet }, inPlace };
}

function prepareGrouped(tensors: unknown, options: unknown, fn: string): Prepared {
  const opts = checkOptions(options, ['op', 'name', 'prescaleFactor', 'postscaleFactor'], fn);
  if (!Array.isArray(tensors)) throw new TypeError(`${fn}: tensors must be an array of TypedArrays or Tensors`);
  if (tensors.length === 0) throw new RangeError(`${fn}: tensors must not be empty`);
  const op = checkOp(opts.op, fn);
  const pre = checkScale(opts.prescaleFactor, 'prescaleFactor', fn);
  const post = checkScale(opts.postscaleFactor, 'postscaleFactor', fn);
  const specs = tensors.map((t, i) => {
    const spec = inspect(t, `${fn}: tensors[${i}]`);
    checkReducible(spec, op, pre, post, `tensors[${i}]`, fn);
    return spec;
  });
  const group = nameOf(opts, 'groupedAllreduce', fn);
  return {
    specs,
    names: [group],
    options: { op: OP_CODES[op], prescale: pre, postscale: post, group, processSet: resolveSet(opts.processSet, fn).id },
  };
}

// Outputs are entirely overwritten by the collective (or never returned, on
// error), so large ones skip the zero-fill (150 us per 4 MiB measured) and
// come from hvd's pool: huge pages, already faulted in when reused
// (src/alloc.ts, native/pool.h).
const UNZEROED_MIN_BYTES = POOL_MIN_BYTES;

function newBuffer(bytes: number): ArrayBuffer {
  return hvdArrayBuffer(bytes, false);
}

function newArray(ctor: TensorSpec['ctor'], length: number): HvdTypedArray {
  const bytes = length * (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  if (bytes < UNZEROED_MIN_BYTES) return new ctor(length);
  return new (ctor as unknown as new (b: ArrayBuffer) => HvdTypedArray)(newBuffer(bytes));
}

/**
 * Output arrays for a call. A group's outputs of one dtype are views into a
 * single ArrayBuffer, back to back in order: the engine then reduces right
 * in that buffer and skips the copy out of its fusion buffer.
 */
function outputsFor(p: Prepared, inputs: HvdTypedArray[]): HvdTypedArray[] {
  if (p.inPlace) return inputs;
  if (p.specs.length === 1) return [newArray(p.specs[0].ctor, inputs[0].length)];
  const totals = new Map<TensorSpec['ctor'], number>();
  p.specs.forEach((s, i) => totals.set(s.ctor, (totals.get(s.ctor) ?? 0) + inputs[i].length));
  const buffers = new Map<TensorSpec['ctor'], { buf: ArrayBuffer; off: number }>();
  for (const [ctor, n] of totals) {
    const bytes = (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    buffers.set(ctor, { buf: newBuffer(n * bytes), off: 0 });
  }
  return p.specs.map((s, i) => {
    const slot = buffers.get(s.ctor)!;
    const view = new (s.ctor as unknown as new (b: ArrayBuffer, o: number, l: number) => HvdTypedArray)(slot.buf, slot.off, inputs[i].length);
    slot.off += view.byteLength;
    return view;
  });
}

function reduceSync(p: Prepared): HvdTypedArray[] {
  const b = running();
  checkNotInflight(p.names);
  const inputs = p.specs.map((s) => readSync(s));
  const outputs = outputsFor(p, inputs);
  const items = p.specs.map((s, i) => toItem(p.names[i], s, inputs[i], outputs[i]));
  try {
    b.enqueue(KIND.allreduce, items, p.options, true);
  } catch (e) {
    throw fromNative(e);
  }
  return outputs;
}

// Promise forms submit to the engine before returning, exactly like the
// Sync forms (tensor data is read with dataSync, which is free on the cpu
// backend and one copy elsewhere). Program order is therefore submission
// order: a Sync call can never block while an earlier Promise call of the
// same rank still waits to be submitted, which would deadlock against a
// peer that awaits it. The engine reads the input memory when the
// collective runs: see src/inputs.ts for what is copied and checked.
function reduceAsync(p: Prepared, site: { stack?: string }, fn: string): Promise<HvdTypedArray[]> {
  const b = running();
  const read = p.specs.map((s) => readSync(s));
  // In-place inputs are the outputs (a group's are hvd's own packed copies).
  const guarded = p.inPlace ? read.map((input) => ({ input, verify: undefined })) : p.specs.map((s, i) => callTimeInput(s, read[i], fn, p.names[i]));
  const inputs = guarded.map((g) => g.input);
  const outputs = outputsFor(p, inputs);
  const items = p.specs.map((s, i) => toItem(p.names[i], s, inputs[i], outputs[i]));
  return b.enqueue(KIND.allreduce, items, p.options, false).then(
    () => {
      for (const g of guarded) g.verify?.();
      return outputs;
    },
    (e) => {
      throw fromNative(e, site);
    },
  );
}

/**
 * Reduces `tensor` across all ranks and returns the result as a new value
 * of the same kind (TypedArray or tfjs Tensor); the input is never written.
 *
 * The input is read when the engine runs the collective, not when this is
 * called: a TypedArray input larger than 4 KiB must stay unchanged until the
 * Promise settles (smaller ones are copied at call time; set
 * HVD_CHECK_INPUTS=1 to have a change rejected). tfjs Tensors are immutable.
 * With `inPlace`, the array is the engine's until the Promise settles: no
 * other collective may read or write its memory meanwhile (a TypeError says so).
 *
 * @param tensor A TypedArray or a float32/int32/bool tfjs Tensor, same shape and type on every rank.
 * @throws TypeError/RangeError synchronously for bad arguments; the Promise
 *   rejects with HorovodError (`HVD_MISMATCH` etc.) when ranks disagree.
 * @example
 * const avg = await hvd.allreduce(new Float32Array([1, 2, 3]));            // average
 * const sum = await hvd.allreduce(new Int32Array([rank]), { op: 'sum', name: 'count' });
 */
export function allreduce<T extends TensorInput>(tensor: T, options?: AllreduceOptions): Promise<T> {
  running();
  const p = prepareAllreduce(tensor, options, 'allreduce');
  const site = callSite(allreduce);
  const body = (): Promise<HvdTypedArray[]> => {
    if (!p.inPlace) return reduceAsync(p, site, 'allreduce');
    // No other collective may touch this memory until the engine is done with it.
    const release = holdInPlaceTarget(p.specs[0].array!, 'allreduce', p.names[0]);
    try {
      return reduceAsync(p, site, 'allreduce').finally(release);
    } catch (e) {
      release();
      throw e;
    }
  };
  return tracked(p.names, body).then((out) => wrap<T>(p.specs[0], out[0], p.specs[0].shape));
}

/**
 * Blocking form of {@link allreduce}: returns the reduced value directly.
 * This is what DistributedOptimizer uses inside tfjs's synchronous training step.
 *
 * @example
 * const g = hvd.allreduceSync(grad, { name: 'grad/w' });
 */
export function allreduceSync<T extends TensorInput>(tensor: T, options?: AllreduceOptions): T {
  running();
  const p = prepareAllreduce(tensor, options, 'allreduceSync');
  return wrap<T>(p.specs[0], reduceSync(p)[0], p.specs[0].shape);
}

/**
 * Allreduces several tensors with one negotiation; tensors of the same
 * dtype travel fused in one message (up to HOROVOD_FUSION_THRESHOLD).
 *
 * @example
 * const [a, b] = await hvd.groupedAllreduce([gradW, gradB], { name: 'grads' });
 */
export function groupedAllreduce<T extends TensorInput>(tensors: T[], options?: GroupedAllreduceOptions): Promise<T[]> {
  running();
  const p = prepareGrouped(tensors, options, 'groupedAllreduce');
  const site = callSite(groupedAllreduce);
  const g = packGroup(p);
  return tracked(g.packed.names, () => reduceAsync(g.packed, site, 'groupedAllreduce')).then((outs) => unpackGroup<T>(p, g, outs));
}

interface PackedGroup {
  packed: Prepared;
  members: Array<{ bucket: number; offset: number; length: number }>;
}

/**
 * A group travels as one tensor per dtype: the members are copied back to
 * back into one buffer and the results come back as views into one result
 * buffer. That is one request to negotiate per dtype instead of one per
 * member, and no copy out. The members' shapes are part of the group's key,
 * so ranks whose groups are laid out differently fail with HVD_MISMATCH.
 */
function packGroup(p: Prepared): PackedGroup {
  const buckets: Array<{ spec: TensorSpec; parts: HvdTypedArray[]; layout: string[]; total: number }> = [];
  const members = p.specs.map((s) => {
    let b = buckets.findIndex((x) => x.spec.ctor === s.ctor);
    if (b < 0) {
      buckets.push({ spec: s, parts: [], layout: [], total: 0 });
      b = buckets.length - 1;
    }
    const data = readSync(s);
    const bucket = buckets[b];
    const m = { bucket: b, offset: bucket.total, length: data.length };
    bucket.parts.push(data);
    bucket.layout.push(`[${s.shape.join(',')}]`);
    bucket.total += data.length;
    return m;
  });
  const group = p.options.group!;
  const key = `${group} {${buckets.map((b) => `${b.spec.dtype}: ${b.layout.join(' ')}`).join('; ')}}`;
  const specs = buckets.map((b) => {
    const packed = newArray(b.spec.ctor, b.total);
    let off = 0;
    for (const part of b.parts) {
      (packed as Float32Array).set(part as Float32Array, off);
      off += part.length;
    }
    return { kind: 'typed' as const, dtype: b.spec.dtype, ctor: b.spec.ctor, shape: [b.total], array: packed };
  });
  return {
    packed: { specs, names: buckets.map((b) => `${group}.${b.spec.dtype}`), options: { ...p.options, group: key }, inPlace: true },
    members,
  };
}

function unpackGroup<T>(p: Prepared, g: PackedGroup, outs: HvdTypedArray[]): T[] {
  return g.members.map((m, i) => {
    const view = outs[m.bucket].subarray(m.offset, m.offset + m.length) as HvdTypedArray;
    return wrap<T>(p.specs[i], view, p.specs[i].shape);
  });
}

/**
 * Blocking form of {@link groupedAllreduce}.
 *
 * @example
 * const [a, b] = hvd.groupedAllreduceSync([x, y], { op: 'sum' });
 */
export function groupedAllreduceSync<T extends TensorInput>(tensors: T[], options?: GroupedAllreduceOptions): T[] {
  running();
  const p = prepareGrouped(tensors, options, 'groupedAllreduceSync');
  const g = packGroup(p);
  return unpackGroup<T>(p, g, reduceSync(g.packed));
}

/**
 * The engine-level form of a group: one request per member, negotiated
 * together and fused by the engine (up to HOROVOD_FUSION_THRESHOLD), results
 * in one output buffer. groupedAllreduce packs in JS instead, which costs
 * less per member; this form exists to exercise and measure engine fusion.
 * @internal
 */
export function groupedAllreduceUnpackedSync<T extends TensorInput>(tensors: T[], options?: GroupedAllreduceOptions): T[] {
  running();
  const p = prepareGrouped(tensors, options, 'groupedAllreduceUnpackedSync');
  const members = { ...p, names: p.specs.map((_, i) => `${p.names[0]}.${i}`) };
  return reduceSync(members).map((o, i) => wrap<T>(p.specs[i], o, p.specs[i].shape));
}

// --- allgather -----------------------------------------------------------------

function prepareGather(tensor: unknown, options: unknown, fn: string): { spec: TensorSpec; name: string; set: NativeOptions } {
  const opts = checkOptions(options, ['name', 'shape'], fn);
  const spec = inspect(tensor, `${fn}: tensor`, opts.shape);
  if (spec.array) checkNotInPlaceTarget(spec.array, fn, false);
  if (spec.shape.length === 0) {
    throw new RangeError(`${fn}: tensor must have at least one dimension to concatenate along; got a scalar`);
  }
  return { spec, name: nameOf(opts, 'allgather', fn), set: { processSet: resolveSet(opts.processSet, fn).id } };
}

function gathered<T>(spec: TensorSpec, r: NativeResult): T {
  const res = r as { buffer: ArrayBuffer; shape: number[] };
  return wrap<T>(spec, fromBuffer(spec, res.buffer), res.shape);
}

/**
 * Concatenates every rank's `tensor` along the first dimension, in rank
 * order. The first dimension may differ per rank; the rest must match.
 *
 * The input is read when the engine runs the collective, not when this is
 * called: a TypedArray input larger than 4 KiB must stay unchanged until the
 * Promise settles (smaller ones are copied at call time; set
 * HVD_CHECK_INPUTS=1 to have a change rejected). tfjs Tensors are immutable.
 *
 * @example
 * const all = await hvd.allgather(new Float32Array([hvd.rank()]));  // [0, 1, ..., size-1]
 */
export function allgather<T extends TensorInput>(tensor: T, options?: AllgatherOptions): Promise<T> {
  const b = running();
  const { spec, name, set } = prepareGather(tensor, options, 'allgather');
  const site = callSite(allgather);
  return tracked([name], () => {
    const { input, verify } = callTimeInput(spec, readSync(spec), 'allgather', name);
    return b.enqueue(KIND.allgather, [toItem(name, spec, input)], set, false).then(
      (r) => {
        verify?.();
        return gathered<T>(spec, r[0]);
      },
      (e) => {
        throw fromNative(e, site);
      },
    );
  });
}

/**
 * Blocking form of {@link allgather}.
 *
 * @example
 * const all = hvd.allgatherSync(rows, { shape: [rows.length / 4, 4] });
 */
export function allgatherSync<T extends TensorInput>(tensor: T, options?: AllgatherOptions): T {
  const b = running();
  const { spec, name, set } = prepareGather(tensor, options, 'allgatherSync');
  checkNotInflight([name]);
  try {
    const r = b.enqueue(KIND.allgather, [toItem(name, spec, readSync(spec))], set, true);
    return gathered<T>(spec, r[0]);
  } catch (e) {
    throw fromNative(e);
  }
}

// --- alltoall --------------------------------------------------------------------

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
}

/** What {@link alltoall} returns. */
export interface AlltoallResult<T> {
  /** The rows every rank sent this rank, concatenated in rank order. */
  output: T;
  /** How many rows came from each rank, in rank order. */
  receivedSplits: Int32Array;
}

function prepareAlltoall(tensor: unknown, options: unknown, fn: string): { spec: TensorSpec; name: string; splits: number[]; set: NativeOptions } {
  const opts = checkOptions(options, ['splits', 'name', 'shape'], fn);
  const spec = inspect(tensor, 'tensor', opts.shape);
  if (spec.shape.length === 0) throw new RangeError(`${fn}: tensor must have at least one dimension to split; got a scalar`);
  const ps = resolveSet(opts.processSet, fn);
  const n = ps.size();
  let splits: number[];
  if (opts.splits === undefined) {
    if (spec.shape[0] % n !== 0) {
      throw new RangeError(
        `${fn}: the first dimension (${spec.shape[0]}) is not divisible by the number of ranks (${n}); pass options.splits to say how many rows go to each rank`,
      );
    }
    splits = new Array<number>(n).fill(spec.shape[0] / n);
  } else {
    const s = opts.splits as ArrayLike<unknown>;
    if (typeof s !== 'object' || s === null || typeof s.length !== 'number') {
      throw new TypeError(`${fn}: options.splits must be an array of non-negative integers`);
    }
    splits = Array.from(s, (v) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new RangeError(`${fn}: options.splits must hold non-negative integers; got ${String(v)}`);
      }
      return v;
    });
  }
  return { spec, name: nameOf(opts, 'alltoall', fn), splits, set: { processSet: ps.id } };
}

function exchanged<T>(spec: TensorSpec, r: NativeResult): AlltoallResult<T> {
  const res = r as { buffer: ArrayBuffer; shape: number[]; ints: Int32Array };
  return { output: wrap<T>(spec, fromBuffer(spec, res.buffer), res.shape), receivedSplits: res.ints };
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
  const b = running();
  const { spec, name, splits, set } = prepareAlltoall(tensor, options, 'alltoall');
  const site = callSite(alltoall);
  return tracked([name], () => {
    const { input, verify } = callTimeInput(spec, readSync(spec), 'alltoall', name);
    return b.enqueue(KIND.alltoall, [{ ...toItem(name, spec, input), splits }], set, false).then(
      (r) => {
        verify?.();
        return exchanged<T>(spec, r[0]);
      },
      (e) => {
        throw fromNative(e, site);
      },
    );
  });
}

/**
 * Blocking form of {@link alltoall}.
 *
 * @example
 * const { output } = hvd.alltoallSync(new Float32Array(2 * hvd.size()));
 */
export function alltoallSync<T extends TensorInput>(tensor: T, options?: AlltoallOptions): AlltoallResult<T> {
  const b = running();
  const { spec, name, splits, set } = prepareAlltoall(tensor, options, 'alltoallSync');
  checkNotInflight([name]);
  try {
    const r = b.enqueue(KIND.alltoall, [{ ...toItem(name, spec, readSync(spec)), splits }], set, true);
    return exchanged<T>(spec, r[0]);
  } catch (e) {
    throw fromNative(e);
  }
}

// --- reducescatter -------------------------------------------------------------------

/** Options for {@link reducescatter}. */
export interface ReducescatterOptions extends ReductionOptions {
  /** Defaults to `reducescatter.noname.<n>`. */
  name?: string;
}

function prepareReducescatter(tensor: unknown, options: unknown, fn: string) {
  const opts = checkOptions(options, ['op', 'name', 'prescaleFactor', 'postscaleFactor', 'shape'], fn);
  const spec = inspect(tensor, 'tensor', opts.shape);
  if (spec.shape.length === 0) throw new RangeError(`${fn}: tensor must have at least one dimension to scatter; got a scalar`);
  const op = checkOp(opts.op, fn);
  const pre = checkScale(opts.prescaleFactor, 'prescaleFactor', fn);
  const post = checkScale(opts.postscaleFactor, 'postscaleFactor', fn);
  checkReducible(spec, op, pre, post, 'tensor', fn);
  const processSet = resolveSet(opts.processSet, fn).id;
  return { spec, name: nameOf(opts, 'reducescatter', fn), options: { op: OP_CODES[op], prescale: pre, postscale: post, processSet } };
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
  const b = running();
  const p = prepareReducescatter(tensor, options, 'reducescatter');
  const site = callSite(reducescatter);
  return tracked([p.name], () => {
    const { input, verify } = callTimeInput(p.spec, readSync(p.spec), 'reducescatter', p.name);
    return b.enqueue(KIND.reducescatter, [toItem(p.name, p.spec, input)], p.options, false).then(
      (r) => {
        verify?.();
        return gathered<T>(p.spec, r[0]);
      },
      (e) => {
        throw fromNative(e, site);
      },
    );
  });
}

/**
 * Blocking form of {@link reducescatter}.
 *
 * @example
 * const mine = hvd.reducescatterSync(new Float32Array(8), { op: 'sum' });
 */
export function reducescatterSync<T extends TensorInput>(tensor: T, options?: ReducescatterOptions): T {
  const b = running();
  const p = prepareReducescatter(tensor, options, 'reducescatterSync');
  checkNotInflight([p.name]);
  try {
    const r = b.enqueue(KIND.reducescatter, [toItem(p.name, p.spec, readSync(p.spec))], p.options, true);
    return gathered<T>(p.spec, r[0]);
  } catch (e) {
    throw fromNative(e);
  }
}

// --- grouped allgather / reducescatter ---------------------------------------------

/** Options for {@link groupedAllgather}. */
export interface GroupedAllgatherOptions {
  /** Group name; members are named `<name>.<i>`. Defaults to `groupedAllgather.noname.<n>`. */
  name?: string;
  /** Run on this process set. Defaults to the global set. */
  processSet?: ProcessSet;
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

interface PreparedGroup {
  specs: TensorSpec[];
  names: string[];
  options: NativeOptions;
}

function prepareGroupOf(kind: 'groupedAllgather' | 'groupedReducescatter', tensors: unknown, options: unknown, fn: string): PreparedGroup {
  const reduce = kind === 'groupedReducescatter';
  const opts = checkOptions(options, reduce ? ['op', 'name', 'prescaleFactor', 'postscaleFactor'] : ['name'], fn);
  if (!Array.isArray(tensors)) throw new TypeError(`${fn}: tensors must be an array of TypedArrays or Tensors`);
  if (tensors.length === 0) throw new RangeError(`${fn}: tensors must not be empty`);
  const op = reduce ? checkOp(opts.op, fn) : 'sum';
  const pre = reduce ? checkScale(opts.prescaleFactor, 'prescaleFactor', fn) : 1;
  const post = reduce ? checkScale(opts.postscaleFactor, 'postscaleFactor', fn) : 1;
  const specs = tensors.map((t, i) => {
    const spec = inspect(t, `tensors[${i}]`);
    if (spec.shape.length === 0) throw new RangeError(`${fn}: tensors[${i}] must have at least one dimension; got a scalar`);
    if (reduce) checkReducible(spec, op, pre, post, `tensors[${i}]`, fn);
    return spec;
  });
  const group = nameOf(opts, kind, fn);
  const processSet = resolveSet(opts.processSet, fn).id;
  // The member count is part of the group's key, so ranks whose groups
  // differ in length fail with HVD_MISMATCH on the members they share.
  const key = `${group} (${specs.length} members)`;
  const native: NativeOptions = reduce ? { op: OP_CODES[op], prescale: pre, postscale: post, group: key, processSet } : { group: key, processSet };
  return { specs, names: specs.map((_, i) => `${group}.${i}`), options: native };
}

function submitGroup<T>(kindCode: number, g: PreparedGroup, blocking: true): T[];
function submitGroup<T>(kindCode: number, g: PreparedGroup, blocking: false, site: { stack?: string }): Promise<T[]>;
function submitGroup<T>(kindCode: number, g: PreparedGroup, blocking: boolean, site?: { stack?: string }): T[] | Promise<T[]> {
  const b = running();
  const items = g.specs.map((s, i) => toItem(g.names[i], s, readSync(s)));
  const shape = (rs: NativeResult[]) => rs.map((r, i) => gathered<T>(g.specs[i], r));
  if (blocking) {
    checkNotInflight(g.names);
    try {
      return shape(b.enqueue(kindCode, items, g.options, true));
    } catch (e) {
      throw fromNative(e);
    }
  }
  return tracked(g.names, () =>
    b.enqueue(kindCode, items, g.options, false).then(shape, (e) => {
      throw fromNative(e, site);
    }),
  );
}

/**
 * Allgathers several tensors with one negotiation; results in input order
 * (Horovod's `grouped_allgather`).
 *
 * @example
 * const [ids, rows] = await hvd.groupedAllgather([myIds, myRows]);
 */
export function groupedAllgather<T extends TensorInput>(tensors: T[], options?: GroupedAllgatherOptions): Promise<T[]> {
  running();
  const g = prepareGroupOf('groupedAllgather', tensors, options, 'groupedAllgather');
  return submitGroup<T>(KIND.allgather, g, false, callSite(groupedAllgather));
}

/** Blocking form of {@link groupedAllgather}. @example const [a, b] = hvd.groupedAllgatherSync([x, y]); */
export function groupedAllgatherSync<T extends TensorInput>(tensors: T[], options?: GroupedAllgatherOptions): T[] {
  running();
  return submitGroup<T>(KIND.allgather, prepareGroupOf('groupedAllgather', tensors, options, 'groupedAllgatherSync'), true);
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
  const g = prepareGroupOf('groupedReducescatter', tensors, options, 'groupedReducescatter');
  return submitGroup<T>(KIND.reducescatter, g, false, callSite(groupedReducescatter));
}

/** Blocking form of {@link groupedReducescatter}. @example const [a] = hvd.groupedReducescatterSync([x], { op: 'sum' }); */
export function groupedReducescatterSync<T extends TensorInput>(tensors: T[], options?: GroupedReducescatterOptions): T[] {
  running();
  return submitGroup<T>(KIND.reducescatter, prepareGroupOf('groupedReducescatter', tensors, options, 'groupedReducescatterSync'), true);
}

// --- broadcast -------------------------------------------------------------------

function prepareBroadcast(tensor: unknown, rootRank: unknown, options: unknown, fn: string) {
  const opts = checkOptions(options, ['name', 'shape'], fn);
  const spec = inspect(tensor, `${fn}: tensor`, opts.shape);
  if (spec.array) checkNotInPlaceTarget(spec.array, fn, false);
  const ps = resolveSet(opts.processSet, fn);
  const root = checkRoot(rootRank, fn, ps);
  return { spec, root, name: nameOf(opts, 'broadcast', fn), processSet: ps.id, setRank: ps.rank() };
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
  const b = running();
  const { spec, root, name, processSet, setRank } = prepareBroadcast(tensor, rootRank, options, 'broadcast');
  const site = callSite(broadcast);
  return tracked([name], () => {
    const { input, verify } = callTimeInput(spec, readSync(spec), 'broadcast', name);
    const out = newArray(spec.ctor, input.length);
    return b.enqueue(KIND.broadcast, [toItem(name, spec, input, out)], { root, processSet }, false).then(
      () => {
        if (setRank === root) verify?.(); // other ranks' contents are ignored
        return wrap<T>(spec, out, spec.shape);
      },
      (e) => {
        throw fromNative(e, site);
      },
    );
  });
}

/**
 * Blocking form of {@link broadcast}.
 *
 * @example
 * const w = hvd.broadcastSync(weights, 0);
 */
export function broadcastSync<T extends TensorInput>(tensor: T, rootRank: number, options?: BroadcastOptions): T {
  const b = running();
  const { spec, root, name, processSet } = prepareBroadcast(tensor, rootRank, options, 'broadcastSync');
  checkNotInflight([name]);
  const input = readSync(spec);
  const out = newArray(spec.ctor, input.length);
  try {
    b.enqueue(KIND.broadcast, [toItem(name, spec, input, out)], { root, processSet }, true);
  } catch (e) {
    throw fromNative(e);
  }
  return wrap<T>(spec, out, spec.shape);
}

// --- barrier -----------------------------------------------------------------------

function barrierItem(options: unknown, fn: string) {
  const opts = checkOptions(options, ['name'], fn);
  const set = { processSet: resolveSet(opts.processSet, fn).id };
  return { item: { name: nameOf(opts, 'barrier', fn), input: null, dtype: DType.uint8, shape: [] as number[] }, set };
}

/**
 * Resolves once every rank has called barrier.
 *
 * @example
 * await hvd.barrier();
 */
export function barrier(options?: NameOptions): Promise<void> {
  const b = running();
  const { item, set } = barrierItem(options, 'barrier');
  const site = callSite(barrier);
  return tracked([item.name], () =>
    b.enqueue(KIND.barrier, [item], set, false).then(
      () => undefined,
      (e) => {
        throw fromNative(e, site);
      },
    ),
  );
}

/**
 * Blocks until every rank has called barrierSync.
 *
 * @example
 * hvd.barrierSync();
 */
export function barrierSync(options?: NameOptions): void {
  const b = running();
  const { item, set } = barrierItem(options, 'barrierSync');
  checkNotInflight([item.name]);
  try {
    b.enqueue(KIND.barrier, [item], set, true);
  } catch (e) {
    throw fromNative(e);
  }
}

// --- join ---------------------------------------------------------------------------

/** Options for {@link join}. */
export interface JoinOptions {
  /** The process set whose ranks join. Defaults to the global set. */
  processSet?: ProcessSet;
}

function joinItem(options: unknown, fn: string) {
  const opts = checkOptions(options, [], fn);
  const ps = resolveSet(opts.processSet, fn);
  return { item: { name: autoName('join', ps), input: null, dtype: DType.uint8, shape: [] as number[] }, set: { processSet: ps.id } };
}

/**
 * Declares that this rank has run out of data. Until every rank has joined,
 * this rank keeps serving the others' allreduces with zeros, and their
 * averages are taken over the ranks that actually contributed (Horovod
 * divides by the full size, which biases the result). Allgathers get no rows
 * from joined ranks; a broadcast whose root has joined fails. Resolves to the
 * rank that joined last, the same on every rank.
 *
 * @example
 * for (const batch of myShard) await step(batch);   // ranks may run different numbers of steps
 * const last = await hvd.join();
 */
export function join(options?: JoinOptions): Promise<number> {
  const b = running();
  const { item, set } = joinItem(options, 'join');
  const site = callSite(join);
  return tracked([item.name], () =>
    b.enqueue(KIND.join, [item], set, false).then(
      (r) => r[0] as number,
      (e) => {
        throw fromNative(e, site);
      },
    ),
  );
}

/**
 * Blocking form of {@link join}. The JS thread is blocked until every rank
 * joined, so use the Promise form when this rank must keep serving Promise
 * collectives from its own event loop.
 *
 * @example
 * const last = hvd.joinSync();
 */
export function joinSync(options?: JoinOptions): number {
  const b = running();
  const { item, set } = joinItem(options, 'joinSync');
  checkNotInflight([item.name]);
  try {
    return b.enqueue(KIND.join, [item], set, true)[0] as number;
  } catch (e) {
    throw fromNative(e);
  }
}

// --- objects ---------------------------------------------------------------------------

function serialize(value: unknown, fn: string): Uint8Array {
  let buf: Buffer;
  try {
    buf = v8.serialize(value);
  } catch (e) {
    throw new TypeError(`${fn}: value cannot be serialized with the structured clone algorithm: ${(e as Error).message}`);
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function deserialize(bytes: Uint8Array): unknown {
  return v8.deserialize(bytes);
}

function objectName(options: unknown, kind: string, fn: string): { name: string; processSet: ProcessSet } {
  const opts = checkOptions(options, ['name'], fn);
  return { name: nameOf(opts, kind, fn), processSet: resolveSet(opts.processSet, fn) };
}

/**
 * Sends any structured-clonable value from `rootRank` to every rank
 * (`v8.serialize`). The root gets its own value back unchanged. It travels
 * as one allgather in which every rank contributes a small header (its rank,
 * the root it names, the payload length) and only the root adds the payload,
 * so there is a single collective to negotiate and every rank sees every
 * rank's root: ranks that name different roots all fail with the same
 * `HVD_MISMATCH`, as {@link broadcast} does.
 *
 * @example
 * const config = await hvd.broadcastObject(hvd.rank() === 0 ? loadConfig() : null);
 */
export function broadcastObject<V>(value: V, rootRank = 0, options?: NameOptions): Promise<V> {
  running();
  const { name, processSet } = objectName(options, 'broadcastObject', 'broadcastObject');
  const root = checkRoot(rootRank, 'broadcastObject', processSet);
  const { bytes, error } = serializeAtRoot(value, root, processSet, 'broadcastObject');
  const p = allgather(bytes, { name, processSet });
  if (error) {
    // The empty payload tells the others; they fail instead of waiting.
    p.catch(() => {});
    throw error;
  }
  return p.then((data) => receivedObject(value, data, root, processSet, name));
}

/**
 * Blocking form of {@link broadcastObject}.
 *
 * @example
 * const epoch = hvd.broadcastObjectSync(resumeEpoch, 0);
 */
export function broadcastObjectSync<V>(value: V, rootRank = 0, options?: NameOptions): V {
  running();
  const { name, processSet } = objectName(options, 'broadcastObject', 'broadcastObjectSync');
  const root = checkRoot(rootRank, 'broadcastObjectSync', processSet);
  const { bytes, error } = serializeAtRoot(value, root, processSet, 'broadcastObjectSync');
  const data = allgatherSync(bytes, { name, processSet });
  if (error) throw error;
  return receivedObject(value, data, root, processSet, name);
}

// Each rank's contribution to a broadcastObject: three float64 (sender rank,
// the root it names, payload length) followed by the payload, which only the
// root sends (and sends empty when its value did not serialize).
const OBJECT_HEADER_BYTES = 24;

function objectHeader(bytes: Uint8Array, root: number, length: number, sender: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, OBJECT_HEADER_BYTES);
  view.setFloat64(0, sender, true);
  view.setFloat64(8, root, true);
  view.setFloat64(16, length, true);
}

function serializeAtRoot(value: unknown, root: number, set: ProcessSet, fn: string): { bytes: Uint8Array; error?: TypeError } {
  const headerOnly = (): Uint8Array => {
    const bytes = new Uint8Array(OBJECT_HEADER_BYTES);
    objectHeader(bytes, root, 0, set.rank());
    return bytes;
  };
  if (set.rank() !== root) return { bytes: headerOnly() };
  let buf: Buffer;
  try {
    // The header is reserved in front of the payload, so the payload is
    // written once and never copied.
    const ser = new v8.DefaultSerializer();
    ser.writeRawBytes(new Uint8Array(OBJECT_HEADER_BYTES));
    ser.writeHeader();
    ser.writeValue(value);
    buf = ser.releaseBuffer();
  } catch (e) {
    return {
      bytes: headerOnly(),
      error: new TypeError(`${fn}: value cannot be serialized with the structured clone algorithm: ${(e as Error).message}`),
    };
  }
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  objectHeader(bytes, root, bytes.length - OBJECT_HEADER_BYTES, set.rank());
  return { bytes };
}

function receivedObject<V>(value: V, data: Uint8Array, root: number, set: ProcessSet, name: string): V {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const roots = new Map<number, number[]>();
  let payload: Uint8Array | undefined;
  let rootSent = false;
  for (let off = 0; off + OBJECT_HEADER_BYTES <= data.length; ) {
    const sender = view.getFloat64(off, true);
    const named = view.getFloat64(off + 8, true);
    const length = view.getFloat64(off + 16, true);
    off += OBJECT_HEADER_BYTES;
    if (!roots.has(named)) roots.set(named, []);
    roots.get(named)!.push(sender);
    if (sender === named && named === root) {
      rootSent = true;
      if (length > 0) payload = data.subarray(off, off + length);
    }
    off += length;
  }
  // Every rank parses the same bytes, so every rank reaches the same verdict.
  if (roots.size > 1) {
    const groups = [...roots.entries()].sort((a, b) => a[1][0] - b[1][0]);
    const list = (ranks: number[]) => `${ranks.length === 1 ? 'rank' : 'ranks'} ${ranks.join(',')}`;
    throw new HorovodError(
      `Mismatched root ranks for broadcastObject '${name}': ` +
        groups.map(([r, ranks]) => `${list(ranks)} ${ranks.length === 1 ? 'has' : 'have'} ${r}`).join('; ') +
        '. Every rank must submit the same root ranks under one name.',
      'HVD_MISMATCH',
    );
  }
  if (!rootSent) {
    throw new HorovodError(
      `broadcastObject '${name}' cannot run: its root rank ${root} has already called hvd.join()`,
      'HVD_MISMATCH',
    );
  }
  if (set.rank() === root) return value;
  if (payload === undefined) {
    throw new HorovodError(
      `${name}: rank ${root} (the root) could not serialize its value, so there is nothing to receive; see the TypeError on rank ${root}`,
      'HVD_INVALID_ARGUMENT',
    );
  }
  return deserialize(payload) as V;
}

function splitObjects(lengths: Float64Array, data: Uint8Array): unknown[] {
  const out: unknown[] = [];
  let off = 0;
  for (const n of lengths) {
    out.push(deserialize(data.subarray(off, off + n)));
    off += n;
  }
  return out;
}

/**
 * Gathers one structured-clonable value from every rank; returns them in
 * rank order.
 *
 * @example
 * const hosts = await hvd.allgatherObject(os.hostname());
 */
export function allgatherObject<V>(value: V, options?: NameOptions): Promise<V[]> {
  running();
  const { name, processSet } = objectName(options, 'allgatherObject', 'allgatherObject');
  const mine = serialize(value, 'allgatherObject');
  // Both halves are submitted now; neither depends on the other's result.
  const lengths = allgather(new Float64Array([mine.length]), { name: `${name}.lengths`, processSet });
  const data = allgather(mine, { name: `${name}.data`, processSet });
  return Promise.all([lengths, data]).then(([l, d]) => splitObjects(l, d) as V[]);
}

/**
 * Blocking form of {@link allgatherObject}.
 *
 * @example
 * const counts = hvd.allgatherObjectSync({ rank: hvd.rank(), samples: n });
 */
export function allgatherObjectSync<V>(value: V, options?: NameOptions): V[] {
  running();
  const { name, processSet } = objectName(options, 'allgatherObject', 'allgatherObjectSync');
  const mine = serialize(value, 'allgatherObjectSync');
  const lengths = allgatherSync(new Float64Array([mine.length]), { name: `${name}.lengths`, processSet });
  const data = allgatherSync(mine, { name: `${name}.data`, processSet });
  return splitObjects(lengths, data) as V[];
}

/**
 * Allreduces IEEE half-precision values carried in a Uint16Array (dtype
 * float16 on the wire). Used by fp16 gradient compression. @internal
 */
export function allreduceFloat16Sync(
  data: Uint16Array,
  options: { name: string; op: 'average' | 'sum'; prescaleFactor?: number; postscaleFactor?: number },
): Uint16Array {
  const b = running();
  checkNotInflight([options.name]);
  const out = new Uint16Array(data.length);
  const item = { name: options.name, input: data, output: out, dtype: DType.float16, shape: [data.length] };
  try {
    b.enqueue(KIND.allreduce, [item], { op: OP_CODES[options.op], prescale: options.prescaleFactor ?? 1, postscale: options.postscaleFactor ?? 1 }, true);
  } catch (e) {
    throw fromNative(e);
  }
  return out;
}
