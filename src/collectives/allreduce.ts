// allreduce and groupedAllreduce: every rank gets the reduction of every
// rank's tensor.
import { running } from '../basics';
import { KINDS } from '../codes';
import { checkNotInPlaceTarget, isInPlaceTarget } from '../inputs';
import { fromNative } from '../errors';
import { NativeBinding, NativeOptions } from '../native';
import { resolveSet, type ProcessSet } from '../process_sets';
import { DType, HvdTypedArray, inspect, inspectTyped, plainTypedDtype, TensorInput, TensorSpec, toItem, wrap } from '../tensor';
import { outputArray, outputBuffer } from './buffers';
import { checkOut, namedOutError, overlap } from './out';
import { autoName, nameOf } from './naming';
import { cachedGroupPlan, GroupPlan, layoutKey, pack, packBuffer, packLayout, PackLayout, rememberGroupPlan, unpack } from './packing';
import { isReduceOp, OP_CODES, ReduceOp, ReductionOptions } from './reduce_op';
import { Call, callSite, checkNameNotInflight, submit, submitSync } from './submit';
import { checkOptions, checkReducible, checkReduction, checkTensorList, isReducible, isReducibleAs, reductionOptions } from './validation';

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
  /**
   * Write the result into this TypedArray (the input's type and length) and
   * return it, allocating nothing: as mpi4py's receive buffers. The input
   * itself makes the call in place. TypedArray inputs only. With the Promise
   * form it belongs to the engine until the Promise settles.
   */
  out?: HvdTypedArray;
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
  /**
   * Member i's result goes into out[i], a TypedArray of tensors[i]'s type
   * and length (the input itself is allowed). The call then allocates no
   * buffer: members are packed into one that hvd keeps for the group's
   * layout and reuses. TypedArray members only.
   */
  out?: HvdTypedArray[];
}

interface Prepared {
  fn: string;
  specs: TensorSpec[];
  names: string[];
  options: NativeOptions;
  inPlace?: boolean;
  /** The caller's options.out (not the input: that is inPlace). */
  out?: HvdTypedArray;
  /** A group's options.out, one per member. */
  outs?: HvdTypedArray[];
  /** A group of TypedArrays: its layout, made once for the caller's list (packing.ts). */
  plan?: GroupPlan;
}

function prepareAllreduce(tensor: unknown, options: unknown, fn: string): Prepared {
  const opts = checkOptions(options, ['op', 'name', 'prescaleFactor', 'postscaleFactor', 'shape', 'inPlace', 'out'], fn);
  const spec = (opts.shape === undefined ? inspectTyped(tensor) : null) ?? inspect(tensor, `${fn}: tensor`, opts.shape);
  const r = checkReduction(opts, fn);
  checkReducible(spec, r, 'tensor', fn);
  if (opts.inPlace !== undefined && typeof opts.inPlace !== 'boolean') throw new TypeError(`${fn}: options.inPlace must be a boolean`);
  let inPlace = opts.inPlace === true;
  const oc = checkOut(opts.out, spec, fn, spec.array?.length, true);
  if (oc && inPlace && !oc.aliasesInput) {
    throw new TypeError(`${fn}: options.inPlace reduces into the input, options.out into another array: pass one of them`);
  }
  if (oc?.aliasesInput) inPlace = true;
  const out = oc && !oc.aliasesInput ? oc.out : undefined;
  if (inPlace && spec.kind === 'tensor') {
    throw new TypeError(`${fn}: options.inPlace needs a TypedArray; a tfjs Tensor's memory may be shared with other tensors`);
  }
  if (spec.array) checkNotInPlaceTarget(spec.array, fn, inPlace);
  const name = nameOf(opts, 'allreduce', fn);
  const processSet = resolveSet(opts.processSet, fn).id;
  return { fn, specs: [spec], names: [name], options: reductionOptions(r, processSet), inPlace, out };
}

