'use strict';
// groupedAllgather / groupedReducescatter: one negotiation for the group,
// results in input order, checked exactly.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { makeArray, expectedReduce, arraysEqual, tfCore } = require('../support/util');

describe('grouped allgather and reducescatter', function () {
  it('groupedAllgather: members of different dtypes, shapes and per-rank first dimensions, Promise and Sync', async function () {
    const n = hvd.size();
    const me = hvd.rank();
    const mk = (r) => [new Int32Array(r + 1).fill(r), new Float64Array(2 * (r % 2)).fill(r + 0.5), new Uint8Array(3).fill(r)];
    const want = [[], [], []];
    for (let r = 0; r < n; r++) mk(r).forEach((a, i) => want[i].push(...a));
    for (const got of [hvd.groupedAllgatherSync(mk(me)), await hvd.groupedAllgather(mk(me), { name: 'gag' })]) {
      assert.equal(got.length, 3);
      got.forEach((g, i) => assert.deepEqual(Array.from(g), want[i], `member ${i}`));
      assert.equal(got[0].constructor, Int32Array);
      assert.equal(got[1].constructor, Float64Array);
    }
  });

  it('groupedReducescatter: each member is this rank\'s share, with op and scales', async function () {
    const n = hvd.size();
    const me = hvd.rank();
    // 1-D members: every element is a row.
    const dims = [1, 2 * n + 1, 5 * n];
    const xs = dims.map((d) => makeArray('float32', d, me));
    const opts = { op: 'sum', prescaleFactor: 2 };
    for (const got of [hvd.groupedReducescatterSync(xs, { ...opts }), await hvd.groupedReducescatter(xs, { ...opts, name: 'grs' })]) {
      got.forEach((g, i) => {
        const full = expectedReduce('float32', 'sum', dims[i], n, { prescale: 2 });
        const base = Math.floor(dims[i] / n);
        const extra = dims[i] % n;
        const start = me * base + Math.min(me, extra);
        const rows = base + (me < extra ? 1 : 0);
        assert.ok(arraysEqual(g, full.slice(start, start + rows)), `member ${i}`);
      });
    }
  });

  it('tfjs Tensors come back as Tensors', async function () {
    const tf = tfCore();
    const n = hvd.size();
    const t = tf.ones([n, 2]);
    const [g] = await hvd.groupedAllgather([t]);
    assert.deepEqual(g.shape, [n * n, 2]);
    const [r] = hvd.groupedReducescatterSync([t], { op: 'sum' });
    assert.deepEqual(r.shape, [1, 2]);
    assert.deepEqual(Array.from(r.dataSync()), [n, n]);
    tf.dispose([t, g, r]);
  });

  it('ranks whose group members disagree fail with HVD_MISMATCH on every rank', async function () {
    if (hvd.size() < 2) return this.skip();
    const last = hvd.rank() === hvd.size() - 1;
    let err;
    try {
      await hvd.groupedReducescatter([new Float32Array(4), new Float32Array(last ? 6 : 4)], { name: 'grs.mm' });
    } catch (e) {
      err = e;
    }
    const seen = hvd.allgatherObjectSync(err ? err.code : null);
    assert.ok(seen.every((c) => c === 'HVD_MISMATCH'), JSON.stringify(seen));
    assert.equal(hvd.allreduceSync(new Int32Array([1]), { op: 'sum' })[0], hvd.size());
  });

  it('bad arguments', function () {
    assert.throws(() => hvd.groupedAllgatherSync([]), RangeError);
    assert.throws(() => hvd.groupedAllgatherSync(new Float32Array(1)), TypeError);
    assert.throws(() => hvd.groupedReducescatterSync([new Int32Array(2)]), TypeError);
    assert.throws(() => hvd.groupedAllgatherSync([new Float32Array(1)], { op: 'sum' }), TypeError);
  });
});
