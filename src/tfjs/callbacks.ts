// Callbacks for model.fit, after Horovod's Keras callbacks. Each is a class
// (built on first use from the application's tfjs, because tfjs-layers
// checks callbacks with a real `instanceof tf.Callback`) plus a lowercase
// factory, as tfjs does (EarlyStopping / earlyStopping).
import { allreduce } from '../collectives/allreduce';
import { broadcastModel, broadcastOptimizerState, setOf, TfjsBroadcastOptions } from './broadcast';
import type { ProcessSet } from '../process_sets';
import { tfjs } from './tf';
import type * as tfTypes from '@tensorflow/tfjs';

type Logs = Record<string, number | tfTypes.Scalar>;
type Callback = tfTypes.Callback;

/** Arguments of {@link LearningRateWarmupCallback}. */
export interface LearningRateWarmupArgs {
  /** The target learning rate, already scaled by hvd.size() as the Horovod recipe does. */
  initialLr: number;
  /** Epochs over which the rate ramps from initialLr/size to initialLr. Defaults to 5. */
  warmupEpochs?: number;
  /** Batches per epoch; needed when fit cannot tell (fitDataset without batchesPerEpoch). Defaults to fit's own count. */
  stepsPerEpoch?: number;
  /** 1 prints the rate reached at the end of warmup on rank 0. Defaults to 0. */
  verbose?: number;
  /** The set that trains together: the ramp starts at initialLr / its size. Defaults to the global set. */
  processSet?: ProcessSet;
}

/** Arguments of {@link LearningRateScheduleCallback}. */
export interface LearningRateScheduleArgs {
  /** The base learning rate. */
  initialLr: number;
  /** A constant factor, or a function of the (fractional, if not staircase) epoch giving the factor. */
  multiplier: number | ((epoch: number) => number);
  /** First epoch the schedule applies to. Defaults to 0. */
  startEpoch?: number;
  /** Epoch the schedule stops applying (exclusive). Defaults to no end. */
  endEpoch?: number;
  /** Change the rate at epoch boundaries only (true) or every batch with fractional epochs (false). Defaults to true. */
  staircase?: boolean;
  /** Batches per epoch, for staircase false when fit cannot tell. Defaults to fit's own count. */
  stepsPerEpoch?: number;
}

export interface CallbackClasses {
  /** At train begin (and once more after the first batch, when the optimizer's slots exist) sets every rank's model and optimizer state to root's. */
  BroadcastGlobalVariablesCallback: new (rootRank?: number, options?: TfjsBroadcastOptions) => Callback;
  /** Replaces each epoch's metrics in `logs` with their average across ranks (of `options.processSet`). List it before callbacks that read metrics. */
  MetricAverageCallback: new (options?: TfjsBroadcastOptions) => Callback;
  /** Ramps the learning rate linearly from initialLr/size to initialLr over warmupEpochs (Goyal et al., 2017). */
  LearningRateWarmupCallback: new (args: LearningRateWarmupArgs) => Callback;
  /** Sets the learning rate to initialLr * multiplier(epoch) between startEpoch and endEpoch. */
  LearningRateScheduleCallback: new (args: LearningRateScheduleArgs) => Callback;
}

/** Sets an optimizer's learning rate the way that works for each tfjs optimizer. */
export function setLearningRate(optimizer: tfTypes.Optimizer, lr: number): void {
  const o = optimizer as unknown as { setLearningRate?: (lr: number) => void; learningRate?: number };
  // SGD and Momentum cache a -lr scalar: assigning the field has no effect there.
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}

export function getLearningRate(optimizer: tfTypes.Optimizer): number | undefined {
  const lr = (optimizer as unknown as { learningRate?: number }).learningRate;
  return typeof lr === 'number' ? lr : undefined;
}

function stepsPerEpoch(params: Record<string, unknown> | undefined, explicit: number | undefined, who: string): number {
  if (explicit !== undefined) return explicit;
  const steps = params?.steps as number | undefined;
  if (typeof steps === 'number' && steps > 0) return steps;
  const samples = params?.samples as number | undefined;
  const batchSize = params?.batchSize as number | undefined;
  if (typeof samples === 'number' && typeof batchSize === 'number' && batchSize > 0) return Math.ceil(samples / batchSize);
  throw new Error(`${who}: cannot tell the number of batches per epoch; pass stepsPerEpoch`);
}

function checkPositive(v: unknown, what: string, who: string, integer = false): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw new RangeError(`${who}: ${what} must be a ${integer ? 'non-negative integer' : 'finite number >= 0'}; got ${String(v)}`);
  }
}

let classes: CallbackClasses | undefined;

