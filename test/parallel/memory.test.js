'use strict';
// No memory grows per call: every collective, Sync and Promise, and the
// object variants, run a few hundred times at 1 MiB; RSS after a full GC
// must not grow by anything near the output size per call. Not timing-based.
//
// The bound is generous (a quarter of what the calls returned in total, at
// least 64 MiB) so allocator noise never trips it, while a per-call leak of
// the output (the allgatherSync defect of issue 8 grew RSS by the whole
// output every call) exceeds it several times over.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { gcFunction } = require('../support/util');

const CALLS = 200;
const MIB = 1 << 20;

const gc = gcFunction();

/** Full GC, after letting the event loop run deferred finalizers (Promise results). */
async function settledRss() {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  gc();
  return process.memoryUsage().rss;
}

/**
 * Runs `call(i)` (sync, or returning a Promise that is awaited) CALLS times
 * after a warm-up, and checks RSS growth against outBytes per call.
 */
async function checkFlat(label, outBytes, call, minBound = 64 * MIB) {
  for (let i = 0; i < 10; i++) await call(-1 - i);
  const before = await settledRss();
  for (let i = 0; i < CALLS; i++) {
    const r = call(i);
    if (r && typeof r.then === 'function') await r;
  }
  const after = await settledRss();
  const grew = after - before;
  const bound = Math.max(minBound, 0.25 * CALLS * outBytes);
  const mb = (b) => (b / MIB).toFixed(1);
  assert.ok(
    grew < bound,
    `${label}: RSS grew ${mb(grew)} MiB over ${CALLS} calls (${mb(before)} -> ${mb(after)} MiB after gc), ` +
      `bound ${mb(bound)} MiB; the calls returned ${mb(CALLS * outBytes)} MiB in all`,
  );
}