function prepareGrouped(tensors: unknown, options: unknown, fn: string): Prepared {
  const opts = checkOptions(options, ['op', 'name', 'prescaleFactor', 'postscaleFactor', 'out'], fn);
  const list = checkTensorList(tensors, fn);
  const r = checkReduction(opts, fn);
  // The same TypedArrays as the last call with this list: their checks
  // hold still, and only the reduction, which may differ, is checked (per
  // dtype; a failure takes the member loop below, which names the member).
  let plan = cachedGroupPlan(list);
  if (plan && !plan.layout.buckets.every((b) => isReducibleAs(b.dtype, r.op, r.pre, r.post))) plan = null;
  let specs: TensorSpec[];
  if (plan) {
    specs = plan.specs;
  } else {
    // Argument names are built only for a member that fails (100 members:
    // building them for every member cost about 10 us and 20 KB of garbage).
    specs = new Array(list.length);
    let typed = true;
    for (let i = 0; i < list.length; i++) {
      const fast = inspectTyped(list[i]);
      if (fast === null) typed = false;
      const spec = fast ?? inspect(list[i], `${fn}: tensors[${i}]`);
      if (!isReducible(spec, r)) checkReducible(spec, r, `tensors[${i}]`, fn);
      specs[i] = spec;
    }
    // Tensors are not remembered: a tfjs Tensor can be disposed between calls.
    if (typed) plan = rememberGroupPlan(list, specs);
  }
  const outs = checkGroupOut(opts.out, specs, fn);
  const group = nameOf(opts, 'groupedAllreduce', fn);
  return { fn, specs, names: [group], options: reductionOptions(r, resolveSet(opts.processSet, fn).id, group), outs, plan: plan ?? undefined };
}

/** options.out of a group: an array with one checkOut-valid array per member. */
function checkGroupOut(value: unknown, specs: TensorSpec[], fn: string): HvdTypedArray[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length !== specs.length) {
    throw new TypeError(`${fn}: options.out must be an array of ${specs.length} TypedArrays, one per tensor; got ${Array.isArray(value) ? `${value.length}` : typeof value}`);
  }
  // Members are packed before anything runs, so an out that is the
  // member's own input is fine (its result replaces it).
  return specs.map((spec, i) => checkOut(value[i], spec, fn, spec.array?.length, true, `options.out[${i}]`)!.out);
}

// Pack buffers of calls with options.out, kept per bucket type and length
// and reused: such a call's results are copied out, so its pack is free
// again once the call is done. A few per shape, a few shapes.
const SPARE_PACKS_PER_SHAPE = 4;
const SPARE_PACK_SHAPES = 16;
const sparePacks = new Map<string, HvdTypedArray[]>();

function packKey(b: PackLayout['buckets'][number]): string {
  return `${b.dtype}:${b.length}`;
}

function takePacks(layout: PackLayout): HvdTypedArray[] {
  return layout.buckets.map((b) => sparePacks.get(packKey(b))?.pop() ?? packBuffer(b));
}

function returnPacks(layout: PackLayout, buffers: HvdTypedArray[]): void {
  layout.buckets.forEach((b, i) => {
    const key = packKey(b);
    let list = sparePacks.get(key);
    if (!list) {
      if (sparePacks.size >= SPARE_PACK_SHAPES) sparePacks.delete(sparePacks.keys().next().value as string);
      list = [];
      sparePacks.set(key, list);
    }
    if (list.length < SPARE_PACKS_PER_SHAPE) list.push(buffers[i]);
  });
}

/**
 * Output arrays for a call. A group's outputs of one dtype are views into a
 * single ArrayBuffer, back to back in order: the engine then reduces right
 * in that buffer and skips the copy out of its fusion buffer.
 */
