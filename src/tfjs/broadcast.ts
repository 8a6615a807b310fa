// Making every rank start from the root's state: variables, a LayersModel's
// weights, and an optimizer's slots (Adam's moments and so on).
import { broadcast, broadcastSync } from '../collectives/broadcast';
import { broadcastObject } from '../collectives/objects';
import { pack, packLayout, PackLayout, unpack } from '../collectives/packing';
import { checkOptions, checkRoot } from '../collectives/validation';
import { running } from '../basics';
import { ProcessSet, resolveSet } from '../process_sets';
import { HvdTypedArray, inspect, TensorSpec } from '../tensor';
import { tfjs } from './tf';
import type * as tfTypes from '@tensorflow/tfjs';

type Tensor = tfTypes.Tensor;
type Variable = tfTypes.Variable;
type DType = 'float32' | 'int32' | 'bool';

/** Options of the tfjs broadcasts: the process set (roots are relative to it). Defaults to the global set. */
export interface TfjsBroadcastOptions {
  processSet?: ProcessSet;
}

/** The set a tfjs broadcast runs on, checked (a non-member gets a RangeError naming it). */
export function setOf(options: unknown, fn: string): ProcessSet {
  return resolveSet(checkOptions(options, [], fn).processSet, fn);
}

// Call counters per process set, so that a rank's calls on one set do not
// shift the names of its calls on another.
const counters = new Map<number, number>();

function nextName(kind: string, set: ProcessSet): string {
  const n = counters.get(set.id) ?? 0;
  counters.set(set.id, n + 1);
  return set.id === 0 ? `${kind}.${n}` : `${kind}.ps${set.id}.${n}`;
}

/** Packs tensors into one buffer per dtype (src/collectives/packing.ts), so each dtype is one broadcast. */
function packed(tensors: Tensor[], fn: string): { layout: PackLayout; buffers: HvdTypedArray[]; dtypes: string[] } {
  const specs: TensorSpec[] = tensors.map((t, i) => inspect(t, `${fn}: tensor ${i}`));
  const layout = packLayout(specs);
  return { layout, buffers: pack(layout, specs), dtypes: layout.buckets.map((b) => b.dtype) };
}

/** Builds one fresh tensor per packed member (copies: tfjs assign() shares buffers). */
function unpacked(layout: PackLayout, received: HvdTypedArray[]): Tensor[] {
  const tf = tfjs();
  return unpack(layout, received, true).map((data, i) =>
    tf.tensor(data as Float32Array, layout.members[i].shape, layout.buckets[layout.members[i].bucket].dtype as DType),
  );
}

function variablesOf(variables: unknown, fn: string): Variable[] {
  let list: unknown[];
  if (Array.isArray(variables)) list = variables;
  else if (typeof variables === 'object' && variables !== null) list = Object.keys(variables).sort().map((k) => (variables as Record<string, unknown>)[k]);
  else throw new TypeError(`${fn}: variables must be an array or a name->Variable map of tf.Variables`);
  list.forEach((v, i) => {
    if (typeof v !== 'object' || v === null || typeof (v as Variable).assign !== 'function') {
      throw new TypeError(`${fn}: variables[${i}] is not a tf.Variable`);
    }
  });
  return list as Variable[];
}

/**
 * Overwrites every rank's variables with root's values, one broadcast per
 * dtype. Every rank must pass the same variables (same count, shapes and
 * order; a map is ordered by key). With `options.processSet` only the set's
 * ranks take part and `rootRank` is relative to the set; a rank outside it
 * gets a RangeError naming the set (as for broadcastModel and
 * broadcastOptimizerState).
 *
 * @example
 * hvd.broadcastVariablesSync(model.trainableWeights.map((w) => w.read()), 0);
 */
export function broadcastVariablesSync(variables: Variable[] | Record<string, Variable>, rootRank = 0, options?: TfjsBroadcastOptions): void {
  running();
  const set = setOf(options, 'broadcastVariablesSync');
  const root = checkRoot(rootRank, 'broadcastVariablesSync', set);
  const vars = variablesOf(variables, 'broadcastVariablesSync');
  const { layout, buffers, dtypes } = packed(vars, 'broadcastVariablesSync');
  const name = nextName('broadcastVariables', set);
  const received = buffers.map((data, i) => broadcastSync(data, root, { name: `${name}.${dtypes[i]}`, processSet: set }));
  assign(vars, unpacked(layout, received));
}

/**
 * Promise form of {@link broadcastVariablesSync}.
 *
 * @example
 * await hvd.broadcastVariables([w, b], 0);
 */
export function broadcastVariables(variables: Variable[] | Record<string, Variable>, rootRank = 0, options?: TfjsBroadcastOptions): Promise<void> {
  running();
  const set = setOf(options, 'broadcastVariables');
  const root = checkRoot(rootRank, 'broadcastVariables', set);
  const vars = variablesOf(variables, 'broadcastVariables');
  const { layout, buffers, dtypes } = packed(vars, 'broadcastVariables');
  const name = nextName('broadcastVariables', set);
  return Promise.all(buffers.map((data, i) => broadcast(data, root, { name: `${name}.${dtypes[i]}`, processSet: set }))).then((received) =>
    assign(vars, unpacked(layout, received)),
  );
}

