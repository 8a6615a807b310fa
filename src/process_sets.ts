// Process sets: collectives over a subset of the ranks (model-parallel
// groups, per-host groups), Horovod's hvd.add_process_set and friends.
// Every collective takes a `processSet` option; ranks, roots and sizes in
// it are relative to the set (rank i of the set is its i-th smallest rank).
import { rank, running, size } from './basics';
import { KINDS } from './codes';
import { fromNative } from './errors';

/** A subset of the job's ranks that runs collectives among themselves. */
export class ProcessSet {
  /** @internal */
  readonly id: number;
  private readonly fixed: number[] | null;

  /** @internal use {@link addProcessSet} */
  constructor(id: number, ranks: number[] | null) {
    this.id = id;
    this.fixed = ranks;
  }

  /** The member ranks (in the whole job), ascending. */
  get ranks(): number[] {
    if (this.fixed) return this.fixed.slice();
    return Array.from({ length: size() }, (_, i) => i);
  }

  /** Number of ranks in the set. */
  size(): number {
    return this.fixed ? this.fixed.length : size();
  }

  /** This process's rank within the set, or -1 when it is not a member. */
  rank(): number {
    return this.fixed ? this.fixed.indexOf(rank()) : rank();
  }

  /** True when this process is a member. */
  included(): boolean {
    return this.rank() >= 0;
  }

  /** True until {@link removeProcessSet} removes it. */
  get removed(): boolean {
    return this.id !== 0 && !live.has(this.id);
  }

  toString(): string {
    return this.id === 0 ? 'the global process set' : `process set ${this.id} (ranks ${this.fixed!.join(',')})`;
  }
}

/** The set of all ranks: what every collective uses by default. */
export const globalProcessSet = new ProcessSet(0, null);

const live = new Set<number>();
let counter = 0;

/**
 * Adds a process set of `ranks`. Every rank of the job must call it, with
 * the same ranks, in the same order relative to its other addProcessSet /
 * removeProcessSet calls (it is a collective on the global set). Returns the
 * set on every rank, members or not.
 *
 * @example
 * const even = hvd.addProcessSet([0, 2]);
 * if (even.included()) await hvd.allreduce(x, { processSet: even });
 */
export function addProcessSet(ranks: ArrayLike<number>): ProcessSet {
  const b = running();
  if (typeof ranks !== 'object' || ranks === null || typeof ranks.length !== 'number') {
    throw new TypeError('addProcessSet: ranks must be an array of rank numbers');
  }
  const n = size();
  const list = Array.from(ranks, (r) => {
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r >= n) {
      throw new RangeError(`addProcessSet: ranks must be integers in [0, ${n}); got ${String(r)}`);
    }
    return r;
  }).sort((a, c) => a - c);
  if (list.length === 0) throw new RangeError('addProcessSet: ranks must not be empty');
  for (let i = 1; i < list.length; i++) {
    if (list[i] === list[i - 1]) throw new RangeError(`addProcessSet: rank ${list[i]} is listed twice`);
  }
  const item = { name: `hvd.addProcessSet.${counter++}`, input: null, dtype: 0, shape: [], splits: list };
  let id: number;
  try {
    id = b.enqueue(KINDS.addProcessSet, [item], {}, true)[0] as number;
  } catch (e) {
    throw fromNative(e);
  }
  live.add(id);
  return new ProcessSet(id, list);
}

/**
 * Removes a process set added by {@link addProcessSet}: every rank calls it
 * (a collective on the global set). Collectives still pending on the set
 * fail with `HVD_SHUT_DOWN`; later ones are a RangeError.
 *
 * @example
 * hvd.removeProcessSet(even);
 */
export function removeProcessSet(set: ProcessSet): void {
  const b = running();
  if (!(set instanceof ProcessSet)) throw new TypeError('removeProcessSet: set must be a ProcessSet from hvd.addProcessSet');
  if (set.id === 0) throw new RangeError('removeProcessSet: the global process set cannot be removed');
  if (set.removed) throw new RangeError(`removeProcessSet: ${set} was already removed`);
  const item = { name: `hvd.removeProcessSet.${counter++}`, input: null, dtype: 0, shape: [] };
  try {
    b.enqueue(KINDS.removeProcessSet, [item], { root: set.id }, true);
  } catch (e) {
    throw fromNative(e);
  }
  live.delete(set.id);
}

/**
 * The set a collective runs on: `options.processSet`, checked, or the
 * global set. A rank that is not a member gets a RangeError naming the set.
 * @internal
 */
export function resolveSet(value: unknown, fn: string): ProcessSet {
  if (value === undefined) return globalProcessSet;
  if (!(value instanceof ProcessSet)) throw new TypeError(`${fn}: options.processSet must be a ProcessSet from hvd.addProcessSet`);
  if (value.removed) throw new RangeError(`${fn}: ${value} has been removed`);
  if (!value.included()) throw new RangeError(`${fn}: rank ${rank()} is not a member of ${value}`);
  return value;
}