function outputsFor(p: Prepared, inputs: HvdTypedArray[]): HvdTypedArray[] {
  if (p.inPlace) return inputs;
  if (p.out) return [p.out];
  if (p.specs.length === 1) return [outputArray(p.specs[0].ctor, inputs[0].length)];
  const totals = new Map<TensorSpec['ctor'], number>();
  p.specs.forEach((s, i) => totals.set(s.ctor, (totals.get(s.ctor) ?? 0) + inputs[i].length));
  const buffers = new Map<TensorSpec['ctor'], { buf: ArrayBuffer; off: number }>();
  for (const [ctor, n] of totals) {
    const bytes = (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    buffers.set(ctor, { buf: outputBuffer(n * bytes), off: 0 });
  }
  return p.specs.map((s, i) => {
    const slot = buffers.get(s.ctor)!;
    const view = new (s.ctor as unknown as new (b: ArrayBuffer, o: number, l: number) => HvdTypedArray)(slot.buf, slot.off, inputs[i].length);
    slot.off += view.byteLength;
    return view;
  });
}

/** The engine call of a prepared allreduce; results are its output arrays, one per item. */
function allreduceCall(p: Prepared): Call<HvdTypedArray[]> {
  let outputs: HvdTypedArray[] = [];
  return {
    kind: KINDS.allreduce,
    fn: p.fn,
    names: p.names,
    options: p.options,
    specs: p.specs,
    inPlace: p.inPlace,
    outs: p.out ? [p.out] : undefined,
    items: (inputs) => {
      outputs = outputsFor(p, inputs);
      return p.specs.map((s, i) => toItem(p.names[i], s, inputs[i], outputs[i]));
    },
    result: () => outputs,
  };
}

// The common call, `allreduceSync(typedArray, {op, name, prescaleFactor,
// postscaleFactor, out})` on the global set, made without the general path's
// spec, Prepared and Call objects and their arrays and closures: those were
// about 1.4 KB of garbage per call (V8's sampling heap profiler, 4-byte
// calls), a young-generation collection every ~1,400 calls, which stalls the
// peers too. It checks what prepareAllreduce checks; anything else (other
// options, Tensors, a value the general path would reject) returns
// undefined before naming the call, and the general path then runs (and
// throws the error). Results are the general path's: the same request.
const SMALL_KEYS = new Set(['op', 'name', 'prescaleFactor', 'postscaleFactor', 'out']);

function smallSync(b: NativeBinding, tensor: unknown, options: unknown): HvdTypedArray | undefined {
  const dtype = plainTypedDtype(tensor);
  if (dtype === undefined) return undefined;
  let op: ReduceOp = 'average';
  let pre = 1;
  let post = 1;
  let name: unknown;
  let out: unknown;
  if (options !== undefined) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) return undefined;
    for (const key in options) if (!SMALL_KEYS.has(key)) return undefined;
    const o = options as AllreduceOptions;
    if (o.op !== undefined) {
      if (!isReduceOp(o.op)) return undefined;
      op = o.op;
    }
    // Number.isFinite is false for anything but a finite number (checkScale's rule).
    if (o.prescaleFactor !== undefined) {
      if (!Number.isFinite(o.prescaleFactor)) return undefined;
      pre = o.prescaleFactor;
    }
    if (o.postscaleFactor !== undefined) {
      if (!Number.isFinite(o.postscaleFactor)) return undefined;
      post = o.postscaleFactor;
    }
    name = o.name;
    if (name !== undefined && (typeof name !== 'string' || name.length === 0)) return undefined;
    out = o.out;
  }
  if (!isReducibleAs(dtype, op, pre, post)) return undefined;
  const input = tensor as HvdTypedArray;
  // `out` as checkOut accepts it, other than the input itself (in place):
  // the same type and length, no shared memory with the input, not a
  // target in flight. Anything else goes the general way.
  if (out !== undefined) {
    const o = out as HvdTypedArray;
    if (plainTypedDtype(o) !== dtype || o.constructor !== input.constructor || o.length !== input.length) return undefined;
    if (overlap(o, input) || isInPlaceTarget(o)) return undefined;
  }
  checkNotInPlaceTarget(input, 'allreduceSync', false);
  const n = (name as string | undefined) ?? autoName('allreduce');
  checkNameNotInflight(n);
  const ctor = input.constructor as TensorSpec['ctor'];
  // Without `out`, a result small enough for V8 to keep inside its heap
  // object (64 bytes) is written into a scratch array and then copied into
  // one by slice(): the addon cannot write into such an array without first
  // moving its contents out of the heap, an allocation and a copy per call.
  const scratch = out === undefined && input.byteLength <= SCRATCH_BYTES;
  const output = out !== undefined
    ? (out as HvdTypedArray)
    : scratch
      ? new (ctor as unknown as new (b: ArrayBuffer, o: number, l: number) => HvdTypedArray)(scratchBuffer(), 0, input.length)
      : outputArray(ctor, input.length);
  try {
    b.enqueueOne(KINDS.allreduce, true, n, input, output, DType[dtype], input.length, undefined, OP_CODES[op], 0, pre, post, 0, undefined);
  } catch (e) {
    throw namedOutError(fromNative(e), 'allreduceSync');
  }
  return scratch ? output.slice() : output;
}

// V8's typed_array_max_size_in_heap: up to this size `new Float32Array(n)`
// and slice() keep their elements inside the object.
const SCRATCH_BYTES = 64;
let scratchAb: ArrayBuffer | undefined;
function scratchBuffer(): ArrayBuffer {
  return (scratchAb ??= new ArrayBuffer(SCRATCH_BYTES));
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
  return submit(allreduceCall(p), callSite(allreduce)).then((out) => wrap<T>(p.specs[0], out[0], p.specs[0].shape));
}

