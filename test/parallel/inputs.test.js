'use strict';
// When a Promise collective reads its input, and in-place targets in flight
// (src/inputs.ts; issue 8 item 4).
const assert = require('node:assert/strict');
const hvd = require('../..');

describe('Promise collective inputs', function () {
  it('a small staging array refilled after each call gives each call its own values', async function () {
    const staging = new Float32Array(4);
    const pending = [];
    for (let i = 0; i < 5; i++) {
      staging.fill(i);
      pending.push(hvd.allreduce(staging, { name: `stage.${i}`, op: 'sum' }));
    }
    const got = (await Promise.all(pending)).map((r) => r[0]);
    assert.deepEqual(got, [0, 1, 2, 3, 4].map((i) => i * hvd.size()));
  });

  it('the same holds for allgather and broadcast', async function () {
    const staging = new Int32Array(2);
    const gathers = [];
    const casts = [];
    for (let i = 0; i < 3; i++) {
      staging.fill(10 * i + hvd.rank());
      gathers.push(hvd.allgather(staging, { name: `stage.ag.${i}` }));
      casts.push(hvd.broadcast(staging, 0, { name: `stage.bc.${i}` }));
    }
    const ag = await Promise.all(gathers);
    const bc = await Promise.all(casts);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(Array.from(ag[i]), Array.from({ length: 2 * hvd.size() }, (_, k) => 10 * i + Math.floor(k / 2)));
      assert.deepEqual(Array.from(bc[i]), [10 * i, 10 * i]);
    }
  });

  it('HVD_CHECK_INPUTS=1 rejects a large input changed before the Promise settled', async function () {
    process.env.HVD_CHECK_INPUTS = '1';
    try {
      const big = new Float32Array(16384).fill(1); // 64 KiB: not copied
      const p = hvd.allreduce(big, { name: 'check.changed', op: 'sum' });
      big[0] = 5;
      await assert.rejects(p, (e) => {
        assert.equal(e.code, 'HVD_INVALID_ARGUMENT');
        assert.match(e.message, /allreduce 'check\.changed': its input \(a Float32Array of 16384 elements\) was modified before the Promise settled/);
        assert.match(e.message, /leave the input unchanged until the Promise settles/);
        return true;
      });
      const g = hvd.allgather(big, { name: 'check.ag' });
      big[1] = 7;
      await assert.rejects(g, /allgather 'check\.ag'.*modified/);
      // Unchanged inputs pass the check.
      const ok = await hvd.allreduce(big, { name: 'check.same', op: 'sum' });
      assert.equal(ok[2], hvd.size());
    } finally {
      delete process.env.HVD_CHECK_INPUTS;
    }
  });
});

describe('in-place targets in flight', function () {
  it('a second in-place allreduce on the same array throws a clear TypeError; the first completes', async function () {
    const a = new Float32Array(8).fill(1);
    const first = hvd.allreduce(a, { name: 'ip.first', op: 'sum', inPlace: true });
    assert.throws(() => hvd.allreduce(a, { name: 'ip.second', op: 'sum', inPlace: true }), (e) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^allreduce: tensor shares memory .* in-place allreduce 'ip\.first', which has not settled; two in-place collectives/);
      return true;
    });
    // Overlapping views of the same buffer, and Sync forms, are caught too.
    assert.throws(() => hvd.allreduce(a.subarray(4), { name: 'ip.view', inPlace: true }), /in-place allreduce 'ip\.first'/);
    assert.throws(() => hvd.allreduceSync(new Float32Array(a.buffer, 0, 2), { name: 'ip.sync', inPlace: true }), /allreduceSync: tensor shares memory.*'ip\.first'/);
    // Reading it while the engine writes it is refused as well.
    assert.throws(() => hvd.allgather(a, { name: 'ip.read' }), /allgather: tensor shares memory.*the engine is writing that memory/);
    assert.throws(() => hvd.broadcastSync(a, 0, { name: 'ip.readb' }), /broadcastSync: tensor shares memory/);
    const out = await first;
    assert.equal(out, a);
    assert.equal(a[0], hvd.size());
    // Once it settled the array is free again.
    hvd.allreduceSync(a, { name: 'ip.again', op: 'sum', inPlace: true });
    assert.equal(a[0], hvd.size() * hvd.size());
  });

  it('disjoint views of one buffer may be reduced in place at once', async function () {
    const buf = new Float32Array(8).fill(2);
    const lo = hvd.allreduce(buf.subarray(0, 4), { name: 'ip.lo', op: 'sum', inPlace: true });
    const hi = hvd.allreduce(buf.subarray(4), { name: 'ip.hi', op: 'sum', inPlace: true });
    await Promise.all([lo, hi]);
    assert.deepEqual(Array.from(buf), new Array(8).fill(2 * hvd.size()));
  });

  it('a failed in-place call releases its target', async function () {
    const a = new Float32Array(2);
    const b = new Float32Array(2);
    const first = hvd.allreduce(a, { name: 'ip.dupname', inPlace: true, op: 'sum' });
    // Same name in flight: rejected, and b must not stay claimed.
    await assert.rejects(hvd.allreduce(b, { name: 'ip.dupname', inPlace: true }), (e) => e.code === 'HVD_DUPLICATE_NAME');
    hvd.allreduceSync(b, { name: 'ip.b', inPlace: true, op: 'sum' });
    await first;
    hvd.allreduceSync(a, { name: 'ip.after', inPlace: true, op: 'sum' });
  });
});
