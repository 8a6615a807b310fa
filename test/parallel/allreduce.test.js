'use strict';
// allreduce and groupedAllreduce: every op × every dtype × 1-D..3-D shapes ×
// sizes 0, 1, odd, checked exactly against results computed locally.
const assert = require('node:assert/strict');
const hvd = require('../..');
// The engine-level grouping (one request per member, fused by the engine).
const { groupedAllreduceUnpackedSync } = require('../../dist/collectives/allreduce');
const { TYPED, FLOAT, makeArray, expectedReduce, arraysEqual, tfCore } = require('../support/util');

const OPS = ['average', 'sum', 'min', 'max', 'product'];
const SHAPES = {
  0: [[0], [0, 3], [2, 0, 4]],
  1: [[1], [1, 1], [1, 1, 1]],
  15: [[15], [3, 5], [3, 1, 5]],
};

function assertEqualArrays(actual, expected, what) {
  assert.ok(arraysEqual(actual, expected), `${what}: got [${Array.from(actual).slice(0, 8)}...] want [${Array.from(expected).slice(0, 8)}...]`);
}

describe('allreduce', function () {
  const size = () => hvd.size();
  const rank = () => hvd.rank();

  for (const dtype of Object.keys(TYPED)) {
    for (const op of OPS) {
      if (op === 'average' && !FLOAT.has(dtype)) continue;
      it(`${op} on ${dtype}, sync and async, 1-D to 3-D, sizes 0/1/15`, async function () {
        for (const n of Object.keys(SHAPES).map(Number)) {
          for (const shape of SHAPES[n]) {
            const x = makeArray(dtype, n, rank());
            const before = x.slice();
            const want = expectedReduce(dtype, op, n, size());
            const got = hvd.allreduceSync(x, { op, shape, name: `ar.${dtype}.${op}.${shape}` });
            assert.equal(got.constructor, TYPED[dtype]);
            assertEqualArrays(got, want, `sync ${shape}`);
            assert.notEqual(got.buffer, x.buffer, 'result must be a new buffer');
            const got2 = await hvd.allreduce(x, { op, shape });
            assertEqualArrays(got2, want, `async ${shape}`);
            if (shape.length === 1 && n > 0) {
              // No shape option: the small-call path (allreduce.ts smallSync).
              const got3 = hvd.allreduceSync(x, { op });
              assert.equal(got3.constructor, TYPED[dtype]);
              assertEqualArrays(got3, want, `sync without shape ${shape}`);
              assert.notEqual(got3.buffer, x.buffer, 'result must be a new buffer');
            }
            assertEqualArrays(x, before, 'input must not be written');
          }
        }
      });
    }
  }

  it('default op is average (float) and names may be omitted', function () {
    const got = hvd.allreduceSync(new Float64Array([hvd.rank(), 10]));
    const mean = ((size() - 1) * size()) / 2 / size();
    assert.deepEqual(Array.from(got), [mean, 10]);
  });

  it('small calls and general calls agree on auto-names and results, and a refused call consumes no name', function () {
    // Odd ranks take the small-call path (no options beyond op), even ranks
    // the general one (a shape option): the same auto-names must come out,
    // or the ranks would wait for different collectives.
    const x = new Float32Array([rank() + 1, 2, 3]);
    const small = rank() % 2 === 1;
    const want = [(size() * (size() + 1)) / 2, 2 * size(), 3 * size()];
    for (let i = 0; i < 3; i++) {
      const got = small ? hvd.allreduceSync(x, { op: 'sum' }) : hvd.allreduceSync(x, { op: 'sum', shape: [3] });
      assert.deepEqual(Array.from(got), want);
      // Refused before naming, on every path: the next auto-name is unchanged.
      assert.throws(() => hvd.allreduceSync(new Int32Array(2)), TypeError);
      assert.throws(() => hvd.allreduceSync(x, { op: 'sum', prescaleFactor: NaN }), RangeError);
      assert.throws(() => hvd.allreduceSync(x, { op: 'toString' }), RangeError);
    }
    const avg = small ? hvd.allreduceSync(x) : hvd.allreduceSync(x, { shape: [3] });
    assert.deepEqual(Array.from(avg), want.map((v) => v / size()));
    // Options the small path does not take (inherited ones included) go the general way.
    const inherited = Object.create({ op: 'max' });
    assert.deepEqual(Array.from(hvd.allreduceSync(x, inherited)), [size(), 2, 3]);
  });

  it('small Sync results are arrays of their own: a later call never changes an earlier result', function () {
    // Results up to 64 bytes are written into one scratch array and copied
    // out (allreduce.ts smallSync): each must be a fresh, unshared array.
    for (const [ctor, n] of [[Float32Array, 1], [Float64Array, 8], [Int8Array, 64], [BigInt64Array, 3], [Float32Array, 17]]) {
      const results = [];
      for (let i = 0; i < 4; i++) {
        const x = new ctor(n);
        for (let k = 0; k < n; k++) x[k] = ctor === BigInt64Array ? BigInt(i + k) : i + k;
        results.push(hvd.allreduceSync(x, { op: 'max', name: `ar.fresh.${ctor.name}.${n}` }));
      }
      results.forEach((got, i) => {
        assert.equal(got.constructor, ctor);
        assert.equal(got.length, n);
        for (let k = 0; k < n; k++) assert.equal(got[k], ctor === BigInt64Array ? BigInt(i + k) : i + k, `${ctor.name}[${n}] call ${i}`);
        for (let j = 0; j < i; j++) assert.notEqual(got.buffer, results[j].buffer, 'each result has its own buffer');
      });
    }
  });

  it('a small Sync call with out writes there and returns it; an out the general path refuses is refused alike', async function () {
    const x = new Float64Array([rank(), 1, 2]);
    const out = new Float64Array(3);
    const before = hvd.engineStats();
    assert.equal(hvd.allreduceSync(x, { op: 'sum', name: 'ar.out.small', out }), out);
    assert.deepEqual(Array.from(out), [((size() - 1) * size()) / 2, size(), 2 * size()]);
    assert.deepEqual(Array.from(x), [rank(), 1, 2], 'input unchanged');
    assert.equal(hvd.engineStats().tensors - before.tensors, 1);
    // The target of an in-place call in flight: refused, naming it.
    const y = new Float64Array(3).fill(1);
    const pending = hvd.allreduce(y, { op: 'sum', inPlace: true, name: 'ar.out.inflight' });
    assert.throws(() => hvd.allreduceSync(x, { op: 'sum', out: y }), { name: 'TypeError', message: /in-place allreduce 'ar.out.inflight'/ });
    await pending;
    assert.deepEqual(Array.from(y), [size(), size(), size()]);
    // Sharing memory with the input, a shorter array, another type: refused as before.
    const both = new Float64Array(6);
    assert.throws(() => hvd.allreduceSync(both.subarray(0, 3), { out: both.subarray(2, 5) }), { name: 'TypeError', message: /options.out overlaps the input/ });
    assert.throws(() => hvd.allreduceSync(x, { out: new Float64Array(2) }), RangeError);
    assert.throws(() => hvd.allreduceSync(x, { out: new Float32Array(3) }), TypeError);
  });

  it('exports the op constants', function () {
    assert.equal(hvd.Average, 'average');
    assert.equal(hvd.Sum, 'sum');
    assert.equal(hvd.Min, 'min');
    assert.equal(hvd.Max, 'max');
    assert.equal(hvd.Product, 'product');
  });

  for (const dtype of ['float32', 'float64', 'int32', 'int8', 'uint16', 'int64']) {
    it(`prescale and postscale on ${dtype}`, function () {
      const prescale = FLOAT.has(dtype) ? 0.5 : 2;
      const postscale = FLOAT.has(dtype) ? 4 : 3;
      const x = makeArray(dtype, 9, rank());
      const got = hvd.allreduceSync(x, { op: 'sum', prescaleFactor: prescale, postscaleFactor: postscale });
      assertEqualArrays(got, expectedReduce(dtype, 'sum', 9, size(), { prescale, postscale }), 'scaled');
    });
  }

  it('average with postscale on float32', async function () {
    const x = makeArray('float32', 33, rank());
    const got = await hvd.allreduce(x, { postscaleFactor: 2 });
    assertEqualArrays(got, expectedReduce('float32', 'average', 33, size(), { postscale: 2 }), 'avg*2');
  });

  it('reduces tensors larger than the fusion threshold, and fused groups that span several buffers', function () {
    const threshold = Number(process.env.HOROVOD_FUSION_THRESHOLD ?? 128 * 1024 * 1024);
    // With the default 128 MiB threshold this stays cheap by using 1 MiB;
    // CI's lowered-threshold runs make it genuinely exceed the threshold.
    const n = Math.min(threshold / 4 + 17, (1 << 18) + 17);
    const x = makeArray('float32', n, rank());
    const got = hvd.allreduceSync(x, { op: 'sum', name: 'big.single' });
    assertEqualArrays(got, expectedReduce('float32', 'sum', n, size()), 'big');
    const parts = [makeArray('float32', n, rank()), makeArray('float32', 5, rank()), makeArray('float32', n, rank())];
    const before = hvd.engineStats();
    const outs = groupedAllreduceUnpackedSync(parts, { op: 'sum', name: 'big.group' });
    const after = hvd.engineStats();
    assertEqualArrays(outs[0], expectedReduce('float32', 'sum', n, size()), 'g0');
    assertEqualArrays(outs[1], expectedReduce('float32', 'sum', 5, size()), 'g1');
    assertEqualArrays(outs[2], expectedReduce('float32', 'sum', n, size()), 'g2');
    const responses = after.responses - before.responses;
    if (threshold < n * 4) assert.ok(responses >= 2, `a group over the threshold needs several responses; got ${responses}`);
    else assert.equal(responses, 1, 'a group under the threshold is one fused response');
  });

  it('chunks messages larger than HVD_MPI_MAX_CHUNK_BYTES without truncation', function () {
    // The np=3/4 runs set a tiny chunk size, so this crosses many chunk
    // boundaries (including one that splits an element range unevenly).
    const n = 10007;
    const x = makeArray('float64', n, rank());
    assertEqualArrays(hvd.allreduceSync(x, { op: 'max' }), expectedReduce('float64', 'max', n, size()), 'chunked');
    const y = makeArray('int16', n, rank());
    assertEqualArrays(hvd.allreduceSync(y, { op: 'sum' }), expectedReduce('int16', 'sum', n, size()), 'chunked16');
  });
});

