'use strict';
// hvd-owned memory (native/pool.h, src/alloc.ts): hvd.alloc, collective
// outputs on the pool, blocks coming back after GC, results identical to
// the plain path, and the `out` option. Counters come from
// hvd.engineStats(); nothing here is timed.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { TYPED, BIG } = require('../support/util');

const MIB = 1 << 20;

/** global.gc when node runs with --expose-gc (scripts/test.js), else enabled at run time. */
function gcFunction() {
  if (typeof global.gc === 'function') return global.gc;
  require('node:v8').setFlagsFromString('--expose-gc');
  return require('node:vm').runInNewContext('gc');
}
const gc = gcFunction();
const stats = () => hvd.engineStats();

/**
 * Collects garbage until `done()` holds: V8 returns a pool block from its
 * ArrayBuffer sweeper after the GC that found the buffer dead, which may
 * finish on a helper thread a moment later. Fails after many rounds.
 */
async function gcUntil(done, what) {
  for (let i = 0; i < 200; i++) {
    gc();
    if (done()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`${what}: still not true after 200 GC rounds (${JSON.stringify(poolOf(stats()))})`);
}

const poolOf = (s) => ({
  inUse: s.poolInUseBytes,
  cached: s.poolCachedBytes,
  max: s.poolMaxBytes,
  hits: s.poolHits,
  misses: s.poolMisses,
  fallbacks: s.poolFallbacks,
});

const value = (dtype, rank, i) => (BIG.has(dtype) ? BigInt((rank * 5 + i) % 7) : (rank * 5 + i) % 7);

function fill(a, dtype, rank) {
  for (let i = 0; i < a.length; i++) a[i] = value(dtype, rank, i);
  return a;
}

describe('hvd-owned memory: hvd.alloc and the pool', function () {
  this.timeout(120000);
  before(function () {
    if (stats().poolMaxBytes < 64 * MIB) this.skip(); // HVD_POOL_MAX_BYTES set small for this run
  });

  it('alloc returns zero-filled TypedArrays of every dtype', function () {
    const want = { ...TYPED, float16: Uint16Array, bool: Uint8Array };
    for (const [dtype, ctor] of Object.entries(want)) {
      for (const n of [0, 3, (64 * 1024) / ctor.BYTES_PER_ELEMENT, (2 * MIB) / ctor.BYTES_PER_ELEMENT + 5]) {
        const a = hvd.alloc(dtype, n);
        assert.ok(a instanceof ctor, `${dtype}: ${a.constructor.name}`);
        assert.equal(a.length, n);
        assert.equal(a.byteOffset, 0);
        assert.ok(a.every((x) => x == 0), `${dtype}[${n}] is zero-filled`); // eslint-disable-line eqeqeq
        if (n) a[n - 1] = BIG.has(dtype) ? 1n : 1;
      }
    }
  });

  it('alloc rejects a bad dtype or length with TypeError/RangeError and stays usable', function () {
    assert.throws(() => hvd.alloc('float128', 4), { name: 'TypeError', message: /alloc: dtype must be one of 'float32'/ });
    assert.throws(() => hvd.alloc(Float32Array, 4), { name: 'TypeError', message: /dtype/ });
    for (const bad of [-1, 1.5, NaN, '4', Infinity]) {
      assert.throws(() => hvd.alloc('float32', bad), { name: 'RangeError', message: /alloc: length must be a non-negative integer/ });
    }
    assert.equal(hvd.alloc('float32', 4).length, 4);
  });

  it('a large alloc is pool memory; after GC its block is reused (a hit, no new mapping)', async function () {
    let a = hvd.alloc('float32', MIB); // 4 MiB
    const held = stats();
    assert.ok(held.poolInUseBytes >= 4 * MIB, JSON.stringify(poolOf(held)));
    a[0] = 1;
    a = null;
    await gcUntil(() => stats().poolInUseBytes <= held.poolInUseBytes - 4 * MIB, 'the 4 MiB block returns to the pool');
    const freed = stats();
    assert.ok(freed.poolCachedBytes >= 4 * MIB, JSON.stringify(poolOf(freed)));
    const b = hvd.alloc('float32', MIB);
    const again = stats();
    assert.equal(again.poolMisses, freed.poolMisses, 'no new mapping');
    assert.equal(again.poolHits, freed.poolHits + 1);
    assert.equal(b[0], 0, 'a reused block is zeroed by alloc');
  });

  it('collective outputs come from the pool and return to it after GC (Sync and Promise)', async function () {
    const x = new Float32Array(MIB / 4).fill(1); // 1 MiB
    for (const [label, run] of [
      ['allreduceSync', () => hvd.allreduceSync(x, { op: 'sum' })],
      ['allgatherSync', () => hvd.allgatherSync(x)],
      ['allgather', () => hvd.allgather(x)],
      ['broadcast', () => hvd.broadcast(x, 0)],
    ]) {
      await gcUntil(() => true, 'settle');
      const before = stats();
      let out = await run();
      const during = stats();
      // Allocations counted (in-use bytes alone could fall meanwhile, as V8 frees earlier blocks).
      assert.ok(during.poolHits + during.poolMisses > before.poolHits + before.poolMisses, `${label}: output on the pool ${JSON.stringify(poolOf(during))}`);
      assert.equal(during.poolFallbacks, before.poolFallbacks);
      assert.equal(out[1], x[1] * (label.startsWith('allreduce') ? hvd.size() : 1));
      out = null;
      await gcUntil(() => stats().poolInUseBytes <= before.poolInUseBytes, `${label}: its output returns to the pool`);
      const hitsBefore = stats().poolHits;
      const missesBefore = stats().poolMisses;
      out = await run();
      assert.ok(stats().poolHits > hitsBefore, `${label}: the next output reuses a cached block`);
      assert.equal(stats().poolMisses, missesBefore, `${label}: no new mapping`);
      out = null;
    }
  });

  it('a Sync loop stays within a bounded pool: GC returns blocks without the event loop turning', function () {
    // Node-API would run the finalizers from a SetImmediate, which a Sync
    // loop never reaches; the V8 deleter runs after the GC (pool_buffer.h).
    const x = new Float32Array(MIB / 4).fill(1);
    const before = stats();
    for (let i = 0; i < 300; i++) hvd.allreduceSync(x); // 300 MiB of outputs, nothing awaited
    const after = stats();
    const mapped = after.poolInUseBytes + after.poolCachedBytes - (before.poolInUseBytes + before.poolCachedBytes);
    assert.ok(mapped < 150 * MIB, `the pool grew ${mapped / MIB} MiB over 300 x 1 MiB Sync calls ${JSON.stringify(poolOf(after))}`);
    assert.ok(after.poolHits - before.poolHits > 150, `most outputs reused a block: ${after.poolHits - before.poolHits} hits`);
  });

  it('results are identical with hvd.alloc inputs, for every collective', async function () {
    const n = hvd.size();
    const me = hvd.rank();
    for (const dtype of ['float32', 'int32', 'float64', 'uint8', 'int64']) {
      const len = 3 * n * 8192 + 0; // several 64 KiB+ buffers, divisible by the rank count
      const plain = fill(new TYPED[dtype](len), dtype, me);
      const owned = fill(hvd.alloc(dtype, len), dtype, me);
      const same = (a, b, what) => {
        assert.equal(a.constructor, b.constructor, what);
        assert.deepEqual(Array.from(a), Array.from(b), `${dtype} ${what}`);
      };
      same(hvd.allreduceSync(owned, { op: 'sum' }), hvd.allreduceSync(plain, { op: 'sum' }), 'allreduceSync');
      same(await hvd.allreduce(owned, { op: 'max' }), await hvd.allreduce(plain, { op: 'max' }), 'allreduce');
      same(hvd.allgatherSync(owned), hvd.allgatherSync(plain), 'allgatherSync');
      same(await hvd.allgather(owned), await hvd.allgather(plain), 'allgather');
      same(hvd.broadcastSync(owned, n - 1), hvd.broadcastSync(plain, n - 1), 'broadcastSync');
      same(hvd.alltoallSync(owned).output, hvd.alltoallSync(plain).output, 'alltoallSync');
      same((await hvd.alltoall(owned)).output, (await hvd.alltoall(plain)).output, 'alltoall');
      same(hvd.reducescatterSync(owned, { op: 'sum' }), hvd.reducescatterSync(plain, { op: 'sum' }), 'reducescatterSync');
      const [ga, gb] = hvd.groupedAllreduceSync([owned, owned.subarray(5)], { op: 'sum' });
      const [pa, pb] = hvd.groupedAllreduceSync([plain, plain.subarray(5)], { op: 'sum' });
      same(ga, pa, 'groupedAllreduceSync[0]');
      same(gb, pb, 'groupedAllreduceSync[1]');
      // in place on hvd memory
      const ip = fill(hvd.alloc(dtype, len), dtype, me);
      hvd.allreduceSync(ip, { op: 'sum', inPlace: true });
      same(ip, hvd.allreduceSync(plain, { op: 'sum' }), 'allreduceSync inPlace on alloc memory');
    }
  });
});
