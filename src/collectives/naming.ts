// Names match a call across ranks. An unnamed call gets `<kind>.noname.<n>`
// at call time, counted per kind and per process set, so auto-names follow
// call order on every rank.
import { globalProcessSet, ProcessSet, resolveSet } from '../process_sets';

/** Options of {@link barrier} and the object collectives: a name and a set. */
export interface NameOptions {
  /** Run on this process set (ranks and roots relative to it). Defaults to the global set. */
  processSet?: ProcessSet;
  /** Defaults to `<collective>.noname.<n>`. */
  name?: string;
}

const counters = new Map<string, number>();

/**
 * The next automatic name for `kind` on `set`. Counted per process set: a
 * rank's calls on sets it is in must not shift the auto-names of its calls
 * on the others.
 */
export function autoName(kind: string, set: ProcessSet = globalProcessSet): string {
  const key = set.id === 0 ? kind : `${kind}.ps${set.id}`;
  const n = counters.get(key) ?? 0;
  counters.set(key, n + 1);
  return `${key}.noname.${n}`;
}

/** `options.name`, checked, or the next automatic name for `kind` on the call's set. */
export function nameOf(opts: Record<string, unknown>, kind: string, fn: string): string {
  const name = opts.name;
  if (name === undefined) return autoName(kind, resolveSet(opts.processSet, fn));
  if (typeof name !== 'string') throw new TypeError(`${fn}: options.name must be a string; got ${typeof name}`);
  if (name.length === 0) throw new RangeError(`${fn}: options.name must not be empty`);
  return name;
}