describe('allreduce options and algorithms', function () {
  it('inPlace reduces into the given TypedArray and returns it', async function () {
    const x = makeArray('float32', 31, hvd.rank());
    const got = hvd.allreduceSync(x, { op: 'sum', inPlace: true });
    assert.equal(got, x);
    assertEqualArrays(x, expectedReduce('float32', 'sum', 31, hvd.size()), 'in place');
    const y = makeArray('int32', 5, hvd.rank());
    const got2 = await hvd.allreduce(y, { op: 'max', inPlace: true, prescaleFactor: 2 });
    assert.equal(got2, y);
    assertEqualArrays(y, expectedReduce('int32', 'max', 5, hvd.size(), { prescale: 2 }), 'in place scaled');
  });

  it('inPlace is refused for tfjs tensors', function () {
    const tf = tfCore();
    const t = tf.tensor([1, 2]);
    assert.throws(() => hvd.allreduceSync(t, { inPlace: true }), TypeError);
    assert.throws(() => hvd.allreduceSync(new Float32Array(1), { inPlace: 1 }), TypeError);
    t.dispose();
  });

  it('runs the algorithm HVD_ALLREDUCE_ALGORITHM asks for', function () {
    const before = hvd.engineStats().ringAllreduces;
    const n = 4099; // not divisible by 2, 3 or 4
    for (const dtype of ['float32', 'int8', 'uint16', 'float64']) {
      const x = makeArray(dtype, n, hvd.rank());
      assertEqualArrays(hvd.allreduceSync(x, { op: 'sum' }), expectedReduce(dtype, 'sum', n, hvd.size()), dtype);
    }
    const ran = hvd.engineStats().ringAllreduces - before;
    if (process.env.HVD_ALLREDUCE_ALGORITHM === 'ring') assert.equal(ran, 4);
    if (process.env.HVD_ALLREDUCE_ALGORITHM === 'mpi') assert.equal(ran, 0);
  });

  it('measures ring against MPI where results cannot differ, and results stay exact while it does', function () {
    // 1 MiB of int32 sums: order free on any number of ranks (integer
    // arithmetic wraps exactly), so with HVD_RING_THRESHOLD_BYTES unset the
    // coordinator alternates both algorithms on this size class, then keeps one.
    const n = (1 << 20) / 4 + 5;
    const x = makeArray('int32', n, hvd.rank());
    const want = expectedReduce('int32', 'sum', n, hvd.size());
    const before = hvd.engineStats().ringAllreduces;
    // Into one `out` array: fresh outputs map pool memory on the first
    // calls, and the tuner discards timings taken after that happened.
    const out = new Int32Array(n);
    const calls = 40;
    for (let i = 0; i < calls; i++) {
      out.fill(0);
      assertEqualArrays(hvd.allreduceSync(x, { op: 'sum', name: 'tune.int', out }), want, `call ${i}`);
    }
    const ran = hvd.engineStats().ringAllreduces - before;
    const choices = hvd.engineStats().algorithmChoices;
    const measured = !process.env.HVD_ALLREDUCE_ALGORITHM && !process.env.HVD_RING_THRESHOLD_BYTES && hvd.size() > 1;
    if (!measured || hvd.rank() !== 0) {
      assert.deepEqual(choices, []);
      return;
    }
    // A JS-heap `out`: not a result allocated for the call.
    const c = choices.find((e) => e.processSet === 0 && e.minBytes === 1 << 20 && e.inPlace === false && e.freshOutput === false);
    assert.ok(c, `a choice for [1, 2) MiB: ${JSON.stringify(choices)}`);
    assert.equal(c.maxBytes, 2 << 20);
    assert.ok(c.algorithm === 'ring' || c.algorithm === 'mpi', JSON.stringify(c));
    assert.ok(c.usPerMiB.ring > 0 && c.usPerMiB.mpi > 0, JSON.stringify(c));
    // Both ran while measuring (4 each), then the one kept.
    assert.ok(ran >= 4 && ran <= calls - 4, `ring ran ${ran} of ${calls}`);
  });

  it('measures calls into fresh results apart from calls into a reused out array on hvd memory', function () {
    // [2, 4) MiB: a size class no other test here measures. A fresh result
    // comes from hvd's pool for each call and is cold in the cache; an `out`
    // from hvd.alloc is fresh on its first call only (native/pool.h, ClaimFresh).
    const n = (2 << 20) / 4 + 3;
    const x = makeArray('int32', n, hvd.rank());
    const want = expectedReduce('int32', 'sum', n, hvd.size());
    const out = hvd.alloc('int32', n);
    const measured = !process.env.HVD_ALLREDUCE_ALGORITHM && !process.env.HVD_RING_THRESHOLD_BYTES && hvd.size() > 1;
    // 60 pairs: the first fresh calls map pool memory, and the tuner discards
    // the timings taken after that (up to 32 per class). A forced algorithm
    // measures nothing: a few calls check the results.
    for (let i = 0; i < (measured ? 60 : 3); i++) {
      assertEqualArrays(hvd.allreduceSync(x, { op: 'sum', name: 'tune.fresh' }), want, `fresh call ${i}`);
      out.fill(0);
      assertEqualArrays(hvd.allreduceSync(x, { op: 'sum', name: 'tune.out', out }), want, `out call ${i}`);
    }
    const choices = hvd.engineStats().algorithmChoices;
    if (!measured || hvd.rank() !== 0) {
      assert.deepEqual(choices, []);
      return;
    }
    const mine = choices.filter((e) => e.processSet === 0 && e.minBytes === 2 << 20 && !e.inPlace);
    assert.deepEqual(mine.map((e) => e.freshOutput).sort(), [false, true], JSON.stringify(choices));
    for (const c of mine) {
      assert.ok(c.algorithm === 'ring' || c.algorithm === 'mpi', JSON.stringify(c));
      assert.ok(c.usPerMiB.ring > 0 && c.usPerMiB.mpi > 0, JSON.stringify(c));
    }
  });
});