describe('memory: RSS stays flat over repeated 1 MiB collectives (after gc)', function () {
  this.timeout(180000);
  before(function () {
    // Runs at np=1, 2 and 3 (npm test's single, np2 and np3 runs), where the
    // defect showed. Skipped from 4 ranks up: the np=4 run splits every MPI
    // message at 4000 bytes (a 1 MiB call becomes ~1000 messages; this file
    // alone took 5.5 minutes there) and the multi-host run reuses this
    // suite over TCP within a 170 s limit. The memory paths do not depend
    // on the rank count.
    if (hvd.size() >= 4) this.skip();
  });
  const n = MIB / 4; // float32 elements in 1 MiB
  const x = new Float32Array(n).fill(1);
  const halves = [new Float32Array(n / 2).fill(1), new Float32Array(n / 2).fill(2)];
  // A ~1 MiB object: serialized through the structured-clone path.
  const obj = { rows: Array.from({ length: 64 }, (_, i) => new Float64Array(2048).fill(i)) };

  it('allreduceSync', () => checkFlat('allreduceSync', MIB, () => hvd.allreduceSync(x)));
  it('allreduce (Promise)', () => checkFlat('allreduce', MIB, (i) => hvd.allreduce(x, { name: `mem.ar.${i}` })));
  it('allreduceSync with inPlace', () => checkFlat('allreduceSync inPlace', MIB, () => hvd.allreduceSync(x, { op: 'max', inPlace: true })));
  it('groupedAllreduceSync', () => checkFlat('groupedAllreduceSync', MIB, () => hvd.groupedAllreduceSync(halves)));
  it('groupedAllreduce (Promise)', () => checkFlat('groupedAllreduce', MIB, (i) => hvd.groupedAllreduce(halves, { name: `mem.gar.${i}` })));
  it('allgatherSync', () => checkFlat('allgatherSync', MIB * hvd.size(), () => hvd.allgatherSync(x)));
  it('allgather (Promise)', () => checkFlat('allgather', MIB * hvd.size(), (i) => hvd.allgather(x, { name: `mem.ag.${i}` })));
  it('allgatherSync of 16 bytes, many times', () => {
    // Small outputs take the copy path; the defect grew RSS 17 MB over
    // 20,000 of them (the finalizers queued for the event loop), so this
    // bound is tighter than the others.
    const small = new Float32Array(4);
    return checkFlat('allgatherSync 16 B x100', 16 * hvd.size() * 100, () => {
      for (let k = 0; k < 100; k++) hvd.allgatherSync(small);
    }, 8 * MIB);
  });
  it('eager allreduces of 256 bytes, Sync and Promise, many times', async () => {
    // Each carries its data in its request and its result in the response
    // (HVD_EAGER_BYTES): per-call buffers that must all be freed. 40,000
    // calls per form, so leaking the payload (256 bytes a call) would pass
    // the 8 MiB bound. The first 20,000 warm V8 up: a fresh process grows
    // about 10 MiB over its first 20,000 small calls, eager or not, then
    // stays flat.
    const small = new Float32Array(64).fill(1);
    for (let k = 0; k < 20000; k++) hvd.allreduceSync(small, { name: 'mem.eager.s' });
    for (let k = 0; k < 2000; k++) await hvd.allreduce(small, { name: 'mem.eager.p' });
    await checkFlat('allreduceSync 256 B x200', 256 * 200, () => {
      for (let k = 0; k < 200; k++) hvd.allreduceSync(small, { name: 'mem.eager.s' });
    }, 8 * MIB);
    await checkFlat('allreduce 256 B x200', 256 * 200, async () => {
      for (let k = 0; k < 200; k++) await hvd.allreduce(small, { name: 'mem.eager.p' });
    }, 8 * MIB);
  });
  // The i10 collectives whose op allocates its result (AllocateResult):
  // Sync calls write into JS-heap Buffers as allgatherSync does.
  // Sized by the rank count, so made once the suite runs (hvd.init() comes
  // from the test setup, after describe() bodies run).
  let a2a, big, bigHalves;
  before(function () {
    a2a = new Float32Array(n - (n % hvd.size())).fill(1); // ~1 MiB in and out
    big = new Float32Array(n * hvd.size()).fill(1); // reducescatter: ~1 MiB out per rank
    bigHalves = [new Float32Array((n * hvd.size()) / 2).fill(1), new Float32Array((n * hvd.size()) / 2).fill(2)];
  });
  it('alltoallSync', () => checkFlat('alltoallSync', MIB, () => hvd.alltoallSync(a2a)));
  it('alltoall (Promise)', () => checkFlat('alltoall', MIB, (i) => hvd.alltoall(a2a, { name: `mem.a2a.${i}` })));
  it('reducescatterSync', () => checkFlat('reducescatterSync', MIB, () => hvd.reducescatterSync(big)));
  it('reducescatter (Promise)', () => checkFlat('reducescatter', MIB, (i) => hvd.reducescatter(big, { name: `mem.rs.${i}` })));
  it('groupedAllgatherSync', () => checkFlat('groupedAllgatherSync', MIB * hvd.size(), () => hvd.groupedAllgatherSync(halves)));
  it('groupedReducescatterSync', () => checkFlat('groupedReducescatterSync', MIB, () => hvd.groupedReducescatterSync(bigHalves)));
  it('broadcastSync', () => checkFlat('broadcastSync', MIB, () => hvd.broadcastSync(x, 0)));
  it('broadcast (Promise)', () => checkFlat('broadcast', MIB, (i) => hvd.broadcast(x, 0, { name: `mem.bc.${i}` })));
  it('broadcastObjectSync', () => checkFlat('broadcastObjectSync', MIB, () => hvd.broadcastObjectSync(obj, 0)));
  it('broadcastObject (Promise)', () => checkFlat('broadcastObject', MIB, (i) => hvd.broadcastObject(obj, 0, { name: `mem.bo.${i}` })));
  it('allgatherObjectSync', () => checkFlat('allgatherObjectSync', MIB * hvd.size(), () => hvd.allgatherObjectSync(obj)));
  it('allgatherObject (Promise)', () => checkFlat('allgatherObject', MIB * hvd.size(), (i) => hvd.allgatherObject(obj, { name: `mem.go.${i}` })));
});
