// Argument checks shared by every collective (and by src/tfjs/broadcast.ts).
// They run synchronously, before anything reaches the engine, and throw a
// TypeError or RangeError that starts with the function's name and names
// the argument. The tensor arguments themselves are checked by
// src/tensor.ts's inspect().
import { NativeOptions } from '../native';
import { globalProcessSet, ProcessSet } from '../process_sets';
import { DTypeName, isIntegral, TensorSpec } from '../tensor';
import { isReduceOp, OP_CODES, ReduceOp } from './reduce_op';

/**
 * `opts` as a plain record, or a TypeError for a non-object or an unknown
 * key. `processSet` is allowed everywhere.
 */
export function checkOptions(opts: unknown, allowed: readonly string[], fn: string): Record<string, unknown> {
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

export function checkOp(op: unknown, fn: string): ReduceOp {
  if (op === undefined) return 'average';
  if (typeof op !== 'string') throw new TypeError(`${fn}: options.op must be a string; got ${typeof op}`);
  if (!isReduceOp(op)) {
    throw new RangeError(`${fn}: options.op must be one of 'average', 'sum', 'min', 'max', 'product'; got '${op}'`);
  }
  return op;
}

export function checkScale(v: unknown, what: string, fn: string): number {
  if (v === undefined) return 1;
  if (typeof v !== 'number') throw new TypeError(`${fn}: options.${what} must be a number; got ${typeof v}`);
  if (!Number.isFinite(v)) throw new RangeError(`${fn}: options.${what} must be finite; got ${v}`);
  return v;
}

/** A root rank, relative to `set` (the global set by default). */
export function checkRoot(root: unknown, fn: string, set: ProcessSet = globalProcessSet): number {
  if (typeof root !== 'number') throw new TypeError(`${fn}: rootRank must be a number; got ${typeof root}`);
  const n = set.size();
  if (!Number.isInteger(root) || root < 0 || root >= n) {
    throw new RangeError(`${fn}: rootRank must be an integer in [0, ${n}); got ${root}`);
  }
  return root;
}

/** A reduction's op and scale factors, checked. */
export interface Reduction {
  op: ReduceOp;
  pre: number;
  post: number;
}

/** Reads and checks `op`, `prescaleFactor` and `postscaleFactor`. */
export function checkReduction(opts: Record<string, unknown>, fn: string): Reduction {
  return {
    op: checkOp(opts.op, fn),
    pre: checkScale(opts.prescaleFactor, 'prescaleFactor', fn),
    post: checkScale(opts.postscaleFactor, 'postscaleFactor', fn),
  };
}

/** The engine options of a reduction on process set `processSet`. */
export function reductionOptions(r: Reduction, processSet: number, group?: string): NativeOptions {
  const o: NativeOptions = { op: OP_CODES[r.op], prescale: r.pre, postscale: r.post, processSet };
  if (group !== undefined) o.group = group;
  return o;
}

/** Whether checkReducible passes (a test that needs no argument name). */
export function isReducible(spec: TensorSpec, r: Reduction): boolean {
  return isReducibleAs(spec.dtype, r.op, r.pre, r.post);
}

/** isReducible for a dtype and the reduction's parts (the small-call path: no objects). */
export function isReducibleAs(dtype: DTypeName, op: ReduceOp, pre: number, post: number): boolean {
  return !(op === 'average' && isIntegral(dtype)) && !(dtype === 'bool' && (pre !== 1 || post !== 1));
}

/** Throws what isReducible rejects (`arg` names the tensor in the message). */

export function checkReducible(spec: TensorSpec, r: Reduction, arg: string, fn: string): void {
  if (r.op === 'average' && isIntegral(spec.dtype)) {
    throw new TypeError(
      `${fn}: op 'average' is not defined for ${spec.dtype} ${arg} (an integer average would truncate); use op 'sum' and divide, or pass floats`,
    );
  }
  if (spec.dtype === 'bool' && (r.pre !== 1 || r.post !== 1)) {
    throw new TypeError(`${fn}: prescaleFactor/postscaleFactor cannot scale a bool ${arg}`);
  }
}

/** Collectives along the first dimension need one: `what` is e.g. `allgather: tensor`. */
export function checkHasFirstDim(spec: TensorSpec, what: string, purpose: string): void {
  if (spec.shape.length === 0) throw new RangeError(`${what} must have at least one dimension${purpose}; got a scalar`);
}

/** The tensor list of a grouped collective: a non-empty array. */
export function checkTensorList(tensors: unknown, fn: string): unknown[] {
  if (!Array.isArray(tensors)) throw new TypeError(`${fn}: tensors must be an array of TypedArrays or Tensors`);
  if (tensors.length === 0) throw new RangeError(`${fn}: tensors must not be empty`);
  return tensors;
}