describe('groupedAllreduce', function () {
  it('reduces mixed dtypes and shapes in one call (sync and async)', async function () {
    const r = hvd.rank();
    const n = hvd.size();
    const xs = [makeArray('float32', 7, r), makeArray('int32', 3, r), makeArray('float64', 0, r), makeArray('float32', 1, r)];
    const sync = hvd.groupedAllreduceSync(xs, { op: 'sum' });
    const async_ = await hvd.groupedAllreduce(xs, { op: 'sum', name: 'grp.mixed' });
    for (const got of [sync, async_]) {
      assert.equal(got.length, 4);
      assertEqualArrays(got[0], expectedReduce('float32', 'sum', 7, n), 'f32');
      assertEqualArrays(got[1], expectedReduce('int32', 'sum', 3, n), 'i32');
      assertEqualArrays(got[2], expectedReduce('float64', 'sum', 0, n), 'f64');
      assertEqualArrays(got[3], expectedReduce('float32', 'sum', 1, n), 'f32b');
    }
  });

  it('travels as one request per dtype, with results as views into one buffer', function () {
    const xs = Array.from({ length: 20 }, (_, i) => makeArray('float32', 10 + i, hvd.rank()));
    const before = hvd.engineStats();
    const got = hvd.groupedAllreduceSync(xs, { op: 'max' });
    const after = hvd.engineStats();
    got.forEach((g, i) => assertEqualArrays(g, expectedReduce('float32', 'max', 10 + i, hvd.size()), `t${i}`));
    assert.equal(after.responses - before.responses, 1);
    assert.equal(after.fusionCopyBytes - before.fusionCopyBytes, 0, 'no engine copies');
    assert.ok(got.every((g) => g.buffer === got[0].buffer), 'one result buffer');
  });

  it('a list called again reads its members afresh and sees a member replaced, detached or not reducible', function () {
    // groupedAllreduce remembers the checks and layout of a list of
    // TypedArrays (src/collectives/packing.ts, GroupPlan): none of that may
    // outlive a change to the list.
    const r = hvd.rank();
    const n = hvd.size();
    const sumOver = (f) => Array.from({ length: n }, (_, k) => f(k)).reduce((a, b) => a + b, 0);
    const xs = [new Float32Array(5), makeArray('int32', 3, r)];
    for (let step = 0; step < 3; step++) {
      xs[0].fill(step + r);
      const got = hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'plan.same' });
      assertEqualArrays(got[0], new Float32Array(5).fill(sumOver((k) => step + k)), `step ${step}`);
      assertEqualArrays(got[1], expectedReduce('int32', 'sum', 3, n), `step ${step} int32`);
    }
    xs[1] = makeArray('float64', 4, r);
    let got = hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'plan.replaced' });
    assert.equal(got[1].constructor, Float64Array);
    assertEqualArrays(got[1], expectedReduce('float64', 'sum', 4, n), 'replaced member');
    xs[1] = makeArray('int32', 3, r);
    hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'plan.int' });
    assert.throws(() => hvd.groupedAllreduceSync(xs, { name: 'plan.avg' }), (e) => e instanceof TypeError && /tensors\[1\]/.test(e.message) && /average/.test(e.message));
    const d = makeArray('float32', 4, r);
    xs.push(d);
    got = hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'plan.before' });
    assertEqualArrays(got[2], expectedReduce('float32', 'sum', 4, n), 'before detaching');
    structuredClone(d.buffer, { transfer: [d.buffer] });
    assert.throws(() => hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'plan.detached' }), (e) => e instanceof TypeError && /tensors\[2\]/.test(e.message) && /detached/.test(e.message));
    xs[2] = makeArray('float32', 4, r);
    got = hvd.groupedAllreduceSync(xs, { op: 'sum', name: 'plan.after' });
    assertEqualArrays(got[2], expectedReduce('float32', 'sum', 4, n), 'after replacing the detached member');
  });

  it('engine-level groups fuse their members into one response and reduce in the output buffer', function () {
    const xs = Array.from({ length: 20 }, (_, i) => makeArray('float32', 10 + i, hvd.rank()));
    const before = hvd.engineStats();
    const got = groupedAllreduceUnpackedSync(xs, { op: 'max', name: 'engine.group' });
    const after = hvd.engineStats();
    got.forEach((g, i) => assertEqualArrays(g, expectedReduce('float32', 'max', 10 + i, hvd.size()), `t${i}`));
    const threshold = Number(process.env.HOROVOD_FUSION_THRESHOLD ?? 128 * 1024 * 1024);
    if (threshold >= 20 * 29 * 4) {
      assert.equal(after.responses - before.responses, 1);
      assert.equal(after.fusedResponses - before.fusedResponses, 1);
    }
  });
});

