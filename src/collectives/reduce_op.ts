// Reduction ops: the names users pass, their wire codes, and the options
// every reduction (allreduce, reducescatter and their grouped forms) takes.
import { REDUCE_OPS } from '../codes';
import type { ProcessSet } from '../process_sets';

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

/** Wire code of each op (native/codes.h, generated into src/codes.ts). */
export const OP_CODES: Record<ReduceOp, number> = REDUCE_OPS;

/** Whether `op` names a reduction (own keys only: 'toString' is not one). */
export function isReduceOp(op: unknown): op is ReduceOp {
  return typeof op === 'string' && Object.prototype.hasOwnProperty.call(OP_CODES, op);
}

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
