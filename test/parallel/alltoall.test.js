'use strict';
// alltoall: rank i sends splits[j] rows to rank j; every rank checks what it
// received against what it computes every sender sent, exactly.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { TYPED, BIG, tfCore } = require('../support/util');
const { expectMismatchEverywhere } = require('../support/mismatch');

// Rows rank `from` sends rank `to`: uneven, zero for some pairs.
const rowsBetween = (from, to) => (from + 2 * to) % 3;
// Element `e` of row `k` that `from` sends `to`, small enough for every dtype.
const cell = (from, to, k, e) => (from * 31 + to * 7 + k * 3 + e) % 100;

function sendBuffer(dtype, me, n, rowLen, rows = rowsBetween) {
  const total = Array.from({ length: n }, (_, j) => rows(me, j)).reduce((a, b) => a + b, 0);
  const a = new TYPED[dtype](total * rowLen);
  let off = 0;
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < rows(me, j); k++) {
      for (let e = 0; e < rowLen; e++) a[off++] = BIG.has(dtype) ? BigInt(cell(me, j, k, e)) : cell(me, j, k, e);
    }
  }
  return { data: a, rows: total, splits: Array.from({ length: n }, (_, j) => rows(me, j)) };
}

function expected(me, n, rowLen, rows = rowsBetween) {
  const want = [];
  for (let i = 0; i < n; i++) for (let k = 0; k < rows(i, me); k++) for (let e = 0; e < rowLen; e++) want.push(cell(i, me, k, e));
  return want;
}

const asNumbers = (a) => Array.from(a, Number);