describe('ordering', function () {
  it('async requests submitted in different orders on different ranks all complete correctly', async function () {
    const r = hvd.rank();
    const names = Array.from({ length: 12 }, (_, i) => `order.${i}`);
    // Each rank submits in its own rotation and reversal of the order.
    const order = names.map((_, i) => i);
    const rot = r % order.length;
    const mine = order.slice(rot).concat(order.slice(0, rot));
    if (r % 2 === 1) mine.reverse();
    const promises = new Map();
    for (const i of mine) promises.set(i, hvd.allreduce(makeArray('float32', i + 1, r), { op: 'sum', name: names[i] }));
    for (const i of order) {
      assertEqualArrays(await promises.get(i), expectedReduce('float32', 'sum', i + 1, hvd.size()), names[i]);
    }
  });

  it('grouped and single requests interleaved in different orders', async function () {
    const r = hvd.rank();
    const a = () => hvd.groupedAllreduce([makeArray('int32', 4, r), makeArray('int32', 2, r)], { op: 'sum', name: 'mix.g' });
    const b = () => hvd.allreduce(makeArray('float64', 3, r), { op: 'min', name: 'mix.s' });
    const c = () => hvd.allgather(new Int32Array([r]), { name: 'mix.ag' });
    const thunks = r % 2 === 0 ? [a, b, c] : [c, b, a];
    const results = await Promise.all(thunks.map((f) => f()));
    const [ga, sb, ac] = r % 2 === 0 ? results : results.reverse();
    assertEqualArrays(ga[0], expectedReduce('int32', 'sum', 4, hvd.size()), 'g0');
    assertEqualArrays(sb, expectedReduce('float64', 'min', 3, hvd.size()), 's');
    assert.deepEqual(Array.from(ac), Array.from({ length: hvd.size() }, (_, i) => i));
  });
});

