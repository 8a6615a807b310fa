'use strict';
// Eager allreduces (HVD_EAGER_BYTES, 4096 by default): a call whose tensors
// total at most that many bytes sends its data with its request, rank 0
// reduces it while it builds the response, and every rank copies the result
// out of the response; no collective runs. These tests check that the path
// is taken exactly when it should be (engineStats().eagerAllreduces) and that
// it gives the same bytes as the collective path. The np=3 run sets
// HVD_EAGER_BYTES=0: there every call must take the collective path.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { groupedAllreduceUnpackedSync } = require('../../dist/collectives/allreduce');
const { TYPED, FLOAT, BIG, makeArray, expectedReduce, arraysEqual } = require('../support/util');

const LIMIT = process.env.HVD_EAGER_BYTES === undefined ? 4096 : Number(process.env.HVD_EAGER_BYTES);

function eagerDelta(fn) {
  const before = hvd.engineStats().eagerAllreduces;
  const result = fn();
  return { result, eager: hvd.engineStats().eagerAllreduces - before };
}

describe('eager allreduce (HVD_EAGER_BYTES)', function () {
  it('small calls are eager, calls over the limit run the collective', function () {
    const small = eagerDelta(() => hvd.allreduceSync(makeArray('float32', 7, hvd.rank()), { op: 'sum', name: 'eager.small' }));
    assert.ok(arraysEqual(small.result, expectedReduce('float32', 'sum', 7, hvd.size())));
    assert.equal(small.eager, LIMIT >= 28 ? 1 : 0, `eager responses for a 28-byte call with HVD_EAGER_BYTES=${LIMIT}`);

    const atLimit = Math.max(1, Math.floor(LIMIT / 4));
    const edge = eagerDelta(() => hvd.allreduceSync(makeArray('float32', atLimit, hvd.rank()), { op: 'sum', name: 'eager.edge' }));
    assert.ok(arraysEqual(edge.result, expectedReduce('float32', 'sum', atLimit, hvd.size())));
    assert.equal(edge.eager, LIMIT > 0 ? 1 : 0, 'a call of exactly HVD_EAGER_BYTES is eager');

    const over = eagerDelta(() => hvd.allreduceSync(makeArray('float32', atLimit + 1, hvd.rank()), { op: 'sum', name: 'eager.over' }));
    assert.ok(arraysEqual(over.result, expectedReduce('float32', 'sum', atLimit + 1, hvd.size())));
    assert.equal(over.eager, 0, 'one element more runs the collective');
  });

  it('a small group is one eager response; a group over the limit is not eager', function () {
    const xs = [3, 5, 9].map((n) => makeArray('float64', n, hvd.rank()));
    const small = eagerDelta(() => groupedAllreduceUnpackedSync(xs, { op: 'max', name: 'eager.group' }));
    small.result.forEach((g, i) => assert.ok(arraysEqual(g, expectedReduce('float64', 'max', xs[i].length, hvd.size())), `member ${i}`));
    assert.equal(small.eager, LIMIT >= 17 * 8 ? 1 : 0);

    // Members of 1 KiB each: together over the limit, so the whole group runs the collective.
    const big = [0, 1, 2, 3, 4].map(() => makeArray('float32', 256, hvd.rank()));
    const r = eagerDelta(() => groupedAllreduceUnpackedSync(big, { op: 'sum', name: 'eager.group.big' }));
    r.result.forEach((g, i) => assert.ok(arraysEqual(g, expectedReduce('float32', 'sum', 256, hvd.size())), `member ${i}`));
    if (LIMIT < 5 * 1024) assert.equal(r.eager, 0, 'a group is eager only when all its members fit together');
  });

  it('Promise calls, in-place calls and out arrays take the eager path with the same results', async function () {
    const n = 16;
    const want = expectedReduce('int32', 'sum', n, hvd.size());
    const before = hvd.engineStats().eagerAllreduces;
    assert.ok(arraysEqual(await hvd.allreduce(makeArray('int32', n, hvd.rank()), { op: 'sum', name: 'eager.p' }), want));
    const y = makeArray('int32', n, hvd.rank());
    assert.equal(hvd.allreduceSync(y, { op: 'sum', name: 'eager.ip', inPlace: true }), y);
    assert.ok(arraysEqual(y, want));
    const out = new Int32Array(n);
    assert.equal(hvd.allreduceSync(makeArray('int32', n, hvd.rank()), { op: 'sum', name: 'eager.out', out }), out);
    assert.ok(arraysEqual(out, want));
    assert.equal(hvd.engineStats().eagerAllreduces - before, LIMIT >= n * 4 ? 3 : 0);
  });

  // Each case twice: small (eager) and the same values at the front of a
  // tensor over the limit (the collective), compared byte for byte.
  const cases = [];
  for (const dtype of Object.keys(TYPED)) {
    for (const op of ['sum', 'average', 'min', 'max', 'product']) {
      if (op === 'average' && !FLOAT.has(dtype)) continue;
      cases.push([dtype, op, 1, 1]);
    }
    cases.push([dtype, 'sum', 0.5, 1]);
    cases.push([dtype, 'sum', 1, 0.25]);
    if (FLOAT.has(dtype)) cases.push([dtype, 'average', 2, 0.5]);
  }
  it(`gives the collective path's bytes for every dtype, op and scale factor (${cases.length} cases)`, function () {
    const n = 5;
    const bigN = LIMIT + n;  // over the limit for any element size
    let eager = 0;
    let expectEager = 0;
    for (const [dtype, op, prescaleFactor, postscaleFactor] of cases) {
      if (n * TYPED[dtype].BYTES_PER_ELEMENT <= LIMIT) expectEager++;
      const opts = { op, prescaleFactor, postscaleFactor };
      const what = `${dtype} ${op} pre ${prescaleFactor} post ${postscaleFactor}`;
      const small = makeArray(dtype, n, hvd.rank());
      const big = makeArray(dtype, bigN, hvd.rank());
      const d = eagerDelta(() => hvd.allreduceSync(small, { ...opts, name: `eager.cmp.${what}` }));
      eager += d.eager;
      const viaCollective = hvd.allreduceSync(big, { ...opts, name: `eager.cmp.big.${what}` });
      const got = Array.from(d.result, (v) => (BIG.has(dtype) ? v.toString() : v));
      const want = Array.from(viaCollective.subarray(0, n), (v) => (BIG.has(dtype) ? v.toString() : v));
      assert.deepEqual(got, want, what);
      // And the bytes are the same on every rank.
      const all = hvd.allgatherObjectSync(got.map(String), { name: `eager.cmp.all.${what}` });
      for (const other of all) assert.deepEqual(other, got.map(String), `${what}: every rank has the same result`);
    }
    assert.equal(eager, expectEager, 'every small case within HVD_EAGER_BYTES was eager');
  });

  it('a mismatch in a small call still fails on every rank, naming the tensor and what differs', function () {
    if (hvd.size() === 1) this.skip();
    const n = hvd.rank() === 0 ? 3 : 4;
    assert.throws(
      () => hvd.allreduceSync(new Float32Array(n), { op: 'sum', name: 'eager.mismatch' }),
      (e) => e.code === 'HVD_MISMATCH' && /eager\.mismatch/.test(e.message) && /shape/i.test(e.message),
    );
    // The process stays usable.
    assert.ok(arraysEqual(hvd.allreduceSync(new Float32Array([1]), { op: 'sum', name: 'eager.after' }), new Float32Array([hvd.size()])));
  });

  it('while a rank has joined, small calls run the collective (the joined rank contributes zeros)', async function () {
    if (hvd.size() === 1) this.skip();
    const before = hvd.engineStats().eagerAllreduces;
    let result;
    if (hvd.rank() === 0) {
      await hvd.join();
    } else {
      result = await hvd.allreduce(new Float64Array([hvd.rank()]), { op: 'sum', name: 'eager.joined' });
      await hvd.join();
    }
    if (hvd.rank() !== 0) {
      const want = ((hvd.size() - 1) * hvd.size()) / 2;
      assert.deepEqual(Array.from(result), [want]);
      assert.equal(hvd.engineStats().eagerAllreduces - before, 0);
    }
  });
});
