'use strict';
// reducescatter: every op × every dtype, first dimensions 0, 1, odd and
// above the fusion threshold; each rank checks its share of the locally
// computed reduction exactly. The first dim0 % size ranks get one extra row.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { TYPED, FLOAT, makeArray, expectedReduce, arraysEqual, tfCore } = require('../support/util');
const { expectMismatchEverywhere } = require('../support/mismatch');

const OPS = ['average', 'sum', 'min', 'max', 'product'];

/** [first row, row count] of `rank`'s share of `dim0` rows over `n` ranks. */
function share(dim0, n, rank) {
  const base = Math.floor(dim0 / n);
  const extra = dim0 % n;
  const rows = base + (rank < extra ? 1 : 0);
  const start = rank * base + Math.min(rank, extra);
  return [start, rows];
}

function check(got, dtype, op, shape, what, scales) {
  const n = hvd.size();
  const rowLen = shape.slice(1).reduce((a, b) => a * b, 1);
  const total = shape[0] * rowLen;
  const full = expectedReduce(dtype, op, total, n, scales);
  const [start, rows] = share(shape[0], n, hvd.rank());
  const want = full.slice(start * rowLen, (start + rows) * rowLen);
  assert.equal(got.constructor, TYPED[dtype], what);
  assert.ok(arraysEqual(got, want), `${what}: got [${Array.from(got).slice(0, 6)}...] want [${Array.from(want).slice(0, 6)}...]`);
}

describe('reducescatter', function () {
  for (const dtype of Object.keys(TYPED)) {
    for (const op of OPS) {
      if (op === 'average' && !FLOAT.has(dtype)) continue;
      it(`${op} on ${dtype}: first dimensions 0, 1, odd; Promise and Sync`, async function () {
        const n = hvd.size();
        for (const shape of [[0], [0, 3], [1], [1, 2], [7], [7, 3], [2 * n + 1, 2, 2]]) {
          const x = makeArray(dtype, shape.reduce((a, b) => a * b, 1), hvd.rank());
          const before = x.slice();
          const sync = hvd.reducescatterSync(x, { op, shape, name: `rs.${dtype}.${op}.${shape}` });
          check(sync, dtype, op, shape, `sync ${shape}`);
          const async_ = await hvd.reducescatter(x, { op, shape });
          check(async_, dtype, op, shape, `async ${shape}`);
          assert.ok(arraysEqual(x, before), 'input must not be written');
        }
      });
    }
  }

  it('above the fusion threshold and the MPI chunk size, with prescale and postscale', function () {
    const n = hvd.size();
    const shape = [40 * n + 1, 501];
    const x = makeArray('float64', shape[0] * shape[1], hvd.rank());
    const got = hvd.reducescatterSync(x, { op: 'sum', shape, prescaleFactor: 0.5, postscaleFactor: 4 });
    check(got, 'float64', 'sum', shape, 'big', { prescale: 0.5, postscale: 4 });
    const big32 = hvd.reducescatterSync(makeArray('float32', shape[0] * shape[1], hvd.rank()), { op: 'max', shape });
    check(big32, 'float32', 'max', shape, 'big float32');
  });

  it('default op is average; the result of a tfjs Tensor is a Tensor of this rank\'s rows', async function () {
    const tf = tfCore();
    const n = hvd.size();
    const t = tf.fill([n + 1, 2], hvd.rank() + 1, 'float32');
    const got = await hvd.reducescatter(t);
    const [, rows] = share(n + 1, n, hvd.rank());
    assert.deepEqual(got.shape, [rows, 2]);
    assert.equal(got.dtype, 'float32');
    const mean = (n + 1) / 2;
    assert.deepEqual(Array.from(got.dataSync()), new Array(rows * 2).fill(mean));
    const i = hvd.reducescatterSync(tf.fill([n], 2, 'int32'), { op: 'sum' });
    assert.deepEqual(Array.from(i.dataSync()), [2 * n]);
    tf.dispose([t, got, i]);
  });

  it('bad arguments are TypeError/RangeError', function () {
    assert.throws(() => hvd.reducescatterSync(new Float32Array(2), { op: 'nope' }), RangeError);
    assert.throws(() => hvd.reducescatterSync(new Int32Array(2)), (e) => e instanceof TypeError && /average/.test(e.message));
    assert.throws(() => hvd.reducescatterSync(new Float32Array(1), { shape: [] }), RangeError);
    assert.throws(() => hvd.reducescatterSync([1, 2]), TypeError);
    assert.throws(() => hvd.reducescatterSync(new Float32Array(2), { splits: [1] }), TypeError);
  });

  describe('mismatches', function () {
    const last = () => hvd.rank() === hvd.size() - 1;
    it('shapes', async function () {
      await expectMismatchEverywhere(() => hvd.reducescatter(new Float32Array(last() ? 6 : 4), { name: 'mm.rs.shape' }), 'mm.rs.shape', /shapes.*\[4\].*\[6\]/);
    });
    it('reduce ops', async function () {
      await expectMismatchEverywhere(() => hvd.reducescatterSync(new Float32Array(4), { op: last() ? 'max' : 'sum', name: 'mm.rs.op' }), 'mm.rs.op', /reduce ops.*sum.*max/);
    });
    it('data types', async function () {
      const x = last() ? new Float64Array(4) : new Float32Array(4);
      await expectMismatchEverywhere(() => hvd.reducescatter(x, { op: 'sum', name: 'mm.rs.dtype' }), 'mm.rs.dtype', /data types/);
    });
    it('scale factors', async function () {
      await expectMismatchEverywhere(() => hvd.reducescatter(new Float32Array(4), { prescaleFactor: last() ? 2 : 1, name: 'mm.rs.pre' }), 'mm.rs.pre', /prescale/);
    });
  });
});
