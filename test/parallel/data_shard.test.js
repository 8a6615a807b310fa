'use strict';
// hvd.data: every rank gets a disjoint, equal-length share of the rows, all
// ranks agree on the shuffle, and tfjs Datasets shard the same way. Runs
// alone and under mpirun with 2, 3 and 4 ranks. Every rank runs the same
// collectives in the same order; assertions come after them.
const assert = require('node:assert/strict');
const path = require('node:path');
const hvd = require('../..');
const { ROOT, tfCore } = require('../support/util');

const data = hvd.data || require(path.join(ROOT, 'dist', 'data.js'));

const SIZES = [0, 1, 2, 3, 5, 10, 97, 1000];

/** The shares of all ranks, as plain arrays, indexed by rank. */
function gather(mine) {
  return hvd.allgatherObjectSync(Array.from(mine));
}

/** Checks shares: disjoint, within 0…n-1, lengths as expected. */
function checkShares(shares, n, { dropRemainder = true } = {}) {
  const size = shares.length;
  const per = Math.floor(n / size);
  const rem = n % size;
  const seen = new Set();
  shares.forEach((s, r) => {
    const want = per + (!dropRemainder && r < rem ? 1 : 0);
    assert.equal(s.length, want, `rank ${r} got ${s.length} rows of ${n}, want ${want}`);
    for (const i of s) {
      assert.ok(Number.isInteger(i) && i >= 0 && i < n, `row ${i} out of 0…${n - 1}`);
      assert.ok(!seen.has(i), `row ${i} on two ranks`);
      seen.add(i);
    }
  });
  assert.equal(seen.size, dropRemainder ? per * size : n);
  return seen;
}

