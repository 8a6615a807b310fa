// Data sharding: give every rank a disjoint share of the training data, all
// shares the same length, so every rank runs the same number of steps.
// Uneven shards are the most common way a Horovod job hangs: the rank with
// more batches waits forever in an allreduce the others never start.
//
// Everything here is deterministic and communication-free: every rank
// computes the same (optionally shuffled) permutation of row indices from the
// same seed and takes its own block of it.
import { rank as hvdRank, size as hvdSize } from './basics';

/** The TypedArrays {@link shard} accepts (and returns, as the same kind). */
export type ShardTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/**
 * The structural part of a tfjs `tf.data.Dataset` that {@link shardDataset}
 * relies on. Any Dataset from @tensorflow/tfjs, tfjs-data or tfjs-node
 * satisfies it; hvd never imports tfjs.
 */
export interface DatasetLike {
  /** Number of elements: a count, `Infinity`, or `null` when unknown. */
  size: number | null;
  /** A fresh stream over the elements (a tfjs `LazyIterator`). */
  iterator(): Promise<unknown>;
  /** A Dataset of at most `count` initial elements. */
  take(count: number): DatasetLike;
  /** Present on Datasets that shard natively (not tfjs); used when there. */
  shard?(numShards: number, index: number): DatasetLike;
}

/** Options for {@link shardIndices}, {@link shard} and {@link shardDataset}. */
export interface ShardOptions {
  /** This rank's share. Defaults to `hvd.rank()` (which needs `hvd.init()`). */
  rank?: number;
  /** Number of shares. Defaults to `hvd.size()` (which needs `hvd.init()`). */
  size?: number;
  /**
   * Shuffle the rows (with a seeded permutation that is the same on every
   * rank) before splitting them into blocks. Defaults to `false`: rank k gets
   * the k-th contiguous block. Not supported for Datasets (use
   * `ds.shuffle(bufferSize, seed)` with the same seed on every rank after
   * sharding).
   */
  shuffle?: boolean;
  /**
   * Seed of the shuffle; every rank must pass the same one (pass e.g.
   * `baseSeed + epoch` to reshuffle each epoch). Reduced modulo 2^32.
   * Defaults to `0`.
   */
  seed?: number;
  /**
   * Drop the `N % size` rows that do not fill a whole round, so every rank
   * gets exactly `floor(N / size)` rows. Defaults to `true`. With `false`
   * the leftover rows go one each to the lowest ranks (ranks
   * `0 … N % size - 1` get one row more), so ranks can run different numbers
   * of steps: call `hvd.join()` after the last step, or batch so the step
   * counts agree.
   */
  dropRemainder?: boolean;
  /**
   * Elements per row, for flattened data (e.g. `784` for 28×28 images in one
   * Float32Array): rows are kept whole. The length must be a multiple of it.
   * Arrays and TypedArrays only. Defaults to `1`.
   */
  rowLength?: number;
  /**
   * Number of elements of a Dataset, when `ds.size` is unknown (`null`), or
   * to use only the first `count` elements. It must not exceed the real
   * number of elements (a Dataset that ends early gives uneven shares; more
   * than a known `ds.size` is a RangeError). Datasets only. Defaults to
   * `ds.size`.
   */
  count?: number;
}

interface Resolved {
  rank: number;
  size: number;
  shuffle: boolean;
  seed: number;
  dropRemainder: boolean;
}

function checkOptions(options: unknown, fn: string): ShardOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${fn}: options must be an object, got ${describe(options)}`);
  }
  return options as ShardOptions;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' || typeof v === 'function') {
    const name = (v as { constructor?: { name?: string } }).constructor?.name;
    return name ? `a ${name}` : `a ${typeof v}`;
  }
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${String(v)}`;
}