function build(): CallbackClasses {
  const tf = tfjs();

  class BroadcastGlobalVariablesCallback extends tf.Callback {
    private readonly rootRank: number;
    private readonly processSet: ProcessSet;
    private slotsSynced = false;
    constructor(rootRank = 0, options?: TfjsBroadcastOptions) {
      super();
      if (typeof rootRank !== 'number' || !Number.isInteger(rootRank) || rootRank < 0) {
        throw new RangeError(`BroadcastGlobalVariablesCallback: rootRank must be a non-negative integer; got ${String(rootRank)}`);
      }
      this.rootRank = rootRank;
      // Checked now, so that a rank outside the set fails before model.fit starts.
      this.processSet = setOf(options, 'BroadcastGlobalVariablesCallback');
    }
    async onTrainBegin(): Promise<void> {
      await broadcastModel(this.model as unknown as Parameters<typeof broadcastModel>[0], this.rootRank, { processSet: this.processSet });
    }
    async onBatchEnd(): Promise<void> {
      // Slots (Adam's moments...) are created lazily by the first step.
      if (this.slotsSynced) return;
      this.slotsSynced = true;
      const opt = (this.model as unknown as { optimizer?: tfTypes.Optimizer }).optimizer;
      if (opt) await broadcastOptimizerState(opt, this.rootRank, { processSet: this.processSet });
    }
  }

  class MetricAverageCallback extends tf.Callback {
    private readonly processSet: ProcessSet;
    constructor(options?: TfjsBroadcastOptions) {
      super();
      // A job that trains on a process set averages over that set: the
      // global set would wait for ranks that never train.
      this.processSet = setOf(options, 'MetricAverageCallback');
    }
    async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
      if (!logs) return;
      const keys = Object.keys(logs).sort();
      const values = new Float64Array(keys.length);
      for (let i = 0; i < keys.length; i++) {
        const v = logs[keys[i]];
        if (typeof v === 'number') {
          values[i] = v;
        } else {
          values[i] = (await v.data())[0];
          v.dispose();
        }
      }
      const avg = await allreduce(values, { name: `MetricAverageCallback.${epoch}`, processSet: this.processSet });
      keys.forEach((k, i) => {
        logs[k] = avg[i];
      });
    }
  }

  class LearningRateWarmupCallback extends tf.Callback {
    private readonly args: Required<Omit<LearningRateWarmupArgs, 'stepsPerEpoch' | 'processSet'>> & { stepsPerEpoch?: number };
    private readonly processSet: ProcessSet;
    private epoch = 0;
    private steps = 0;
    constructor(args: LearningRateWarmupArgs) {
      super();
      if (typeof args !== 'object' || args === null) throw new TypeError('LearningRateWarmupCallback: args must be an object');
      checkPositive(args.initialLr, 'initialLr', 'LearningRateWarmupCallback');
      const warmupEpochs = args.warmupEpochs ?? 5;
      checkPositive(warmupEpochs, 'warmupEpochs', 'LearningRateWarmupCallback');
      if (args.stepsPerEpoch !== undefined) checkPositive(args.stepsPerEpoch, 'stepsPerEpoch', 'LearningRateWarmupCallback', true);
      this.args = { initialLr: args.initialLr, warmupEpochs, stepsPerEpoch: args.stepsPerEpoch, verbose: args.verbose ?? 0 };
      this.processSet = setOf({ processSet: args.processSet }, 'LearningRateWarmupCallback');
    }
    /** The rate for a fractional epoch, as in Horovod: lr/size * (e*(size-1)/warmup + 1). */
    rateAt(epoch: number): number {
      const { initialLr, warmupEpochs } = this.args;
      if (warmupEpochs === 0 || epoch >= warmupEpochs) return initialLr;
      const n = this.processSet.size();
      return (initialLr / n) * ((epoch * (n - 1)) / warmupEpochs + 1);
    }
    async onTrainBegin(): Promise<void> {
      this.steps = stepsPerEpoch(this.params as Record<string, unknown>, this.args.stepsPerEpoch, 'LearningRateWarmupCallback');
    }
    async onEpochBegin(epoch: number): Promise<void> {
      this.epoch = epoch;
    }
    async onBatchBegin(batch: number, logs?: Logs): Promise<void> {
      if (this.epoch >= this.args.warmupEpochs) return;
      const lr = this.rateAt(this.epoch + batch / this.steps);
      setLearningRate(this.optimizer(), lr);
      if (logs) logs.lr = lr;
    }
    async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
      if (epoch === Math.ceil(this.args.warmupEpochs) - 1) {
        setLearningRate(this.optimizer(), this.args.initialLr);
        if (this.args.verbose && this.processSet.rank() === 0) console.log(`Epoch ${epoch + 1}: finished gradual learning rate warmup to ${this.args.initialLr}.`);
      }
      const lr = getLearningRate(this.optimizer());
      if (logs && lr !== undefined) logs.lr = lr;
    }
    private optimizer(): tfTypes.Optimizer {
      return (this.model as unknown as { optimizer: tfTypes.Optimizer }).optimizer;
    }
  }

  class LearningRateScheduleCallback extends tf.Callback {
    private readonly args: LearningRateScheduleArgs & { startEpoch: number; staircase: boolean };
    private epoch = 0;
    private steps = 0;
    constructor(args: LearningRateScheduleArgs) {
      super();
      if (typeof args !== 'object' || args === null) throw new TypeError('LearningRateScheduleCallback: args must be an object');
      checkPositive(args.initialLr, 'initialLr', 'LearningRateScheduleCallback');
      if (typeof args.multiplier !== 'number' && typeof args.multiplier !== 'function') {
        throw new TypeError('LearningRateScheduleCallback: multiplier must be a number or a function of the epoch');
      }
      const startEpoch = args.startEpoch ?? 0;
      checkPositive(startEpoch, 'startEpoch', 'LearningRateScheduleCallback');
      if (args.endEpoch !== undefined) checkPositive(args.endEpoch, 'endEpoch', 'LearningRateScheduleCallback');
      this.args = { ...args, startEpoch, staircase: args.staircase ?? true };
    }
    /** The rate for an epoch (fractional when not staircase), or undefined outside [startEpoch, endEpoch). */
    rateAt(epoch: number): number | undefined {
      const { initialLr, multiplier, startEpoch, endEpoch } = this.args;
      if (epoch < startEpoch || (endEpoch !== undefined && epoch >= endEpoch)) return undefined;
      const m = typeof multiplier === 'number' ? multiplier : multiplier(epoch);
      return initialLr * m;
    }
    async onTrainBegin(): Promise<void> {
      if (!this.args.staircase) this.steps = stepsPerEpoch(this.params as Record<string, unknown>, this.args.stepsPerEpoch, 'LearningRateScheduleCallback');
    }
    async onEpochBegin(epoch: number): Promise<void> {
      this.epoch = epoch;
      if (this.args.staircase) this.apply(epoch);
    }
    async onBatchBegin(batch: number): Promise<void> {
      if (!this.args.staircase) this.apply(this.epoch + batch / this.steps);
    }
    async onEpochEnd(_epoch: number, logs?: Logs): Promise<void> {
      const lr = getLearningRate((this.model as unknown as { optimizer: tfTypes.Optimizer }).optimizer);
      if (logs && lr !== undefined) logs.lr = lr;
    }
    private apply(epoch: number): void {
      const lr = this.rateAt(epoch);
      if (lr !== undefined) setLearningRate((this.model as unknown as { optimizer: tfTypes.Optimizer }).optimizer, lr);
    }
  }

  return { BroadcastGlobalVariablesCallback, MetricAverageCallback, LearningRateWarmupCallback, LearningRateScheduleCallback };
}

