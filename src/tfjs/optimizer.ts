// DistributedOptimizer: averages gradients across ranks before any
// tf.train.Optimizer applies them.
//
// Design (README.md, "Design": DistributedOptimizer patches the instance):
// instead of subclassing or delegating, the user's optimizer instance gets
// its own applyGradients property and is returned as is. The alternatives
// were tried on all seven tf.train optimizers: a dynamic subclass rebuilt
// with fromConfig (horovod.keras's way) returns a new object and orphans the
// user's optimizer with its state (Adam leaked two variables per wrap); a
// delegating wrapper must forward every method and field by hand and loses
// model ownership. Every tfjs training path (minimize,
// computeGradients + applyGradients, variableGrads + applyGradients,
// model.fit, fitDataset, trainOnBatch) ends in that method, and because the
// object is unchanged its class, getConfig(), iterations, get/setWeights,
// learning-rate setters, dispose() and model ownership all keep working.
// tfjs calls it synchronously, so the allreduce inside is the blocking form.
import { allreduceFloat16Sync, allreduceSync } from '../collectives/allreduce';
import { fits, pack, packBuffer, packLayout, PackLayout } from '../collectives/packing';
import { globalProcessSet, ProcessSet, resolveSet } from '../process_sets';
import { inspect, readSync, TensorSpec } from '../tensor';
import { loadNative } from '../native';
import { Compression, Compressor } from './compression';
import { tfjs, wasmHeapView } from './tf';
import type * as tfTypes from '@tensorflow/tfjs';

type Optimizer = tfTypes.Optimizer;
type Tensor = tfTypes.Tensor;
type VariableGrads = Parameters<Optimizer['applyGradients']>[0];

/** Options of {@link DistributedOptimizer}, after Horovod's. */
export interface DistributedOptimizerOptions {
  /** `'average'` or `'sum'` of the ranks' gradients. Defaults to `'average'`. */
  op?: 'average' | 'sum';
  /** Accumulate this many local backward passes before communicating and applying. Defaults to 1. */
  backwardPassesPerStep?: number;
  /** With backwardPassesPerStep > 1: average (true) or sum (false) the accumulated passes. Defaults to false, as in Horovod. */
  averageAggregatedGradients?: boolean;
  /** Wire format for gradients. Defaults to `Compression.none`. */
  compression?: Compressor;
  /** Divide gradients by this before the sum and multiply by factor/size after (op 'average' only). Defaults to 1. */
  gradientPredivideFactor?: number;
  /**
   * Average (or sum) over this process set's ranks only: `op: 'average'`
   * divides by the set's size. Every member wraps its optimizer with the
   * same set; wrapping on a rank that is not a member is a RangeError
   * naming the set. Defaults to the global set.
   */
  processSet?: ProcessSet;
  /**
   * Prefix of the collective's name. Defaults to `DistributedOptimizer.<n>`
   * (`DistributedOptimizer.ps<id>.<n>` on a process set), n counting the
   * optimizers wrapped on that set in creation order.
   */
  name?: string;
}

const STATE = Symbol.for('hvd.DistributedOptimizer.state');

type Settings = Required<Omit<DistributedOptimizerOptions, 'name' | 'processSet'>>;

interface State {
  options: Settings;
  processSet: ProcessSet;
  name: string;
  /** The per-step collective's name (made once, not per step). */
  gradsName: string;
  original: (vg: VariableGrads) => void;
  /**
   * The packed gradients of the last step, kept for the next one when the
   * backend copies tensor data on creation (see reusesPack), so a step
   * allocates no pack of its own.
   */
  pack: Float32Array | null;
  /** Sum of local gradients since the last communication, by position. */
  accum: Float32Array | null;
  passes: number;
}

/** Optimizers wrapped so far, per process set id: the default names. */
const wrapped = new Map<number, number>();