/**
 * Blocking form of {@link allreduce}: returns the reduced value directly.
 * This is what DistributedOptimizer uses inside tfjs's synchronous training step.
 *
 * @example
 * const g = hvd.allreduceSync(grad, { name: 'grad/w' });
 */
export function allreduceSync<T extends TensorInput>(tensor: T, options?: AllreduceOptions): T {
  const b = running();
  const fast = smallSync(b, tensor, options);
  if (fast !== undefined) return fast as T;
  const p = prepareAllreduce(tensor, options, 'allreduceSync');
  return wrap<T>(p.specs[0], submitSync(allreduceCall(p))[0], p.specs[0].shape);
}

/**
 * A group travels as one tensor per dtype (src/collectives/packing.ts): the
 * members are copied back to back into one buffer, reduced there in place,
 * and come back as views into it. That is one request to negotiate per
 * dtype instead of one per member, and no copy out. The members' shapes are
 * part of the group's key, so ranks whose groups are laid out differently
 * fail with HVD_MISMATCH.
 */
function packedGroup(p: Prepared): { call: Call<HvdTypedArray[]>; layout: PackLayout; buffers: HvdTypedArray[] } {
  const layout = p.plan?.layout ?? packLayout(p.specs);
  const buffers = pack(layout, p.specs, p.outs ? takePacks(layout) : null);
  const group = p.options.group!;
  const specs: TensorSpec[] = layout.buckets.map((b, i) => ({ kind: 'typed', dtype: b.dtype, ctor: b.ctor, shape: [b.length], array: buffers[i] }));
  const packed: Prepared = {
    fn: p.fn,
    specs,
    names: layout.buckets.map((b) => `${group}.${b.dtype}`),
    options: { ...p.options, group: `${group} ${p.plan?.key ?? layoutKey(layout)}` },
    inPlace: true,
  };
  const call = allreduceCall(packed);
  // No other collective may touch the out arrays while this one is in flight.
  if (p.outs) call.outs = p.outs;
  return { call, layout, buffers };
}

function unpackGroup<T>(p: Prepared, layout: PackLayout, outs: HvdTypedArray[]): T[] {
  if (p.outs) {
    for (let i = 0; i < p.outs.length; i++) {
      const m = layout.members[i];
      p.outs[i].set(outs[m.bucket].subarray(m.offset, m.offset + m.length) as never);
    }
    returnPacks(layout, outs);
    return p.outs as unknown as T[];
  }
  const views = unpack(layout, outs);
  for (let i = 0; i < views.length; i++) {
    if (p.specs[i].kind === 'tensor') views[i] = wrap<HvdTypedArray>(p.specs[i], views[i], p.specs[i].shape);
  }
  return views as unknown as T[];
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
  const { call, layout, buffers } = packedGroup(p);
  return submit(call, site).then(
    (outs) => unpackGroup<T>(p, layout, outs),
    (e) => {
      if (p.outs) returnPacks(layout, buffers);
      throw e;
    },
  );
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
  const { call, layout, buffers } = packedGroup(p);
  let results: HvdTypedArray[];
  try {
    results = submitSync(call);
  } catch (e) {
    if (p.outs) returnPacks(layout, buffers);
    throw e;
  }
  return unpackGroup<T>(p, layout, results);
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
  return submitSync(allreduceCall(members)).map((o, i) => wrap<T>(p.specs[i], o, p.specs[i].shape));
}

/**
 * Allreduces IEEE half-precision values carried in a Uint16Array (dtype
 * float16 on the wire). Used by fp16 gradient compression. @internal
 */
export function allreduceFloat16Sync(
  data: Uint16Array,
  options: { name: string; op: 'average' | 'sum'; prescaleFactor?: number; postscaleFactor?: number; processSet?: ProcessSet },
): Uint16Array {
  running();
  const out = new Uint16Array(data.length);
  const processSet = resolveSet(options.processSet, 'allreduceFloat16Sync').id;
  return submitSync({
    kind: KINDS.allreduce,
    fn: 'allreduceFloat16Sync',
    names: [options.name],
    options: { op: OP_CODES[options.op], prescale: options.prescaleFactor ?? 1, postscale: options.postscaleFactor ?? 1, processSet },
    specs: [],
    items: () => [{ name: options.name, input: data, output: out, dtype: DType.float16, shape: [data.length] }],
    result: () => out,
  });
}