describe('hvd.data.shardIndices', function () {
  it('contiguous blocks: disjoint, equal length, covering floor(N/size)*size rows', function () {
    const size = hvd.size();
    const rank = hvd.rank();
    for (const n of SIZES) {
      const mine = data.shardIndices(n);
      const shares = gather(mine);
      assert.ok(mine instanceof Int32Array);
      const covered = checkShares(shares, n);
      const per = Math.floor(n / size);
      // Block k is rows k*per … (k+1)*per-1, i.e. rows 0 … per*size-1 in order.
      assert.deepEqual(shares.flat(), Array.from({ length: per * size }, (_, i) => i));
      assert.equal(covered.size, per * size);
      // Defaults are hvd.rank()/hvd.size(), and every rank's share can be computed anywhere.
      assert.deepEqual(Array.from(data.shardIndices(n, { rank, size })), shares[rank]);
      for (let r = 0; r < size; r++) assert.deepEqual(Array.from(data.shardIndices(n, { rank: r, size })), shares[r]);
    }
  });

  it('shuffled: the same seed gives the same permutation on every rank', function () {
    const perm = Array.from(data.permutation(1000, 7));
    const perms = hvd.allgatherObjectSync(perm);
    const other = Array.from(data.permutation(1000, 8));
    for (const p of perms) assert.deepEqual(p, perm);
    assert.deepEqual([...perm].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
    assert.notDeepEqual(perm, Array.from({ length: 1000 }, (_, i) => i), 'actually shuffled');
    assert.notDeepEqual(other, perm, 'another seed, another permutation');
    assert.deepEqual(Array.from(data.permutation(1000, 7 + 2 ** 32)), perm, 'seed is taken modulo 2^32');
  });

  it('shuffled shards: disjoint, equal length, the blocks of the shared permutation', function () {
    const size = hvd.size();
    for (const n of SIZES) {
      for (const seed of [0, 1, 12345]) {
        const shares = gather(data.shardIndices(n, { shuffle: true, seed }));
        checkShares(shares, n);
        const per = Math.floor(n / size);
        assert.deepEqual(shares.flat(), Array.from(data.permutation(n, seed)).slice(0, per * size));
      }
    }
    // Default seed is 0.
    const a = gather(data.shardIndices(50, { shuffle: true }));
    const b = gather(data.shardIndices(50, { shuffle: true, seed: 0 }));
    assert.deepEqual(a, b);
  });

  it('dropRemainder:false gives the leftover rows to the lowest ranks', function () {
    const size = hvd.size();
    for (const n of SIZES) {
      for (const shuffle of [false, true]) {
        const shares = gather(data.shardIndices(n, { dropRemainder: false, shuffle, seed: 3 }));
        checkShares(shares, n, { dropRemainder: false });
        const per = Math.floor(n / size);
        const order = shuffle ? Array.from(data.permutation(n, 3)) : Array.from({ length: n }, (_, i) => i);
        shares.forEach((s, r) => {
          assert.deepEqual(s.slice(0, per), order.slice(r * per, (r + 1) * per));
          if (r < n % size) assert.equal(s[per], order[size * per + r], `rank ${r} gets leftover row ${size * per + r}`);
        });
      }
    }
  });
});

describe('hvd.data.shard', function () {
  it('arrays: the rows of shardIndices, as a new array', function () {
    const items = Array.from({ length: 23 }, (_, i) => `item${i}`);
    const opts = { shuffle: true, seed: 11 };
    const mine = data.shard(items, opts);
    const idx = data.shardIndices(23, opts);
    const shares = gather(mine);
    assert.ok(Array.isArray(mine));
    assert.deepEqual(mine, Array.from(idx, (i) => items[i]));
    checkShares(shares.map((s) => s.map((x) => Number(x.slice(4)))), 23);
    // Any array-like works; strings are not row collections.
    const arrayLike = { length: 4, 0: 'a', 1: 'b', 2: 'c', 3: 'd' };
    assert.deepEqual(data.shard(arrayLike, { rank: 1, size: 2 }), ['c', 'd']);
  });

  it('TypedArrays with rowLength: whole rows, same kind, aligned with the labels', function () {
    const size = hvd.size();
    const rows = 41;
    const width = 3;
    const images = new Float32Array(rows * width);
    for (let i = 0; i < images.length; i++) images[i] = Math.floor(i / width) * 10 + (i % width);
    const labels = new Uint8Array(rows);
    for (let i = 0; i < rows; i++) labels[i] = i;
    const opts = { shuffle: true, seed: 5 };
    const myImages = data.shard(images, { ...opts, rowLength: width });
    const myLabels = data.shard(labels, opts);
    const shares = gather(myLabels);
    const myImagesNoShuffle = data.shard(images, { rowLength: width });
    const myBig = data.shard(new BigInt64Array([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]), { rowLength: 2 });
    const bigShares = hvd.allgatherObjectSync(Array.from(myBig, String));

    assert.ok(myImages instanceof Float32Array);
    assert.ok(myLabels instanceof Uint8Array);
    const per = Math.floor(rows / size);
    assert.equal(myImages.length, per * width);
    assert.equal(myLabels.length, per);
    for (let k = 0; k < per; k++) {
      for (let j = 0; j < width; j++) assert.equal(myImages[k * width + j], myLabels[k] * 10 + j, 'row kept whole and paired with its label');
    }
    checkShares(shares, rows);
    // A copy, not a view.
    assert.notEqual(myImages.buffer, images.buffer);
    // Unshuffled: one contiguous block.
    const start = hvd.rank() * per * width;
    assert.deepEqual(Array.from(myImagesNoShuffle), Array.from(images.subarray(start, start + per * width)));
    // BigInt arrays too: 4 rows of 2.
    assert.ok(myBig instanceof BigInt64Array);
    const bigPer = Math.floor(4 / size);
    assert.equal(myBig.length, bigPer * 2);
    assert.deepEqual(bigShares.flat(), ['1', '2', '3', '4', '5', '6', '7', '8'].slice(0, bigPer * size * 2));
  });

  it('dropRemainder:false on TypedArrays hands leftover rows to the low ranks', function () {
    const size = hvd.size();
    const n = 2 * size + (size > 1 ? size - 1 : 0);
    const rows = new Int32Array(n * 2);
    for (let i = 0; i < rows.length; i++) rows[i] = Math.floor(i / 2);
    const mine = data.shard(rows, { rowLength: 2, dropRemainder: false });
    const shares = gather(Array.from(mine).filter((_, i) => i % 2 === 0));
    checkShares(shares, n, { dropRemainder: false });
    shares.forEach((s, r) => {
      const want = [2 * r, 2 * r + 1];
      if (r < n % size) want.push(2 * size + r);
      assert.deepEqual(s, want);
    });
  });
});

describe('hvd.data.shardDataset (tfjs tf.data)', function () {
  let tf;
  let tfdata;
  before(function () {
    tf = tfCore();
    tfdata = require('@tensorflow/tfjs-data');
  });

  it('shards a tf.data.array: disjoint, equal length, stable across iterations', async function () {
    const size = hvd.size();
    const n = 29;
    const ds = tfdata.array(Array.from({ length: n }, (_, i) => i));
    const mine = data.shardDataset(ds);
    const first = await mine.toArray();
    const again = await mine.toArray();
    const viaShard = await data.shard(ds).toArray();
    const shares = gather(first);
    const per = Math.floor(n / size);
    assert.equal(mine.size, per);
    assert.deepEqual(again, first);
    assert.deepEqual(viaShard, first);
    checkShares(shares, n);
    // Element i goes to rank i % size.
    shares.forEach((s, r) => assert.deepEqual(s, Array.from({ length: per }, (_, k) => k * size + r)));
    // Batching keeps working on the result.
    const batches = await mine.batch(4).toArray();
    assert.equal(batches.length, Math.ceil(per / 4));
    tf.dispose(batches);
  });

  it('shards Datasets of tensors and objects, disposing the elements it skips', async function () {
    const size = hvd.size();
    const n = 10;
    const ds = tfdata
      .array(Array.from({ length: n }, (_, i) => i))
      .map((i) => ({ xs: tf.fill([2], i), ys: tf.scalar(i * 10) }));
    const before = tf.memory().numTensors;
    const els = await data.shardDataset(ds).toArray();
    const leaked = tf.memory().numTensors - before - 2 * els.length;
    const mine = els.map((e) => [Array.from(e.xs.dataSync()), e.ys.dataSync()[0]]);
    tf.dispose(els);
    const shares = gather(mine.map((m) => m[1] / 10));
    const per = Math.floor(n / size);
    assert.equal(mine.length, per);
    for (const [xs, ys] of mine) assert.deepEqual(xs, [ys / 10, ys / 10]);
    checkShares(shares, n);
    assert.equal(leaked, 0, 'tensors of other ranks are disposed');
  });

  it('unknown size needs options.count; dropRemainder:false; infinite Datasets', async function () {
    const size = hvd.size();
    const rank = hvd.rank();
    const n = 2 * size + 5;
    const unknown = tfdata.array(Array.from({ length: n }, (_, i) => i)).filter(() => true);
    assert.equal(unknown.size, null);
    const counted = await data.shardDataset(unknown, { count: n }).toArray();
    const loose = data.shardDataset(unknown, { dropRemainder: false });
    const looseEls = await loose.toArray();
    const known = data.shardDataset(tfdata.array(Array.from({ length: n }, (_, i) => i)), { dropRemainder: false });
    const knownEls = await known.toArray();
    const firstFive = data.shardDataset(tfdata.array(Array.from({ length: n }, (_, i) => i)), { count: 5 });
    const firstFiveEls = await firstFive.toArray();
    const inf = data.shardDataset(tfdata.array([0, 1, 2, 3, 4, 5, 6]).repeat());
    const infEls = await inf.take(5).toArray();
    const all = hvd.allgatherObjectSync({ counted, looseEls, knownEls, firstFiveEls, infEls });

    checkShares(all.map((a) => a.counted), n);
    checkShares(all.map((a) => a.looseEls), n, { dropRemainder: false });
    checkShares(all.map((a) => a.knownEls), n, { dropRemainder: false });
    checkShares(all.map((a) => a.firstFiveEls), 5);
    assert.equal(loose.size, null);
    assert.equal(known.size, Math.floor(n / size) + (rank < n % size ? 1 : 0));
    assert.equal(firstFive.size, Math.floor(5 / size));
    assert.equal(inf.size, Infinity);
    assert.deepEqual(infEls, Array.from({ length: 5 }, (_, k) => (k * size + rank) % 7));
    assert.throws(() => data.shardDataset(unknown), (e) => e instanceof RangeError && /options\.count/.test(e.message));
    // A count beyond a known size would silently make the shares uneven.
    assert.throws(() => data.shardDataset(tfdata.array([1, 2, 3]), { count: 4 }), (e) => e instanceof RangeError && /options\.count/.test(e.message));
  });
});

describe('hvd.data argument checks', function () {
  const bad = (f, Type, pattern) =>
    assert.throws(f, (e) => {
      assert.ok(e instanceof Type, `${e && e.constructor && e.constructor.name}: ${e && e.message}`);
      assert.match(e.message, pattern);
      return true;
    });

  it('bad arguments throw TypeError / RangeError naming the argument', function () {
    bad(() => data.shardIndices('10'), TypeError, /\bn\b/);
    bad(() => data.shardIndices(-1), RangeError, /\bn\b/);
    bad(() => data.shardIndices(2.5), RangeError, /\bn\b/);
    bad(() => data.shardIndices(10, 5), TypeError, /options/);
    bad(() => data.shardIndices(10, { rank: 2, size: 2 }), RangeError, /options\.rank/);
    bad(() => data.shardIndices(10, { rank: -1, size: 2 }), RangeError, /options\.rank/);
    bad(() => data.shardIndices(10, { rank: '0', size: 2 }), TypeError, /options\.rank/);
    bad(() => data.shardIndices(10, { rank: 0, size: 0 }), RangeError, /options\.size/);
    bad(() => data.shardIndices(10, { rank: 0, size: 1.5 }), RangeError, /options\.size/);
    bad(() => data.shardIndices(10, { shuffle: 'yes' }), TypeError, /options\.shuffle/);
    bad(() => data.shardIndices(10, { seed: '1' }), TypeError, /options\.seed/);
    bad(() => data.shardIndices(10, { seed: 0.5 }), RangeError, /options\.seed/);
    bad(() => data.shardIndices(10, { dropRemainder: 0 }), TypeError, /options\.dropRemainder/);
    bad(() => data.shard(42), TypeError, /items/);
    bad(() => data.shard('abc'), TypeError, /items/);
    bad(() => data.shard(null), TypeError, /items/);
    bad(() => data.shard(new Float32Array(10), { rowLength: 3 }), RangeError, /rowLength/);
    bad(() => data.shard(new Float32Array(10), { rowLength: 0 }), RangeError, /options\.rowLength/);
    bad(() => data.shard([1, 2], { rowLength: '2' }), TypeError, /options\.rowLength/);
    bad(() => data.permutation(-3), RangeError, /\bn\b/);
    bad(() => data.permutation(3, 'x'), TypeError, /seed/);
    bad(() => data.shardDataset([1, 2, 3]), TypeError, /\bds\b/);
    const tfdata = require('@tensorflow/tfjs-data');
    const ds = tfdata.array([1, 2, 3]);
    bad(() => data.shardDataset(ds, { shuffle: true }), TypeError, /options\.shuffle/);
    bad(() => data.shardDataset(ds, { rowLength: 2 }), TypeError, /options\.rowLength/);
    bad(() => data.shardDataset(ds, { count: -1 }), RangeError, /options\.count/);
    bad(() => data.shardDataset(ds, { count: 'all' }), TypeError, /options\.count/);
  });

  it('size larger than the data gives every rank an empty share', function () {
    assert.equal(data.shardIndices(3, { rank: 3, size: 4 }).length, 0);
    assert.equal(data.shard(new Uint8Array(3), { rank: 0, size: 4 }).length, 0);
    assert.deepEqual(Array.from(data.shardIndices(3, { rank: 2, size: 4, dropRemainder: false })), [2]);
    assert.equal(data.shardIndices(3, { rank: 3, size: 4, dropRemainder: false }).length, 0);
  });
});