describe('alltoall', function () {
  for (const dtype of Object.keys(TYPED)) {
    it(`${dtype}: uneven splits with zero-length ones, 1-D and 3-D, Promise and Sync`, async function () {
      const n = hvd.size();
      const me = hvd.rank();
      for (const rest of [[], [2, 3]]) {
        const rowLen = rest.reduce((a, b) => a * b, 1);
        const { data, rows, splits } = sendBuffer(dtype, me, n, rowLen);
        const shape = [rows, ...rest];
        const sync = hvd.alltoallSync(data, { splits, shape });
        const async_ = await hvd.alltoall(data, { splits, shape, name: `a2a.${dtype}.${rest.length}` });
        const wantSplits = Array.from({ length: n }, (_, i) => rowsBetween(i, me));
        for (const got of [sync, async_]) {
          assert.equal(got.output.constructor, TYPED[dtype]);
          assert.deepEqual(asNumbers(got.output), expected(me, n, rowLen));
          assert.ok(got.receivedSplits instanceof Int32Array);
          assert.deepEqual(Array.from(got.receivedSplits), wantSplits);
        }
      }
    });
  }

  it('default splits: an equal share of the first dimension to every rank', function () {
    const n = hvd.size();
    const x = new Int32Array(2 * n).map((_, i) => hvd.rank() * 100 + i);
    const { output, receivedSplits } = hvd.alltoallSync(x);
    const want = [];
    for (let i = 0; i < n; i++) want.push(i * 100 + 2 * hvd.rank(), i * 100 + 2 * hvd.rank() + 1);
    assert.deepEqual(Array.from(output), want);
    assert.deepEqual(Array.from(receivedSplits), new Array(n).fill(2));
  });

  it('empty: every split zero', async function () {
    const n = hvd.size();
    const { output, receivedSplits } = await hvd.alltoall(new Float32Array(0), { splits: new Array(n).fill(0) });
    assert.equal(output.length, 0);
    assert.deepEqual(Array.from(receivedSplits), new Array(n).fill(0));
  });

  it('one row, odd lengths, and rows above the fusion threshold (and the MPI chunk size)', function () {
    const n = hvd.size();
    const me = hvd.rank();
    for (const rowLen of [1, 7, 20001]) {
      const rows = (from, to) => (from === to ? 1 : (from + to) % 2 + 1);
      const { data, splits } = sendBuffer('float32', me, n, rowLen, rows);
      const { output } = hvd.alltoallSync(data, { splits, shape: [data.length / rowLen, rowLen], name: `a2a.big.${rowLen}` });
      assert.deepEqual(Array.from(output), expected(me, n, rowLen, rows));
    }
  });

  it('tfjs Tensors: the output is a Tensor of the received rows', async function () {
    const tf = tfCore();
    const n = hvd.size();
    const me = hvd.rank();
    const { data, rows, splits } = sendBuffer('int32', me, n, 2);
    const t = tf.tensor(data, [rows, 2], 'int32');
    const { output, receivedSplits } = await hvd.alltoall(t, { splits });
    const got = receivedSplits.reduce((a, b) => a + b, 0);
    assert.deepEqual(output.shape, [got, 2]);
    assert.equal(output.dtype, 'int32');
    assert.deepEqual(Array.from(output.dataSync()), expected(me, n, 2));
    tf.dispose([t, output]);
  });

  it('bad arguments are TypeError/RangeError, before anything is sent', function () {
    const n = hvd.size();
    assert.throws(() => hvd.alltoallSync(new Float32Array(1), { splits: 'x' }), TypeError);
    assert.throws(() => hvd.alltoallSync(new Float32Array(2), { splits: [1.5, 0.5] }), RangeError);
    assert.throws(() => hvd.alltoallSync(new Float32Array(2), { splits: [-1, 3] }), RangeError);
    assert.throws(() => hvd.alltoallSync(new Float32Array(2), { nope: 1 }), TypeError);
    assert.throws(() => hvd.alltoallSync(new Float32Array(1), { shape: [] }), RangeError);
    if (n > 1) {
      assert.throws(() => hvd.alltoallSync(new Float32Array(n + 1)), (e) => e instanceof RangeError && /not divisible/.test(e.message));
    }
    // Still usable.
    assert.deepEqual(Array.from(hvd.alltoallSync(new Float32Array(n).fill(1)).output), new Array(n).fill(1));
  });

  describe('mismatches', function () {
    const last = () => hvd.rank() === hvd.size() - 1;

    it('splits that do not add up to the first dimension (on one rank)', async function () {
      const n = hvd.size();
      const splits = new Array(n).fill(1);
      if (last()) splits[0] = 2;
      if (n === 1) {
        // Alone, the rank still learns its splits are wrong, as HVD_MISMATCH.
        await assert.rejects(hvd.alltoall(new Float32Array(1), { splits }), (e) => e.code === 'HVD_MISMATCH' && /adding up/.test(e.message));
        return;
      }
      await expectMismatchEverywhere(() => hvd.alltoall(new Float32Array(n), { splits, name: 'mm.a2a.splits' }), 'mm.a2a.splits', /splits.*adding up/);
    });

    it('splits with the wrong number of entries', async function () {
      const n = hvd.size();
      const splits = last() ? [n] : new Array(n).fill(1);
      if (n === 1) return;
      await expectMismatchEverywhere(() => hvd.alltoallSync(new Float32Array(n), { splits, name: 'mm.a2a.len' }), 'mm.a2a.len', /one entry per rank/);
    });

    it('data types', async function () {
      const n = hvd.size();
      const x = last() ? new Int32Array(n) : new Float32Array(n);
      await expectMismatchEverywhere(() => hvd.alltoall(x, { name: 'mm.a2a.dtype' }), 'mm.a2a.dtype', /data types.*float32.*int32/);
    });

    it('row shapes', async function () {
      const n = hvd.size();
      const shape = last() ? [n, 4] : [2 * n, 2];
      await expectMismatchEverywhere(() => hvd.alltoall(new Float32Array(4 * n), { shape, name: 'mm.a2a.rows' }), 'mm.a2a.rows', /\[\*,2\].*\[\*,4\]/);
    });
  });
});
