// Making every rank start from the root's state: variables, a LayersModel's
// weights, and an optimizer's slots (Adam's moments and so on).
import { broadcast, broadcastObject, broadcastSync } from '../collectives';
import { rank, running, size } from '../basics';
import { tfjs } from './tf';
import type * as tfTypes from '@tensorflow/tfjs';

type Tensor = tfTypes.Tensor;
type Variable = tfTypes.Variable;
type DType = 'float32' | 'int32' | 'bool';

const ARRAY: Record<DType, typeof Float32Array | typeof Int32Array | typeof Uint8Array> = {
  float32: Float32Array,
  int32: Int32Array,
  bool: Uint8Array,
};

let counter = 0;

function checkRoot(root: unknown, fn: string): number {
  if (typeof root !== 'number') throw new TypeError(`${fn}: rootRank must be a number; got ${typeof root}`);
  if (!Number.isInteger(root) || root < 0 || root >= size()) {
    throw new RangeError(`${fn}: rootRank must be an integer in [0, ${size()}); got ${root}`);
  }
  return root;
}

interface Packed {
  dtype: DType;
  data: Float32Array | Int32Array | Uint8Array;
  members: Array<{ index: number; offset: number; size: number; shape: number[] }>;
}

/** Packs tensors into one buffer per dtype, in order, so each dtype is one collective. */
function pack(tensors: Tensor[], fn: string): Packed[] {
  const groups = new Map<DType, Packed>();
  tensors.forEach((t, index) => {
    const dtype = t.dtype as DType;
    if (!(dtype in ARRAY)) throw new TypeError(`${fn}: tensor ${index} has dtype ${t.dtype}; supported: float32, int32, bool`);
    let g = groups.get(dtype);
    if (!g) {
      g = { dtype, data: new ARRAY[dtype](0), members: [] };
      groups.set(dtype, g);
    }
    const offset = g.members.length ? g.members[g.members.length - 1].offset + g.members[g.members.length - 1].size : 0;
    g.members.push({ index, offset, size: t.size, shape: t.shape.slice() });
  });
  for (const g of groups.values()) {
    const last = g.members[g.members.length - 1];
    g.data = new ARRAY[g.dtype](last.offset + last.size);
    for (const m of g.members) g.data.set(tensors[m.index].dataSync() as Float32Array, m.offset);
  }
  return [...groups.values()].sort((a, b) => a.dtype.localeCompare(b.dtype));
}

/** Builds one fresh tensor per packed member (copies: tfjs assign() shares buffers). */
function unpack(groups: Packed[], received: Array<Float32Array | Int32Array | Uint8Array>, count: number): Tensor[] {
  const tf = tfjs();
  const out: Tensor[] = new Array(count);
  groups.forEach((g, gi) => {
    for (const m of g.members) {
      out[m.index] = tf.tensor(received[gi].slice(m.offset, m.offset + m.size), m.shape, g.dtype);
    }
  });
  return out;
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
 * order; a map is ordered by key).
 *
 * @example
 * hvd.broadcastVariablesSync(model.trainableWeights.map((w) => w.read()), 0);
 */
export function broadcastVariablesSync(variables: Variable[] | Record<string, Variable>, rootRank = 0): void {
  running();
  const root = checkRoot(rootRank, 'broadcastVariablesSync');
  const vars = variablesOf(variables, 'broadcastVariablesSync');
  const groups = pack(vars, 'broadcastVariablesSync');
  const name = `broadcastVariables.${counter++}`;
  const received = groups.map((g) => broadcastSync(g.data, root, { name: `${name}.${g.dtype}` }));
  assign(vars, unpack(groups, received, vars.length));
}

/**
 * Promise form of {@link broadcastVariablesSync}.
 *
 * @example
 * await hvd.broadcastVariables([w, b], 0);
 */
export function broadcastVariables(variables: Variable[] | Record<string, Variable>, rootRank = 0): Promise<void> {
  running();
  const root = checkRoot(rootRank, 'broadcastVariables');
  const vars = variablesOf(variables, 'broadcastVariables');
  const groups = pack(vars, 'broadcastVariables');
  const name = `broadcastVariables.${counter++}`;
  return Promise.all(groups.map((g) => broadcast(g.data, root, { name: `${name}.${g.dtype}` }))).then((received) =>
    assign(vars, unpack(groups, received, vars.length)),
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
export async function broadcastModel(model: ModelLike, rootRank = 0): Promise<void> {
  running();
  if (typeof model !== 'object' || model === null || typeof model.getWeights !== 'function' || typeof model.setWeights !== 'function') {
    throw new TypeError('broadcastModel: model must be a tf.LayersModel');
  }
  const root = checkRoot(rootRank, 'broadcastModel');
  const weights = model.getWeights(); // live values: never dispose them
  const groups = pack(weights, 'broadcastModel');
  const name = `broadcastModel.${counter++}`;
  const received = await Promise.all(groups.map((g) => broadcast(g.data, root, { name: `${name}.${g.dtype}` })));
  const fresh = unpack(groups, received, weights.length);
  model.setWeights(fresh);
  tfjs().dispose(fresh);
  if (model.optimizer) await broadcastOptimizerState(model.optimizer, root);
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
export async function broadcastOptimizerState(optimizer: tfTypes.Optimizer, rootRank = 0): Promise<boolean> {
  running();
  const root = checkRoot(rootRank, 'broadcastOptimizerState');
  const tf = tfjs();
  const name = `broadcastOptimizerState.${counter++}`;
  const isRoot = rank() === root;
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
  const m = await broadcastObject(manifest, root, { name: `${name}.manifest` });
  if (!m || !m.ok) return false;
  const tensors = isRoot ? weights.map((w) => w.tensor) : m.shapes.map((s, i) => tf.zeros(s, m.dtypes[i] as DType));
  const groups = pack(tensors, 'broadcastOptimizerState');
  const received = await Promise.all(groups.map((g) => broadcast(g.data, root, { name: `${name}.${g.dtype}` })));
  if (!isRoot) {
    tf.dispose(tensors);
    weights = await optimizer.getWeights().catch(() => []);
  }
  // Every rank, the root included, loads the same values through setWeights:
  // optimizers derive hidden state there (Adam recomputes beta1^t with pow,
  // which differs in the last bit from the running product it keeps), so
  // only this makes the state bitwise identical everywhere.
  const fresh = unpack(groups, received, m.names.length);
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