function defaultName(set: ProcessSet): string {
  const n = wrapped.get(set.id) ?? 0;
  wrapped.set(set.id, n + 1);
  return set.id === 0 ? `DistributedOptimizer.${n}` : `DistributedOptimizer.ps${set.id}.${n}`;
}

function isOptimizer(x: unknown): x is Optimizer {
  const o = x as Optimizer;
  return (
    typeof o === 'object' && o !== null && typeof o.applyGradients === 'function' && typeof o.minimize === 'function' && typeof o.computeGradients === 'function'
  );
}

function validate(options: unknown): Settings & { name?: string; processSet: ProcessSet } {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError('DistributedOptimizer: options must be an object');
  }
  const allowed = ['op', 'backwardPassesPerStep', 'averageAggregatedGradients', 'compression', 'gradientPredivideFactor', 'processSet', 'name'];
  for (const k of Object.keys(options)) {
    if (!allowed.includes(k)) throw new TypeError(`DistributedOptimizer: unknown option '${k}' (allowed: ${allowed.join(', ')})`);
  }
  const o = options as DistributedOptimizerOptions;
  const op = o.op ?? 'average';
  if (op !== 'average' && op !== 'sum') throw new RangeError(`DistributedOptimizer: options.op must be 'average' or 'sum'; got '${String(op)}'`);
  const bpps = o.backwardPassesPerStep ?? 1;
  if (typeof bpps !== 'number' || !Number.isInteger(bpps) || bpps < 1) {
    throw new RangeError(`DistributedOptimizer: options.backwardPassesPerStep must be an integer >= 1; got ${String(bpps)}`);
  }
  const avgAgg = o.averageAggregatedGradients ?? false;
  if (typeof avgAgg !== 'boolean') throw new TypeError('DistributedOptimizer: options.averageAggregatedGradients must be a boolean');
  const compression = o.compression ?? Compression.none;
  if (compression !== Compression.none && compression !== Compression.fp16) {
    throw new TypeError('DistributedOptimizer: options.compression must be hvd.Compression.none or hvd.Compression.fp16');
  }
  const f = o.gradientPredivideFactor ?? 1;
  if (typeof f !== 'number' || !Number.isFinite(f) || f <= 0) {
    throw new RangeError(`DistributedOptimizer: options.gradientPredivideFactor must be a finite number > 0; got ${String(f)}`);
  }
  if (f !== 1 && op !== 'average') throw new RangeError("DistributedOptimizer: gradientPredivideFactor needs op 'average' (as in Horovod)");
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0)) {
    throw new TypeError('DistributedOptimizer: options.name must be a non-empty string');
  }
  // Checked when wrapping: a rank outside the set has no gradients to average with it.
  const processSet = o.processSet === undefined ? globalProcessSet : resolveSet(o.processSet, 'DistributedOptimizer');
  return { op, backwardPassesPerStep: bpps, averageAggregatedGradients: avgAgg, compression, gradientPredivideFactor: f, processSet, name: o.name };
}

/**
 * Wraps any `tf.train.Optimizer` so that gradients are averaged (or summed)
 * across ranks, in one fused allreduce per step, before it applies them.
 * Returns the same optimizer object, so it still passes `instanceof` checks,
 * can be given to `model.compile`, and keeps its state and methods.
 *
 * @param optimizer sgd, momentum, adam, adamax, adagrad, adadelta, rmsprop or any other tf.train.Optimizer.
 * @example
 * const opt = hvd.DistributedOptimizer(tf.train.adam(1e-3 * hvd.size()));
 * model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
 * await model.fit(xs, ys, { callbacks: [hvd.callbacks.broadcastGlobalVariablesCallback(0)] });
 */
