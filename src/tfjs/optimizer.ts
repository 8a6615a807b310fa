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
import { pack, packLayout } from '../collectives/packing';
import { inspect, TensorSpec } from '../tensor';
import { loadNative } from '../native';
import { size } from '../basics';
import { Compression, Compressor } from './compression';
import { tfjs } from './tf';
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
  /** Prefix of the collective's name. Defaults to `DistributedOptimizer.<n>`, n counting wrapped optimizers in creation order. */
  name?: string;
}

const STATE = Symbol.for('hvd.DistributedOptimizer.state');

interface State {
  options: Required<Omit<DistributedOptimizerOptions, 'name'>>;
  name: string;
  original: (vg: VariableGrads) => void;
  /** Sum of local gradients since the last communication, by position. */
  accum: Float32Array | null;
  passes: number;
}

let wrapped = 0;

function isOptimizer(x: unknown): x is Optimizer {
  const o = x as Optimizer;
  return (
    typeof o === 'object' && o !== null && typeof o.applyGradients === 'function' && typeof o.minimize === 'function' && typeof o.computeGradients === 'function'
  );
}

function validate(options: unknown): Required<Omit<DistributedOptimizerOptions, 'name'>> & { name?: string } {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError('DistributedOptimizer: options must be an object');
  }
  const allowed = ['op', 'backwardPassesPerStep', 'averageAggregatedGradients', 'compression', 'gradientPredivideFactor', 'name'];
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
  return { op, backwardPassesPerStep: bpps, averageAggregatedGradients: avgAgg, compression, gradientPredivideFactor: f, name: o.name };
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
    name: opts.name ?? `DistributedOptimizer.${wrapped++}`,
    original: optimizer.applyGradients,
    accum: null,
    passes: 0,
  };
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
  const o0 = state.options;
  if (size() === 1 && o0.backwardPassesPerStep === 1 && o0.compression === Compression.none && o0.gradientPredivideFactor === 1) {
    // A world of one: the average of one rank's gradients is those gradients.
    state.original.call(opt, vg);
    return;
  }
  const tf = tfjs();
  tf.tidy(() => {
    const { entries, isArray } = entriesOf(vg);
    // Reduce by position, never by name: variable names depend on how many
    // layers each process created before, and optimizers key slots by index.
    const local = packGradients(entries);
    const total = local.length;

    const o = state.options;
    let grads: Float32Array = local;
    if (o.backwardPassesPerStep > 1) {
      if (state.accum === null || state.accum.length !== total) state.accum = new Float32Array(total);
      const acc = state.accum;
      for (let i = 0; i < total; i++) acc[i] += local[i];
      state.passes++;
      if (state.passes < o.backwardPassesPerStep) return; // keep accumulating; nothing applied
      grads = acc;
      state.accum = null;
      state.passes = 0;
      if (o.averageAggregatedGradients) {
        const k = 1 / o.backwardPassesPerStep;
        for (let i = 0; i < total; i++) grads[i] *= k;
      }
    }

    const reduced = reduce(grads, state);
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
  });
}

/** The non-null gradients, packed back to back in order (src/collectives/packing.ts). */
function packGradients(entries: Entry[]): Float32Array {
  const specs: TensorSpec[] = [];
  for (const e of entries) {
    if (e.tensor == null) continue;
    if (e.tensor.dtype !== 'float32') {
      throw new TypeError(`DistributedOptimizer: gradient '${e.name}' has dtype ${e.tensor.dtype}; only float32 gradients are supported`);
    }
    specs.push(inspect(e.tensor, `DistributedOptimizer: gradient '${e.name}'`));
  }
  if (specs.length === 0) return new Float32Array(0);
  return pack(packLayout(specs), specs)[0] as Float32Array;
}

function reduce(grads: Float32Array, state: State): Float32Array {
  const o = state.options;
  const name = `${state.name}.grads`;
  const f = o.gradientPredivideFactor;
  // Horovod: predivide by f before the sum, multiply by f/size after; with
  // op 'average' the engine divides by the contributing ranks itself.
  const prescaleFactor = f !== 1 ? 1 / f : undefined;
  const postscaleFactor = f !== 1 ? f : undefined;
  if (o.compression === Compression.fp16) {
    const native = loadNative();
    const half = native.float32ToFloat16(grads);
    const out = allreduceFloat16Sync(half, { name, op: o.op, prescaleFactor, postscaleFactor });
    return native.float16ToFloat32(out);
  }
  // The packed buffer is ours and fresh each step: reduce in place, which
  // saves allocating (and page-faulting in) a second buffer of the same size.
  return allreduceSync(grads, { name, op: o.op, prescaleFactor, postscaleFactor, inPlace: true });
}