function assign(vars: Variable[], values: Tensor[]): void {
  vars.forEach((v, i) => v.assign(values[i]));
  tfjs().dispose(values);
}

interface ModelLike {
  getWeights(trainableOnly?: boolean): Tensor[];
  setWeights(weights: Tensor[]): void;
  optimizer?: tfTypes.Optimizer;
}

/**
 * Makes every rank's LayersModel weights (trainable and not, e.g.
 * BatchNorm statistics) equal to root's, and the optimizer's state too
 * (see {@link broadcastOptimizerState}).
 *
 * @example
 * await hvd.broadcastModel(model, 0);
 */
export async function broadcastModel(model: ModelLike, rootRank = 0, options?: TfjsBroadcastOptions): Promise<void> {
  running();
  const set = setOf(options, 'broadcastModel');
  if (typeof model !== 'object' || model === null || typeof model.getWeights !== 'function' || typeof model.setWeights !== 'function') {
    throw new TypeError('broadcastModel: model must be a tf.LayersModel');
  }
  const root = checkRoot(rootRank, 'broadcastModel', set);
  const weights = model.getWeights(); // live values: never dispose them
  const { layout, buffers, dtypes } = packed(weights, 'broadcastModel');
  const name = nextName('broadcastModel', set);
  const received = await Promise.all(buffers.map((data, i) => broadcast(data, root, { name: `${name}.${dtypes[i]}`, processSet: set })));
  const fresh = unpacked(layout, received);
  model.setWeights(fresh);
  tfjs().dispose(fresh);
  if (model.optimizer) await broadcastOptimizerState(model.optimizer, root, { processSet: set });
}

interface Manifest {
  ok: boolean;
  reason?: string;
  names: string[];
  shapes: number[][];
  dtypes: string[];
}

/**
 * Makes every rank's optimizer state (iterations and slot variables such
 * as Adam's moments) equal to root's. Ranks whose optimizer has not created
 * its slots yet get them created. Optimizers that cannot export their state
 * (tfjs 4.22's Adamax) are reported and left alone on every rank.
 *
 * @returns whether the state was broadcast.
 * @example
 * await hvd.broadcastOptimizerState(opt, 0);
 */
export async function broadcastOptimizerState(optimizer: tfTypes.Optimizer, rootRank = 0, options?: TfjsBroadcastOptions): Promise<boolean> {
  running();
  const set = setOf(options, 'broadcastOptimizerState');
  const root = checkRoot(rootRank, 'broadcastOptimizerState', set);
  const tf = tfjs();
  const name = nextName('broadcastOptimizerState', set);
  const isRoot = set.rank() === root;
  let weights: Array<{ name: string; tensor: Tensor }> = [];
  let manifest: Manifest | null = null;
  if (isRoot) {
    try {
      weights = await optimizer.getWeights();
      manifest = { ok: true, names: weights.map((w) => w.name), shapes: weights.map((w) => w.tensor.shape), dtypes: weights.map((w) => w.tensor.dtype) };
    } catch (e) {
      manifest = { ok: false, reason: (e as Error).message, names: [], shapes: [], dtypes: [] };
    }
  }
  const m = await broadcastObject(manifest, root, { name: `${name}.manifest`, processSet: set });
  if (!m || !m.ok) return false;
  const tensors = isRoot ? weights.map((w) => w.tensor) : m.shapes.map((s, i) => tf.zeros(s, m.dtypes[i] as DType));
  const { layout, buffers, dtypes } = packed(tensors, 'broadcastOptimizerState');
  const received = await Promise.all(buffers.map((data, i) => broadcast(data, root, { name: `${name}.${dtypes[i]}`, processSet: set })));
  if (!isRoot) {
    tf.dispose(tensors);
    weights = await optimizer.getWeights().catch(() => []);
  }
  // Every rank, the root included, loads the same values through setWeights:
  // optimizers derive hidden state there (Adam recomputes beta1^t with pow,
  // which differs in the last bit from the running product it keeps), so
  // only this makes the state bitwise identical everywhere.
  const fresh = unpacked(layout, received);
  await optimizer.setWeights(fresh.map((t, i) => ({ name: m.names[i], tensor: t })));
  tf.dispose(fresh);
  // getWeights() hands out a fresh 'iter' scalar each call, which the caller
  // owns; and setWeights replaced the slot variables, so free the old ones.
  const now = await optimizer.getWeights();
  const live = new Set(now.filter((w) => w.name !== 'iter').map((w) => w.tensor));
  for (const w of [...weights, ...now]) {
    if ((w.name === 'iter' || !live.has(w.tensor)) && !w.tensor.isDisposed) w.tensor.dispose();
  }
  return true;
}
