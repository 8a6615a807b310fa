'use strict';
// hvd-owned memory (native/pool.h, src/alloc.ts): hvd.alloc, collective
// outputs on the pool, blocks coming back after GC, results identical to
// the plain path, and the `out` option. Counters come from
// hvd.engineStats(); nothing here is timed.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { TYPED, BIG, gcFunction } = require('../support/util');

const MIB = 1 << 20;

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

describe('the out option', function () {
  this.timeout(120000);
  const n = () => hvd.size();
  const me = () => hvd.rank();
  const same = (a, b, what) => {
    assert.equal(a.constructor, b.constructor, what);
    assert.deepEqual(Array.from(a), Array.from(b), what);
  };

  for (const [dtype, len] of [['float32', 7], ['int32', 40000], ['float64', 3 * 8192 + 1], ['int64', 5]]) {
    it(`${dtype}[${len}]: every collective writes into out, with the plain path's result (Sync and Promise)`, async function () {
      const x = fill(new TYPED[dtype](len * n()), dtype, me());
      const plainAr = hvd.allreduceSync(x, { op: 'sum' });
      const out = new TYPED[dtype](x.length);
      assert.equal(hvd.allreduceSync(x, { op: 'sum', out }), out);
      same(out, plainAr, 'allreduceSync out');
      const out2 = hvd.alloc(dtype, x.length);
      assert.equal(await hvd.allreduce(x, { op: 'sum', out: out2 }), out2);
      same(out2, plainAr, 'allreduce out on hvd.alloc memory');

      const bc = new TYPED[dtype](x.length);
      assert.equal(hvd.broadcastSync(x, n() - 1, { out: bc }), bc);
      same(bc, hvd.broadcastSync(x, n() - 1), 'broadcastSync out');
      const bc2 = new TYPED[dtype](x.length);
      assert.equal(await hvd.broadcast(x, 0, { out: bc2 }), bc2);
      same(bc2, await hvd.broadcast(x, 0), 'broadcast out');

      const ag = new TYPED[dtype](x.length * n());
      assert.equal(hvd.allgatherSync(x, { out: ag }), ag);
      same(ag, hvd.allgatherSync(x), 'allgatherSync out');
      const ag2 = hvd.alloc(dtype, x.length * n());
      assert.equal(await hvd.allgather(x, { out: ag2 }), ag2);
      same(ag2, ag, 'allgather out');

      const a2a = new TYPED[dtype](x.length);
      const r = hvd.alltoallSync(x, { out: a2a });
      assert.equal(r.output, a2a);
      const plainA2a = hvd.alltoallSync(x);
      same(a2a, plainA2a.output, 'alltoallSync out');
      same(r.receivedSplits, plainA2a.receivedSplits, 'alltoallSync receivedSplits');
      const a2a2 = new TYPED[dtype](x.length);
      assert.equal((await hvd.alltoall(x, { out: a2a2 })).output, a2a2);
      same(a2a2, plainA2a.output, 'alltoall out');

      const rs = new TYPED[dtype](len);
      assert.equal(hvd.reducescatterSync(x, { op: 'sum', out: rs }), rs);
      same(rs, hvd.reducescatterSync(x, { op: 'sum' }), 'reducescatterSync out');
      const rs2 = new TYPED[dtype](len);
      assert.equal(await hvd.reducescatter(x, { op: 'sum', out: rs2 }), rs2);
      same(rs2, rs, 'reducescatter out');
    });
  }

  it('out aliasing the input runs in place (allreduce, broadcast)', async function () {
    const x = fill(new Float32Array(70000), 'float32', me());
    const want = hvd.allreduceSync(x, { op: 'sum' });
    assert.equal(hvd.allreduceSync(x, { op: 'sum', out: x }), x);
    same(x, want, 'allreduceSync out = input');
    const y = fill(new Float64Array(9), 'float64', me());
    const root = fill(new Float64Array(9), 'float64', 0);
    assert.equal(await hvd.broadcast(y, 0, { out: y }), y);
    same(y, root, 'broadcast out = input');
  });

  it('uneven reducescatter and allgather rows: out of the right length', function () {
    const rows = me() + 1; // allgather: rank r has r+1 rows of 3
    const x = fill(new Int32Array(rows * 3), 'int32', me());
    const total = ((n() * (n() + 1)) / 2) * 3;
    const out = new Int32Array(total);
    same(hvd.allgatherSync(x, { out, shape: [rows, 3] }), hvd.allgatherSync(x, { shape: [rows, 3] }), 'uneven allgather');
    const dim0 = 2 * n() + 1; // the first rank gets one more row
    const y = fill(new Float32Array(dim0 * 2), 'float32', me());
    const mine = (me() === 0 ? 3 : 2) * 2;
    const rs = new Float32Array(mine);
    same(hvd.reducescatterSync(y, { op: 'sum', out: rs, shape: [dim0, 2] }), hvd.reducescatterSync(y, { op: 'sum', shape: [dim0, 2] }), 'uneven reducescatter');
    assert.throws(() => hvd.reducescatterSync(y, { out: new Float32Array(mine + 2), shape: [dim0, 2] }), {
      name: 'RangeError',
      message: new RegExp(`reducescatterSync: options.out has ${mine + 2} elements; the result has ${mine}`),
    });
  });

  it('groupedAllreduce with out: each member into its out, as the plain path; no buffer allocated per call (Sync and Promise)', async function () {
    // 3 × 8 Ki float32 (96 KiB, from the pool) and an int32 member: two buckets.
    const members = (step) => [
      fill(new Float32Array(8192), 'float32', me() + step),
      fill(new Int32Array(5), 'int32', me() + 2 * step),
      fill(new Float32Array(8192 * 2), 'float32', me() + 3 * step),
    ];
    const outs = [new Float32Array(8192), hvd.alloc('int32', 5), new Float32Array(8192 * 2)];
    for (let step = 0; step < 3; step++) {
      const xs = members(step);
      const plain = hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'gout.plain' });
      const got = hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'gout', out: outs });
      got.forEach((g, i) => assert.equal(g, outs[i], `result ${i} is out[${i}]`));
      plain.forEach((want, i) => same(outs[i], want, `step ${step} member ${i}`));
    }
    const xs = members(5);
    const want = hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'gout.plain' });
    const outs2 = xs.map((x) => new x.constructor(x.length));
    const got = await hvd.groupedAllreduce(xs, { op: 'sum', name: 'gout.async', out: outs2 });
    got.forEach((g, i) => assert.equal(g, outs2[i]));
    want.forEach((w, i) => same(outs2[i], w, `Promise member ${i}`));
    // Steady state: the pack comes from hvd's spares, not from the pool.
    for (let i = 0; i < 3; i++) hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'gout', out: outs });
    const before = poolOf(stats());
    for (let i = 0; i < 20; i++) hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'gout', out: outs });
    const after = poolOf(stats());
    assert.equal(after.hits + after.misses + after.fallbacks, before.hits + before.misses + before.fallbacks, 'no pool allocation in 20 calls');
    // out[i] may be the member itself: its result replaces it.
    const ys = members(7);
    const wantY = hvd.groupedAllreduceSync(ys, { op: 'sum', name: 'gout.plain' });
    hvd.groupedAllreduceSync(ys, { op: 'sum', name: 'gout.self', out: ys });
    wantY.forEach((w, i) => same(ys[i], w, `in place member ${i}`));
  });

  it('groupedAllreduce with out: a wrong list, type or length names options.out[i], before anything is sent', function () {
    const xs = [new Float32Array(4).fill(1), new Int32Array(3).fill(1)];
    const cases = [
      [{ out: new Float32Array(4) }, TypeError, /groupedAllreduceSync: options.out must be an array of 2 TypedArrays, one per tensor/],
      [{ out: [new Float32Array(4)] }, TypeError, /options.out must be an array of 2 TypedArrays; got 1|options.out must be an array of 2 TypedArrays, one per tensor; got 1/],
      [{ out: [new Float32Array(4), new Float32Array(3)] }, TypeError, /options.out\[1\] must be a Int32Array \(the input's type\); got a Float32Array/],
      [{ out: [new Float32Array(5), new Int32Array(3)] }, RangeError, /groupedAllreduceSync: options.out\[0\] has 5 elements; the result has 4/],
    ];
    for (const [opts, type, message] of cases) {
      assert.throws(() => hvd.groupedAllreduceSync(xs, { op: 'sum', ...opts }), (e) => e instanceof type && message.test(e.message), String(message));
    }
    assert.throws(() => hvd.groupedAllreduce(xs, { out: 'no' }), TypeError);
    // The process is still usable, and the same call with good outs works.
    const outs = [new Float32Array(4), new Int32Array(3)];
    hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'gout.ok', out: outs });
    same(outs[0], new Float32Array(4).fill(n()), 'float32 member');
    same(outs[1], new Int32Array(3).fill(n()), 'int32 member');
  });

  it('a wrong type or a known wrong length is a TypeError/RangeError at call time, and the process stays usable', async function () {
    const x = new Float32Array(8).fill(1);
    const cases = [
      [() => hvd.allreduceSync(x, { out: new Float64Array(8) }), TypeError, /allreduceSync: options.out must be a Float32Array \(the input's type\); got a Float64Array/],
      [() => hvd.allreduceSync(x, { out: [0, 0] }), TypeError, /options.out must be a Float32Array/],
      [() => hvd.allreduceSync(x, { out: new Float32Array(7) }), RangeError, /allreduceSync: options.out has 7 elements; the result has 8/],
      [() => hvd.allreduceSync(x, { out: new Float32Array(8), inPlace: true }), TypeError, /options.inPlace .* options.out/],
      [() => hvd.allreduceSync(x, { out: x.subarray(1) }), RangeError, /options.out has 7/],
      [() => hvd.broadcastSync(x, 0, { out: new Int32Array(8) }), TypeError, /broadcastSync: options.out must be a Float32Array/],
      [() => hvd.broadcastSync(x, 0, { out: new Float32Array(9) }), RangeError, /broadcastSync: options.out has 9 elements; the result has 8/],
      [() => hvd.allgatherSync(x, { out: new Uint8Array(8 * n()) }), TypeError, /allgatherSync: options.out must be a Float32Array/],
      [() => hvd.allgatherSync(x, { out: x }), TypeError, /allgatherSync: options.out overlaps the input/],
      [() => hvd.alltoallSync(x.subarray(0, 2 * n()), { out: x }), TypeError, /alltoallSync: options.out overlaps the input/],
      [() => hvd.reducescatterSync(x.subarray(0, n()), { op: 'sum', out: 'no' }), TypeError, /reducescatterSync: options.out must be a Float32Array/],
    ];
    for (const [run, type, message] of cases) assert.throws(run, (e) => e instanceof type && message.test(e.message), String(message));
    assert.throws(() => hvd.allreduce(x, { out: new Float64Array(8) }), TypeError);
    const big = new Float32Array(16);
    const ab = new Float32Array(big.buffer, 4, 8);
    assert.throws(() => hvd.allreduceSync(ab, { out: big.subarray(0, 8) }), { name: 'TypeError', message: /options.out overlaps the input's memory/ });
    same(hvd.allreduceSync(x, { op: 'sum' }), new Float32Array(8).fill(n()), 'usable afterwards');
  });

  it('allgather/alltoall out of the wrong length: every rank completes, the offender gets a RangeError, the next collective works', async function () {
    const x = fill(new Float32Array(6), 'float32', me());
    const bad = me() === n() - 1; // only the last rank passes a wrong length
    const good = new Float32Array(6 * n());
    const wrong = new Float32Array(6 * n() - 1);
    const check = (e) =>
      e instanceof RangeError && new RegExp(`options.out has ${6 * n() - 1} elements, but the result of allgather '.*' has ${6 * n()}`).test(e.message);
    if (bad) assert.throws(() => hvd.allgatherSync(x, { out: wrong }), check);
    else same(hvd.allgatherSync(x, { out: good }), hvd.allgatherSync(x), 'the other ranks get their result');
    if (bad) hvd.allgatherSync(x); // keep the names in step with the good ranks' second call
    // Promise form
    if (bad) await assert.rejects(hvd.allgather(x, { out: wrong }), check);
    else assert.equal(await hvd.allgather(x, { out: good }), good);
    // alltoall: the result length depends on what the others send
    const a = fill(new Int32Array(2 * n()), 'int32', me());
    const aOut = new Int32Array(bad ? 2 * n() + 3 : 2 * n());
    if (bad) {
      assert.throws(() => hvd.alltoallSync(a, { out: aOut }), (e) => e instanceof RangeError && /alltoallSync: options.out has \d+ elements, but the result of alltoall '.*' has \d+ .*pass an out of \d+ int32 elements/.test(e.message));
    } else {
      assert.equal(hvd.alltoallSync(a, { out: aOut }).output, aOut);
    }
    // Nothing hung, nothing is out of step.
    same(hvd.allreduceSync(new Float32Array(3).fill(1), { op: 'sum' }), new Float32Array(3).fill(n()), 'next collective');
    assert.equal(wrong.every((v) => v === 0), true, 'the wrong-length out was not written');
  });

  it('with out, a loop of out-of-place allreduces allocates nothing on the pool or the JS heap', function () {
    const x = new Float32Array(MIB / 4).fill(1); // 1 MiB
    const out = hvd.alloc('float32', x.length);
    hvd.allreduceSync(x, { out });
    const before = stats();
    for (let i = 0; i < 100; i++) hvd.allreduceSync(x, { op: 'sum', out });
    const after = stats();
    assert.equal(after.poolHits + after.poolMisses + after.poolFallbacks, before.poolHits + before.poolMisses + before.poolFallbacks, 'no pool allocation');
    assert.equal(out[0], n());
    const ext = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 100; i++) hvd.allreduceSync(x, { op: 'sum', out });
    assert.ok(process.memoryUsage().arrayBuffers - ext < MIB, 'no ArrayBuffer memory grew');
  });

  it('a Promise call owns its out until it settles', async function () {
    const x = new Float32Array(2000).fill(1);
    const out = new Float32Array(2000);
    const p = hvd.allreduce(x, { op: 'sum', out });
    assert.throws(() => hvd.allreduceSync(out, { op: 'sum', inPlace: true }), { name: 'TypeError', message: /shares memory/ });
    assert.throws(() => hvd.allreduceSync(x, { op: 'sum', out }), { name: 'TypeError', message: /shares memory/ });
    assert.equal(await p, out);
    assert.equal(out[0], n());
    hvd.allreduceSync(x, { op: 'sum', out }); // released
  });
});