function intOption(v: unknown, what: string, fn: string, min: number): number {
  if (typeof v !== 'number') throw new TypeError(`${fn}: ${what} must be a number, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < min) {
    throw new RangeError(`${fn}: ${what} must be an integer >= ${min}, got ${v}`);
  }
  return v;
}

function boolOption(v: unknown, what: string, fn: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`${fn}: ${what} must be a boolean, got ${describe(v)}`);
  return v;
}

function resolve(o: ShardOptions, fn: string): Resolved {
  const size = o.size === undefined ? hvdSize() : intOption(o.size, 'options.size', fn, 1);
  const rank = o.rank === undefined ? hvdRank() : intOption(o.rank, 'options.rank', fn, 0);
  if (rank >= size) throw new RangeError(`${fn}: options.rank must be < size (${size}), got ${rank}`);
  const shuffle = boolOption(o.shuffle, 'options.shuffle', fn, false);
  let seed = 0;
  if (o.seed !== undefined) {
    if (typeof o.seed !== 'number') throw new TypeError(`${fn}: options.seed must be a number, got ${describe(o.seed)}`);
    if (!Number.isSafeInteger(o.seed)) throw new RangeError(`${fn}: options.seed must be an integer, got ${o.seed}`);
    seed = o.seed;
  }
  const dropRemainder = boolOption(o.dropRemainder, 'options.dropRemainder', fn, true);
  return { rank, size, shuffle, seed, dropRemainder };
}

/** mulberry32: a small, fast 32-bit-state PRNG; returns floats in [0, 1). */
function prng(seed: number): () => number {
  let state = Number(BigInt.asUintN(32, BigInt(seed)));
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

const MAX_ROWS = 0x7fff_ffff; // Int32Array indices

/**
 * A seeded permutation of `0 … n-1` (Fisher–Yates driven by mulberry32):
 * the same `n` and `seed` give the same permutation on every rank, every
 * run, every platform.
 *
 * @param n Number of indices, an integer 0 … 2^31-1.
 * @param seed Any safe integer, reduced modulo 2^32. Defaults to `0`.
 * @example
 * const order = hvd.data.permutation(10, 42); // e.g. Int32Array [3, 7, 0, …]
 */
export function permutation(n: number, seed = 0): Int32Array {
  const fn = 'permutation';
  intOption(n, 'n', fn, 0);
  if (n > MAX_ROWS) throw new RangeError(`${fn}: n must be <= ${MAX_ROWS}, got ${n}`);
  if (typeof seed !== 'number') throw new TypeError(`${fn}: seed must be a number, got ${describe(seed)}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${fn}: seed must be an integer, got ${seed}`);
  return permute(n, seed);
}

function permute(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rand = prng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Rows per block, and whether this rank also gets one leftover row. */
function plan(n: number, r: Resolved): { per: number; extra: boolean } {
  const per = Math.floor(n / r.size);
  const rem = n - per * r.size;
  return { per, extra: !r.dropRemainder && r.rank < rem };
}

function indicesFor(n: number, r: Resolved): Int32Array {
  const { per, extra } = plan(n, r);
  const out = new Int32Array(per + (extra ? 1 : 0));
  const start = r.rank * per;
  const tail = r.size * per + r.rank;
  if (r.shuffle) {
    const p = permute(n, r.seed);
    out.set(p.subarray(start, start + per));
    if (extra) out[per] = p[tail];
  } else {
    for (let i = 0; i < per; i++) out[i] = start + i;
    if (extra) out[per] = tail;
  }
  return out;
}

/**
 * The row indices that belong to this rank: the primitive behind
 * {@link shard}. Rows `0 … n-1` are (optionally) shuffled with a seeded
 * permutation that is identical on every rank, then split into `size`
 * contiguous blocks of `floor(n / size)` rows; rank k gets block k. The
 * blocks are disjoint and equally long, so every rank runs the same number
 * of steps. The `n % size` leftover rows are dropped unless
 * `dropRemainder: false`, which hands them one each to the lowest ranks.
 *
 * Defaults to `rank: hvd.rank()`, `size: hvd.size()`, `shuffle: false`,
 * `seed: 0`, `dropRemainder: true`.
 *
 * @param n Number of rows, an integer 0 … 2^31-1.
 * @returns A new Int32Array of row indices, in the order to visit them.
 * @throws TypeError / RangeError naming the bad argument.
 * @example
 * // 10 rows over 3 ranks, no shuffle: rank 0 → [0,1,2], 1 → [3,4,5], 2 → [6,7,8]
 * const idx = hvd.data.shardIndices(10);
 * const mine = Array.from(idx, (i) => samples[i]);
 */
export function shardIndices(n: number, options?: ShardOptions): Int32Array {
  const fn = 'shardIndices';
  intOption(n, 'n', fn, 0);
  if (n > MAX_ROWS) throw new RangeError(`${fn}: n must be <= ${MAX_ROWS}, got ${n}`);
  return indicesFor(n, resolve(checkOptions(options, fn), fn));
}

function isTypedArray(x: unknown): x is ShardTypedArray {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

function isDataset(x: unknown): x is DatasetLike {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as DatasetLike).iterator === 'function' &&
    typeof (x as DatasetLike).take === 'function' &&
    typeof (x as { length?: unknown }).length !== 'number'
  );
}

function isArrayLike(x: unknown): x is ArrayLike<unknown> {
  if (Array.isArray(x)) return true;
  if (typeof x !== 'object' || x === null) return false;
  const len = (x as { length?: unknown }).length;
  return typeof len === 'number' && Number.isInteger(len) && len >= 0;
}

/** Copies rows `idx` (each `row` elements long) into `out`, merging runs. */
function gatherRows(
  src: ShardTypedArray,
  out: ShardTypedArray,
  idx: Int32Array,
  row: number,
): void {
  const s = src as unknown as { subarray(a: number, b: number): ArrayLike<unknown> };
  const d = out as unknown as { set(a: ArrayLike<unknown>, at: number): void };
  let k = 0;
  while (k < idx.length) {
    let end = k + 1;
    while (end < idx.length && idx[end] === idx[end - 1] + 1) end++;
    const from = idx[k] * row;
    d.set(s.subarray(from, from + (end - k) * row), k * row);
    k = end;
  }
}

function newLike(src: ShardTypedArray, length: number): ShardTypedArray {
  if (typeof Buffer !== 'undefined' && Buffer.isBuffer(src)) return Buffer.alloc(length);
  const Ctor = src.constructor as new (n: number) => ShardTypedArray;
  return new Ctor(length);
}

/**
 * This rank's share of a data set: a disjoint block of rows, the same
 * length on every rank, so every rank runs the same number of steps (see
 * {@link shardIndices} for exactly which rows).
 *
 * - A TypedArray gives a new TypedArray of the same kind (a copy); with
 *   `rowLength`, it is read as rows of that many elements (e.g. 784 for
 *   flattened 28×28 images), and rows stay whole and aligned with a
 *   labels array sharded with the same options.
 * - An array (or any array-like) gives a new array; `rowLength` works the
 *   same way on a flat array.
 * - A tfjs `tf.data.Dataset` gives a Dataset (see {@link shardDataset}).
 *
 * Defaults to `rank: hvd.rank()`, `size: hvd.size()`, `shuffle: false`,
 * `seed: 0`, `dropRemainder: true`, `rowLength: 1`.
 *
 * @throws TypeError when `items` is not an array, TypedArray or Dataset, or
 *   an option has the wrong type; RangeError when an option is out of range
 *   or the length is not a multiple of `rowLength`.
 * @example
 * const { train } = loadMnist();
 * const opts = { shuffle: true, seed: 42 }; // same on every rank
 * const images = hvd.data.shard(train.images, { ...opts, rowLength: 784 });
 * const labels = hvd.data.shard(train.labels, opts); // rows stay paired
 */
export function shard<A extends ShardTypedArray>(items: A, options?: ShardOptions): A;
export function shard<D extends DatasetLike>(items: D, options?: ShardOptions): D;
export function shard<T>(items: readonly T[] | ArrayLike<T>, options?: ShardOptions): T[];
export function shard(items: unknown, options?: ShardOptions): unknown {
  const fn = 'shard';
  if (isDataset(items)) return shardDataset(items, options);
  const o = checkOptions(options, fn);
  if (typeof items === 'string' || !isArrayLike(items)) {
    throw new TypeError(`${fn}: items must be an array, a TypedArray or a tfjs Dataset, got ${describe(items)}`);
  }
  const row = o.rowLength === undefined ? 1 : intOption(o.rowLength, 'options.rowLength', fn, 1);
  if (items.length % row !== 0) {
    throw new RangeError(`${fn}: items.length (${items.length}) must be a multiple of options.rowLength (${row})`);
  }
  const n = items.length / row;
  if (n > MAX_ROWS) throw new RangeError(`${fn}: at most ${MAX_ROWS} rows, got ${n}`);
  const r = resolve(o, fn);
  const idx = indicesFor(n, r);
  if (isTypedArray(items)) {
    const out = newLike(items, idx.length * row);
    gatherRows(items, out, idx, row);
    return out;
  }
  const out = new Array<unknown>(idx.length * row);
  for (let k = 0; k < idx.length; k++) {
    const from = idx[k] * row;
    for (let j = 0; j < row; j++) out[k * row + j] = items[from + j];
  }
  return out;
}

/**
 * This rank's share of a tfjs `tf.data.Dataset` (or any object with tfjs's
 * Dataset methods): element `i` of the first `size * floor(count / size)`
 * goes to rank `i % size`, so every rank gets `floor(count / size)` elements
 * and runs the same number of steps. The count is `options.count` or, when
 * that is not given, `ds.size`; a Dataset of unknown size (e.g. after
 * `.filter()`) needs `options.count`, unless `dropRemainder: false`. An
 * infinite Dataset (after `.repeat()`) is split element by element and every
 * share stays infinite.
 *
 * With `dropRemainder: false` the leftover elements go one each to the
 * lowest ranks, so step counts can differ: use `hvd.join()`.
 *
 * Lazy: nothing is read until the result is iterated; each iteration
 * re-reads `ds` and skips (and disposes) the other ranks' elements. Shard
 * before `.batch()` and before `.shuffle()`. A Dataset that has a native
 * `shard(numShards, index)` method is sharded with it.
 *
 * Defaults to `rank: hvd.rank()`, `size: hvd.size()`,
 * `dropRemainder: true`, `count: ds.size`.
 *
 * @throws TypeError when `ds` is not a Dataset or an option has the wrong
 *   type (including `shuffle: true` and `rowLength`, which Datasets do not
 *   take); RangeError when an option is out of range or the count is needed
 *   but unknown.
 * @example
 * const ds = hvd.data.shardDataset(tf.data.array(samples))
 *   .shuffle(1000, 'seed')
 *   .batch(32);
 * await model.fitDataset(ds, { epochs: 5, callbacks: [hvdCallback] });
 */
export function shardDataset<D extends DatasetLike>(ds: D, options?: ShardOptions): D {
  const fn = 'shardDataset';
  if (!isDataset(ds)) {
    throw new TypeError(`${fn}: ds must be a tfjs Dataset (with iterator() and take()), got ${describe(ds)}`);
  }
  const o = checkOptions(options, fn);
  if (boolOption(o.shuffle, 'options.shuffle', fn, false)) {
    throw new TypeError(
      `${fn}: options.shuffle is not supported for Datasets; shard first, then call ds.shuffle(bufferSize, seed)`,
    );
  }
  if (o.rowLength !== undefined) {
    throw new TypeError(`${fn}: options.rowLength applies to arrays and TypedArrays, not Datasets`);
  }
  const r = resolve(o, fn);
  let count: number | null;
  const s = ds.size;
  const known = typeof s === 'number' && (Number.isInteger(s) || s === Infinity) && s >= 0 ? s : null;
  if (o.count !== undefined) {
    count = intOption(o.count, 'options.count', fn, 0);
    if (known !== null && count > known) {
      throw new RangeError(`${fn}: options.count (${count}) is more than the Dataset's ${known} elements`);
    }
  } else {
    count = known;
  }
  if (count === null && r.dropRemainder) {
    throw new RangeError(
      `${fn}: the Dataset's size is unknown; pass options.count (its number of elements) ` +
        'so every rank gets the same number, or dropRemainder: false',
    );
  }

  // The elements to split, and this rank's resulting size.
  let base: DatasetLike = ds;
  let mySize: number | null = null;
  if (count === Infinity) {
    mySize = Infinity;
  } else if (count !== null) {
    const { per, extra } = plan(count, r);
    const used = r.dropRemainder ? per * r.size : count;
    if (o.count !== undefined || used !== count) base = ds.take(used);
    mySize = per + (extra ? 1 : 0);
  }

  if (typeof base.shard === 'function') return base.shard(r.size, r.rank) as D;

  const { rank, size } = r;
  const src = base;
  // A fresh tfjs Dataset of the same class family as `take()` returns, with
  // its stream replaced: every iteration starts its own element counter.
  const out = ds.take(Infinity) as DatasetLike & { iterator(): Promise<unknown> };
  out.iterator = async () => {
    const it = (await src.iterator()) as { filter?(p: (x: unknown) => boolean): unknown };
    if (typeof it?.filter !== 'function') {
      throw new TypeError(`${fn}: ds.iterator() did not return a tfjs LazyIterator (no filter())`);
    }
    let i = 0;
    return it.filter(() => i++ % size === rank);
  };
  out.size = mySize;
  return out as D;
}
