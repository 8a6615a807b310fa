'use strict';
// The reduction rules that are easy to get subtly wrong (issue 8):
//  * integer prescale/postscale: scaled in double, reduced, rounded once
//    (ties to even) and saturated, never truncated per step;
//  * floating-point min/max: NaN wins on every rank whichever rank holds it.
// The np=2/np=4 runs exercise MPI's allreduce, np=3 the ring.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { groupedAllreduceUnpackedSync } = require('../../dist/collectives/allreduce');
const { TYPED, BIG, FLOAT, expectedScaledInt, arraysEqual } = require('../support/util');

const INTS = Object.keys(TYPED).filter((d) => !FLOAT.has(d));

function fmt(a) {
  return `[${Array.from(a).slice(0, 12).join(', ')}${a.length > 12 ? ', ...' : ''}]`;
}

function assertArrays(got, want, what) {
  assert.ok(arraysEqual(got, want), `${what}: got ${fmt(got)} want ${fmt(want)}`);
}

/** This rank's block of a reducescatter over n rows (dim0 / size, one more on the first dim0 % size ranks). */
function myBlock(a) {
  const size = hvd.size();
  const rows = (r) => Math.floor(a.length / size) + (r < a.length % size ? 1 : 0);
  let start = 0;
  for (let r = 0; r < hvd.rank(); r++) start += rows(r);
  return a.slice(start, start + rows(hvd.rank()));
}

/** Each rank's values for integer scaling: small, mixed, some making .5 after scaling. */
function intValues(dtype, rank, n) {
  const signed = !dtype.startsWith('uint');
  const a = new TYPED[dtype](n);
  for (let i = 0; i < n; i++) {
    let v = ((rank * 5 + i * 3) % 11) + 1;
    if (signed && (i + rank) % 3 === 0) v = -v;
    a[i] = BIG.has(dtype) ? BigInt(v) : v;
  }
  return a;
}

describe('integer prescale/postscale: scaled in double, rounded once', function () {
  const size = () => hvd.size();

  it("the issue's example: Int32Array([3]) summed with prescale 0.5 or postscale 0.5", function () {
    const pre = hvd.allreduceSync(new Int32Array([3]), { op: 'sum', prescaleFactor: 0.5, name: 'rr.pre' });
    const post = hvd.allreduceSync(new Int32Array([3]), { op: 'sum', postscaleFactor: 0.5, name: 'rr.post' });
    // 0.5*3 per rank, summed, rounded once (ties to even): np=2 -> 3, np=3 -> 4.5 -> 4, np=4 -> 6.
    const want = (x) => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x));
    assert.equal(pre[0], want(1.5 * size()), `prescale: truncating each rank's 1.5 to 1 would give ${size()}`);
    assert.equal(post[0], want(1.5 * size()));
  });

  for (const dtype of INTS) {
    it(`${dtype}: sum, min, max and product with fractional factors, sync, Promise and fused`, async function () {
      const n = 23;
      const all = [...Array(size()).keys()].map((r) => intValues(dtype, r, n));
      const mine = all[hvd.rank()];
      for (const [op, prescale, postscale] of [
        ['sum', 0.5, 1],
        ['sum', 0.3, 1.7],
        ['sum', 1, 0.25],
        ['min', -0.5, 1.5],
        ['max', 0.75, 1],
        ['product', 0.5, 1],
      ]) {
        const want = expectedScaledInt(dtype, op, all, prescale, postscale);
        const opts = { op, prescaleFactor: prescale, postscaleFactor: postscale };
        const what = `${op} pre ${prescale} post ${postscale}`;
        assertArrays(hvd.allreduceSync(mine, { ...opts, name: `rr.${dtype}.${what}.s` }), want, `sync ${what}`);
        assertArrays(await hvd.allreduce(mine, { ...opts, name: `rr.${dtype}.${what}.p` }), want, `Promise ${what}`);
        const fused = groupedAllreduceUnpackedSync([mine, mine.slice(0, 5)], { ...opts, name: `rr.${dtype}.${what}.g` });
        assertArrays(fused[0], want, `fused ${what}`);
        assertArrays(fused[1], want.slice(0, 5), `fused second member ${what}`);
      }
    });
  }

  for (const dtype of INTS) {
    it(`${dtype}: reducescatter follows the same rule (sync and Promise)`, async function () {
      const n = 23;
      const all = [...Array(size()).keys()].map((r) => intValues(dtype, r, n));
      const mine = all[hvd.rank()];
      for (const [op, prescale, postscale] of [
        ['sum', 0.5, 1],
        ['sum', 0.3, 1.7],
        ['min', -0.5, 1.5],
      ]) {
        const want = myBlock(expectedScaledInt(dtype, op, all, prescale, postscale));
        const opts = { op, prescaleFactor: prescale, postscaleFactor: postscale };
        const what = `${op} pre ${prescale} post ${postscale}`;
        assertArrays(hvd.reducescatterSync(mine, { ...opts, name: `rrs.${dtype}.${what}.s` }), want, `reducescatterSync ${what}`);
        assertArrays(await hvd.reducescatter(mine, { ...opts, name: `rrs.${dtype}.${what}.p` }), want, `reducescatter ${what}`);
      }
    });
  }

  it('ties round to even, in both directions', function () {
    // Only rank 0 contributes, so the sum is the same at every rank count.
    const r0 = hvd.rank() === 0;
    const x = new Int32Array(r0 ? [5, 7, -5, -7, 3, 1] : [0, 0, 0, 0, 0, 0]);
    const got = hvd.allreduceSync(x, { op: 'sum', postscaleFactor: 0.5, name: 'rr.ties' });
    assert.deepEqual(Array.from(got), [2, 4, -2, -4, 2, 0]);
  });

  it('results saturate at the range of the type', function () {
    const big = hvd.allreduceSync(new Int8Array([100, -100, 1]), { op: 'sum', postscaleFactor: 1.5, name: 'rr.sat8' });
    // 1.5 * 100 * size >= 300: clamped to 127 / -128; 1.5 * size stays in range.
    assert.deepEqual(Array.from(big), [127, -128, Math.abs((1.5 * hvd.size()) % 1) === 0.5 ? 2 * Math.round(0.75 * hvd.size()) : Math.round(1.5 * hvd.size())]);
    const neg = hvd.allreduceSync(new Uint8Array([3, 200]), { op: 'sum', prescaleFactor: -1, name: 'rr.satu8' });
    assert.deepEqual(Array.from(neg), [0, 0], 'a negative result saturates to 0 for unsigned types');
    const u32 = hvd.allreduceSync(new Uint32Array([4000000000]), { op: 'sum', postscaleFactor: 1.25, name: 'rr.satu32' });
    assert.deepEqual(Array.from(u32), [4294967295]);
    const i64 = hvd.allreduceSync(new BigInt64Array([2n ** 62n]), { op: 'sum', postscaleFactor: 2.5, name: 'rr.sat64' });
    assert.deepEqual(Array.from(i64), [2n ** 63n - 1n]);
  });

  it('average is refused for integer tensors (use sum with postscaleFactor 1/size)', function () {
    assert.throws(() => hvd.allreduceSync(new Int32Array([1])), /average.*int32/);
    const x = new Int32Array([hvd.rank() === 0 ? 3 : 0]);
    const mean = hvd.allreduceSync(x, { op: 'sum', postscaleFactor: 1 / hvd.size(), name: 'rr.mean' });
    const want = 3 / hvd.size();
    assert.equal(mean[0], Math.abs(want % 1) === 0.5 ? 2 * Math.round(want / 2) : Math.round(want));
  });
});