export function DistributedOptimizer<T extends Optimizer>(optimizer: T, options?: DistributedOptimizerOptions): T {
  if (!isOptimizer(optimizer)) {
    throw new TypeError('DistributedOptimizer: optimizer must be a tf.train.Optimizer (something with minimize, computeGradients and applyGradients)');
  }
  if ((optimizer as unknown as Record<symbol, unknown>)[STATE]) {
    throw new TypeError('DistributedOptimizer: this optimizer is already distributed; wrapping it twice would reduce gradients twice');
  }
  const opts = validate(options);
  const state: State = {
    options: {
      op: opts.op,
      backwardPassesPerStep: opts.backwardPassesPerStep,
      averageAggregatedGradients: opts.averageAggregatedGradients,
      compression: opts.compression,
      gradientPredivideFactor: opts.gradientPredivideFactor,
    },
    processSet: opts.processSet,
    name: '',
    gradsName: '',
    original: optimizer.applyGradients,
    pack: null,
    accum: null,
    passes: 0,
  };
  state.name = opts.name ?? defaultName(opts.processSet);
  state.gradsName = `${state.name}.grads`;
  Object.defineProperty(optimizer, STATE, { value: state, enumerable: false });
  Object.defineProperty(optimizer, 'applyGradients', {
    value: function applyGradients(this: Optimizer, variableGradients: VariableGrads): void {
      distributedApply(this, state, variableGradients);
    },
    enumerable: false,
    configurable: true,
    writable: true,
  });
  return optimizer;
}

/** True for an optimizer returned by {@link DistributedOptimizer}. */
export function isDistributed(optimizer: unknown): boolean {
  return typeof optimizer === 'object' && optimizer !== null && STATE in (optimizer as object);
}

interface Entry {
  name: string;
  tensor: Tensor | null | undefined;
}

function entriesOf(vg: VariableGrads): { entries: Entry[]; isArray: boolean } {
  if (Array.isArray(vg)) return { entries: vg as Entry[], isArray: true };
  const map = vg as Record<string, Tensor>;
  return { entries: Object.keys(map).map((name) => ({ name, tensor: map[name] })), isArray: false };
}

function distributedApply(opt: Optimizer, state: State, vg: VariableGrads): void {
  const o = state.options;
  // Checked every step too: the set may have been removed since.
  const set = resolveSet(state.processSet, 'DistributedOptimizer');
  if (set.size() === 1 && o.backwardPassesPerStep === 1 && o.compression === Compression.none && o.gradientPredivideFactor === 1) {
    // A set of one: the average of one rank's gradients is those gradients.
    state.original.call(opt, vg);
    return;
  }
  const tf = tfjs();
  const reuse = reusesPack(tf);
  tf.tidy(() => {
    const { entries, isArray } = entriesOf(vg);
    // Reduce by position, never by name: variable names depend on how many
    // layers each process created before, and optimizers key slots by index.
    const specs = gradientSpecs(entries);
    const layout = packLayout(specs);

    let grads: Float32Array;
    if (o.backwardPassesPerStep > 1) {
      const acc = accumulate(state, layout, specs);
      state.passes++;
      if (state.passes < o.backwardPassesPerStep) return; // keep accumulating; nothing applied
      state.passes = 0;
      // The result tensors are made from acc: start the next round in fresh
      // memory unless the backend copied them (then acc is zeroed and kept).
      state.accum = null;
      if (o.averageAggregatedGradients) {
        const k = 1 / o.backwardPassesPerStep;
        for (let i = 0; i < acc.length; i++) acc[i] *= k;
      }
      grads = acc;
    } else {
      grads = gradientPack(state, layout, specs, reuse);
    }

    const reduced = reduce(grads, state, set);
    let off = 0;
    const rebuilt: Entry[] = entries.map((e) => {
      if (e.tensor == null) return e;
      const n = e.tensor.size;
      const t = tf.tensor(reduced.subarray(off, off + n), e.tensor.shape, 'float32');
      off += n;
      return { name: e.name, tensor: t };
    });
    const arg = isArray ? rebuilt : Object.fromEntries(rebuilt.map((e) => [e.name, e.tensor]));
    state.original.call(opt, arg as VariableGrads);
    if (reuse && o.backwardPassesPerStep > 1) state.accum = grads.fill(0);
  });
}

