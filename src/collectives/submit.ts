// Submission: the one path from a validated call to the engine, for both
// forms. submitSync blocks the JS thread until the engine is done;
// submit returns a Promise. Both hand the engine the request before
// returning, so program order is submission order: a Sync call can never
// block while an earlier Promise call of the same rank still waits to be
// submitted, which would deadlock against a peer that awaits it. Tensor data
// is read with dataSync (free on the cpu backend, one copy elsewhere); the
// engine reads input memory when the collective runs (src/inputs.ts says
// what is copied at call time and what is checked).
import { running } from '../basics';
import { fromNative, HorovodError } from '../errors';
import { namedOutError } from './out';
import { callTimeInput, holdInPlaceTarget } from '../inputs';
import { NativeBinding, NativeItem, NativeOptions, NativeResult } from '../native';
import { fromBuffer, HvdTypedArray, readSync, TensorSpec, wrap } from '../tensor';

/** One collective call, validated and named, ready for either form. */
export interface Call<R> {
  /** Kind code (`KINDS.<name>` from src/codes.ts). */
  kind: number;
  /** The function the user called, for messages. */
  fn: string;
  /** One name per item; a Promise call holds them until it settles. */
  names: string[];
  options: NativeOptions;
  /** The inputs, one per item (none for barrier and join). */
  specs: TensorSpec[];
  /** The engine's items for the inputs as read (or as copied at call time). */
  items(inputs: HvdTypedArray[]): NativeItem[];
  /** What the caller gets, from the engine's per-item results. */
  result(results: NativeResult[]): R;
  /**
   * The inputs are also the outputs: never copied at call time, and with the
   * Promise form no other collective may touch their memory until it settles.
   */
  inPlace?: boolean;
  /** With the Promise form and HVD_CHECK_INPUTS=1, check the inputs did not change. Defaults to true. */
  verifyInputs?: boolean;
  /**
   * The caller's `out` arrays (src/collectives/out.ts): with the Promise
   * form, like in-place targets, no other collective may touch them until it settles.
   */
  outs?: HvdTypedArray[];
}

// Names of Promise-form calls that have not settled yet. The engine also
// rejects duplicates, but only while it still holds the request; tracking
// until the Promise settles makes "already in flight" mean what the caller sees.
const inflight = new Set<string>();

function duplicate(name: string): HorovodError {
  return new HorovodError(
    `a collective named '${name}' is already in flight on this rank; names must be unique among pending operations (pass a different name, or await the first one)`,
    'HVD_DUPLICATE_NAME',
  );
}

/** Sync calls only need to know they do not collide with a pending Promise call. */
function checkNotInflight(names: string[]): void {
  for (const name of names) checkNameNotInflight(name);
}

/** checkNotInflight for one name (the small-call path: no array). */
export function checkNameNotInflight(name: string): void {
  if (inflight.size > 0 && inflight.has(name)) throw duplicate(name);
}

/** Runs an async body with `names` claimed until it settles. */
function tracked<R>(names: string[], body: () => Promise<R>): Promise<R> {
  try {
    checkNotInflight(names);
  } catch (e) {
    return Promise.reject(e);
  }
  for (const name of names) inflight.add(name);
  const release = () => {
    for (const name of names) inflight.delete(name);
  };
  let p: Promise<R>;
  try {
    p = body();
  } catch (e) {
    release();
    return Promise.reject(e);
  }
  return p.finally(release);
}

/** Captures the caller's stack, for errors that surface later from the engine thread. */
export function callSite(fn: Function): { stack?: string } {
  const site: { stack?: string } = {};
  Error.captureStackTrace(site, fn);
  return site;
}

/** Hands items to the addon: one item positionally (enqueueOne, the small-call path), several as an array. */
function enqueue(b: NativeBinding, kind: number, items: NativeItem[], o: NativeOptions, blocking: true): NativeResult[];
function enqueue(b: NativeBinding, kind: number, items: NativeItem[], o: NativeOptions, blocking: false): Promise<NativeResult[]>;
function enqueue(b: NativeBinding, kind: number, items: NativeItem[], o: NativeOptions, blocking: boolean): NativeResult[] | Promise<NativeResult[]> {
  if (items.length !== 1) return blocking ? b.enqueue(kind, items, o, true) : b.enqueue(kind, items, o, false);
  const it = items[0];
  const args = [it.name, it.input, it.output, it.dtype, it.shape, it.splits, o.op, o.root, o.prescale, o.postscale, o.processSet, o.group] as const;
  return blocking ? b.enqueueOne(kind, true, ...args) : b.enqueueOne(kind, false, ...args);
}

/** Runs `call` and blocks until the engine is done with it. */
export function submitSync<R>(call: Call<R>): R {
  const b = running();
  checkNotInflight(call.names);
  const inputs = call.specs.map(readSync);
  let results: NativeResult[];
  try {
    results = enqueue(b, call.kind, call.items(inputs), call.options, true);
  } catch (e) {
    throw namedOutError(fromNative(e), call.fn);
  }
  return call.result(results);
}

/**
 * Runs `call` and returns a Promise for its result; `site` (from
 * {@link callSite}, taken in the user-facing function) becomes the stack of
 * an engine error.
 */
export function submit<R>(call: Call<R>, site: { stack?: string }): Promise<R> {
  const b = running();
  return tracked(call.names, () => {
    const read = call.specs.map(readSync);
    const guarded = call.inPlace ? null : call.specs.map((s, i) => callTimeInput(s, read[i], call.fn, call.names[i]));
    const inputs = guarded ? guarded.map((g) => g.input) : read;
    // No other collective may touch an in-place target until the engine is done with it.
    const holds = call.inPlace ? inputs.map((a, i) => holdInPlaceTarget(a, call.fn, call.names[i])) : [];
    for (const out of call.outs ?? []) holds.push(holdInPlaceTarget(out, call.fn, call.names[0]));
    const releaseHolds = () => {
      for (const release of holds) release();
    };
    let pending: Promise<NativeResult[]>;
    try {
      pending = enqueue(b, call.kind, call.items(inputs), call.options, false);
    } catch (e) {
      releaseHolds();
      throw e;
    }
    const settled = pending.then(
      (results) => {
        if (guarded && call.verifyInputs !== false) for (const g of guarded) g.verify?.();
        return call.result(results);
      },
      (e) => {
        throw namedOutError(fromNative(e, site), call.fn);
      },
    );
    return holds.length ? settled.finally(releaseHolds) : settled;
  });
}

/** A result the engine allocated (allgather, alltoall, reducescatter), as the kind of value the caller passed. */
export function engineResult<T>(spec: TensorSpec, r: NativeResult): T {
  const res = r as { buffer: ArrayBuffer; shape: number[] };
  return wrap<T>(spec, fromBuffer(spec, res.buffer), res.shape);
}