describe('allreduce on tfjs tensors', function () {
  let tf;
  before(function () {
    tf = tfCore();
  });

  for (const dtype of ['float32', 'int32', 'bool']) {
    for (const shape of [[5], [2, 3], [2, 1, 2], [0, 4]]) {
      it(`${dtype} ${JSON.stringify(shape)} returns a Tensor of the same dtype and shape`, async function () {
        const n = shape.reduce((a, b) => a * b, 1);
        const r = hvd.rank();
        const vals = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? (i + r) % 2 : ((r + i) % 3) + 1));
        const t = tf.tensor(vals, shape, dtype);
        const op = dtype === 'float32' ? 'average' : dtype === 'bool' ? 'max' : 'sum';
        const got = hvd.allreduceSync(t, { op });
        const got2 = await hvd.allreduce(t, { op });
        for (const g of [got, got2]) {
          assert.ok(g instanceof tf.Tensor);
          assert.equal(g.dtype, dtype);
          assert.deepEqual(g.shape, shape);
        }
        const want = [];
        for (let i = 0; i < n; i++) {
          let acc = dtype === 'bool' ? 0 : 0;
          for (let k = 0; k < hvd.size(); k++) {
            const v = dtype === 'bool' ? (i + k) % 2 : ((k + i) % 3) + 1;
            acc = dtype === 'bool' ? acc || v : acc + v;
          }
          want.push(dtype === 'float32' ? Math.fround(acc * Math.fround(1 / hvd.size())) : Number(acc));
        }
        assert.deepEqual(Array.from(got.dataSync()), want);
        assert.deepEqual(Array.from(got2.dataSync()), want);
        assert.deepEqual(Array.from(t.dataSync()), vals, 'input tensor unchanged');
        tf.dispose([t, got, got2]);
      });
    }
  }
});