// Per tfjs instance and backend: does tf.tensor(array) copy the array?
const copying = new WeakMap<object, Map<string, boolean>>();

/**
 * Whether the backend copies a TypedArray when it makes a tensor from it
 * (wasm copies into its heap at once). Only then can the gradient pack be
 * reused next step: the cpu backend keeps the array as the tensor's storage
 * (a tensor the optimizer kept would see next step's gradients), and
 * tfjs-node and webgl read it lazily. Found out once per backend, by
 * changing an array after making a tensor of it.
 */
function reusesPack(tf: ReturnType<typeof tfjs>): boolean {
  const backend = tf.getBackend();
  let known = copying.get(tf);
  if (!known) copying.set(tf, (known = new Map()));
  let copies = known.get(backend);
  if (copies === undefined) {
    const probe = new Float32Array([1]);
    const t = tf.tensor(probe, [1], 'float32');
    probe[0] = 2;
    copies = t.dataSync()[0] === 1;
    t.dispose();
    known.set(backend, copies);
  }
  return copies;
}

/** The gradients to reduce: the non-null ones, float32 only. */
function gradientSpecs(entries: Entry[]): TensorSpec[] {
  const specs: TensorSpec[] = [];
  for (const e of entries) {
    if (e.tensor == null) continue;
    if (e.tensor.dtype !== 'float32') {
      throw new TypeError(`DistributedOptimizer: gradient '${e.name}' has dtype ${e.tensor.dtype}; only float32 gradients are supported`);
    }
    specs.push(inspect(e.tensor, `DistributedOptimizer: gradient '${e.name}'`));
  }
  return specs;
}

/**
 * This step's gradients packed back to back (src/collectives/packing.ts):
 * into last step's pack when `reuse` and it fits, else into a fresh one
 * from packBuffer().
 */
function gradientPack(state: State, layout: PackLayout, specs: TensorSpec[], reuse: boolean): Float32Array {
  if (layout.buckets.length === 0) return new Float32Array(0);
  const tf = tfjs();
  const [grads] = pack(layout, specs, reuse && state.pack ? [state.pack] : null, (s) => wasmHeapView(tf, s.tensor as Tensor)) as Float32Array[];
  state.pack = reuse ? grads : null;
  return grads;
}

/** Adds this pass's gradients into the accumulator (allocated zeroed when it does not fit). */
function accumulate(state: State, layout: PackLayout, specs: TensorSpec[]): Float32Array {
  if (layout.buckets.length === 0) return (state.accum = new Float32Array(0));
  if (!state.accum || !fits(layout, [state.accum])) state.accum = (packBuffer(layout.buckets[0]) as Float32Array).fill(0);
  const acc = state.accum;
  const tf = tfjs();
  layout.members.forEach((m, i) => {
    const data = (wasmHeapView(tf, specs[i].tensor as Tensor) ?? readSync(specs[i])) as Float32Array;
    for (let j = 0; j < m.length; j++) acc[m.offset + j] += data[j];
  });
  return acc;
}

function reduce(grads: Float32Array, state: State, set: ProcessSet): Float32Array {
  const o = state.options;
  const name = state.gradsName;
  const f = o.gradientPredivideFactor;
  // Horovod: predivide by f before the sum, multiply by f/size after; with
  // op 'average' the engine divides by the contributing ranks itself.
  const prescaleFactor = f !== 1 ? 1 / f : undefined;
  const postscaleFactor = f !== 1 ? f : undefined;
  if (o.compression === Compression.fp16) {
    const native = loadNative();
    const half = native.float32ToFloat16(grads);
    const out = allreduceFloat16Sync(half, { name, op: o.op, prescaleFactor, postscaleFactor, processSet: set });
    return native.float16ToFloat32(out);
  }
  // The packed buffer is ours: reduce in place, which saves allocating (and
  // page-faulting in) a second buffer of the same size.
  return allreduceSync(grads, { name, op: o.op, prescaleFactor, postscaleFactor, inPlace: true, processSet: set });
}