function get(): CallbackClasses {
  if (!classes) classes = build();
  return classes;
}

/**
 * hvd's model.fit callbacks. Classes are created on first access from the
 * application's tfjs, so `instanceof tf.Callback` holds.
 *
 * @example
 * await model.fit(xs, ys, {
 *   callbacks: [
 *     hvd.callbacks.broadcastGlobalVariablesCallback(0),
 *     hvd.callbacks.metricAverageCallback(),
 *     hvd.callbacks.learningRateWarmupCallback({ initialLr: 1e-3 * hvd.size(), warmupEpochs: 1 }),
 *   ],
 * });
 */
export const callbacks = {
  get BroadcastGlobalVariablesCallback(): CallbackClasses['BroadcastGlobalVariablesCallback'] {
    return get().BroadcastGlobalVariablesCallback;
  },
  get MetricAverageCallback(): CallbackClasses['MetricAverageCallback'] {
    return get().MetricAverageCallback;
  },
  get LearningRateWarmupCallback(): CallbackClasses['LearningRateWarmupCallback'] {
    return get().LearningRateWarmupCallback;
  },
  get LearningRateScheduleCallback(): CallbackClasses['LearningRateScheduleCallback'] {
    return get().LearningRateScheduleCallback;
  },
  /** Factory for BroadcastGlobalVariablesCallback. Defaults to root 0 of the global set; `options.processSet` broadcasts within a set. */
  broadcastGlobalVariablesCallback(rootRank = 0, options?: TfjsBroadcastOptions): Callback {
    return new (get().BroadcastGlobalVariablesCallback)(rootRank, options);
  },
  /** Factory for MetricAverageCallback. `options.processSet` averages within a set (the one the model trains on). */
  metricAverageCallback(options?: TfjsBroadcastOptions): Callback {
    return new (get().MetricAverageCallback)(options);
  },
  /** Factory for LearningRateWarmupCallback. */
  learningRateWarmupCallback(args: LearningRateWarmupArgs): Callback {
    return new (get().LearningRateWarmupCallback)(args);
  },
  /** Factory for LearningRateScheduleCallback. */
  learningRateScheduleCallback(args: LearningRateScheduleArgs): Callback {
    return new (get().LearningRateScheduleCallback)(args);
  },
};