describe('min/max: NaN wins whichever rank holds it', function () {
  for (const dtype of ['float32', 'float64']) {
    for (const op of ['min', 'max']) {
      it(`${dtype} ${op}: NaN from rank k at position k, numbers elsewhere, sync, Promise and fused`, async function () {
        const size = hvd.size();
        const rank = hvd.rank();
        // Position k: rank k holds NaN, every other rank a number. Positions
        // size..size+3: numbers only (including ±Infinity).
        const n = size + 4;
        const valueOf = (r, i) => (i === r ? NaN : i >= size && i === size + 3 ? (r % 2 ? Infinity : -Infinity) : (r * 3 + i) % 7 - 3);
        const mine = new TYPED[dtype](n);
        for (let i = 0; i < n; i++) mine[i] = valueOf(rank, i);
        const want = new TYPED[dtype](n);
        for (let i = 0; i < n; i++) {
          let acc = valueOf(0, i);
          for (let r = 1; r < size; r++) {
            const v = valueOf(r, i);
            acc = Number.isNaN(acc) || Number.isNaN(v) ? NaN : op === 'min' ? Math.min(acc, v) : Math.max(acc, v);
          }
          want[i] = acc;
        }
        assertArrays(hvd.allreduceSync(mine, { op, name: `nan.${dtype}.${op}.s` }), want, 'sync');
        assertArrays(await hvd.allreduce(mine, { op, name: `nan.${dtype}.${op}.p` }), want, 'Promise');
        const fused = groupedAllreduceUnpackedSync([mine, mine], { op, name: `nan.${dtype}.${op}.g` });
        assertArrays(fused[0], want, 'fused');
        assertArrays(fused[1], want, 'fused second member');
        const inPlace = mine.slice();
        hvd.allreduceSync(inPlace, { op, inPlace: true, name: `nan.${dtype}.${op}.i` });
        assertArrays(inPlace, want, 'in place');
        assertArrays(hvd.reducescatterSync(mine, { op, name: `nan.${dtype}.${op}.rs` }), myBlock(want), 'reducescatterSync');
        assertArrays(await hvd.reducescatter(mine, { op, name: `nan.${dtype}.${op}.rp` }), myBlock(want), 'reducescatter');
      });
    }
  }
});
