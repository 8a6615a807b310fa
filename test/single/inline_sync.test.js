'use strict';
// *Sync calls that run the engine loop on the calling thread
// (Engine::DriveSync, HVD_INLINE_SYNC): exact results with Promise calls in
// flight, with a late peer (the loop is handed back to the engine thread),
// on a process set, with the pool off (results the op allocates cannot be
// allocated by the waiting thread while it drives), and the switches that
// turn it off. Counters come from hvd.engineStats(); nothing is timed.
const assert = require('node:assert/strict');
const { runMpi } = require('../support/util');

const HVD = `const hvd = require(${JSON.stringify(require.resolve('../..'))});`;

const SCRIPT = `
${HVD}
const assert = require('node:assert/strict');
hvd.init();
const rank = hvd.rank(), size = hvd.size();
const tri = (size * (size - 1)) / 2;
const before = hvd.engineStats().inlineCalls;
// Small and large allreduces, broadcasts and allgathers in a Sync loop.
for (let i = 0; i < 200; i++) {
  const n = i % 2 ? 3 : 1 << 16;
  const r = hvd.allreduceSync(new Float32Array(n).fill(rank + i), { op: 'sum', name: 'ar.' + (i % 2) });
  assert.equal(r[n - 1], tri + size * i);
  const b = hvd.broadcastSync(new Int32Array([rank * 10 + i]), 1 % size, { name: 'bc' });
  assert.equal(b[0], (1 % size) * 10 + i);
}
// Allgather results of 64 KiB and more: with HVD_POOL_MAX_BYTES=0 the op
// asks for JS memory (AllocateOutput), which the driving thread must not wait for.
for (let i = 0; i < 20; i++) {
  const g = hvd.allgatherSync(new Float64Array(1 << 14).fill(rank + i), { name: 'ag' });
  assert.equal(g.length, size << 14);
  for (let r = 0; r < size; r++) assert.equal(g[(r << 14) + 5], r + i);
}
// Promise calls in flight while Sync calls run: every result exact.
const pending = [];
for (let i = 0; i < 10; i++) pending.push(hvd.allreduce(new Float64Array([rank, i]), { op: 'sum', name: 'p.' + i }));
for (let i = 0; i < 10; i++) {
  const r = hvd.allreduceSync(new Int32Array([rank + 1]), { op: 'sum', name: 's.' + i });
  assert.equal(r[0], tri + size);
}
// A late peer: rank 0 blocks its thread for 50 ms (well past
// HVD_BLOCKING_SPIN_TIME_US), the others' calls hand the loop back and
// still complete.
for (let i = 0; i < 3; i++) {
  if (rank === 0) { const t = Date.now() + 50; while (Date.now() < t); }
  const r = hvd.allreduceSync(new Float32Array([1]), { op: 'sum', name: 'late' });
  assert.equal(r[0], size);
}
// On a process set of the even ranks.
const evens = Array.from({ length: size }, (_, r) => r).filter((r) => r % 2 === 0);
const ps = hvd.addProcessSet(evens);
if (evens.includes(rank)) {
  for (let i = 0; i < 20; i++) {
    const r = hvd.allreduceSync(new Int32Array([rank]), { op: 'sum', name: 'ev', processSet: ps });
    assert.equal(r[0], evens.reduce((a, b) => a + b, 0));
  }
}
hvd.removeProcessSet(ps);
return Promise.all(pending).then((res) => {
  res.forEach((r, i) => { assert.equal(r[0], tri); assert.equal(r[1], size * i); });
  const inline = hvd.engineStats().inlineCalls - before;
  hvd.shutdown();
  console.log('INLINE_CALLS=' + inline);
  console.log('INLINE_OK');
});
`;

// runMpi runs SCRIPT as a module body: wrap it so it may return a Promise.
const WRAPPED = `(function () { ${SCRIPT} })().catch((e) => { console.error(e); process.exit(1); });`;

function run(np, env) {
  const r = runMpi(np, WRAPPED, { env });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /INLINE_OK/);
  return [...r.stdout.matchAll(/INLINE_CALLS=(\d+)/g)].map((m) => Number(m[1]));
}

describe('Sync calls on the calling thread (HVD_INLINE_SYNC)', function () {
  this.timeout(180000);
  it('gives exact results with Promises in flight, a late peer and a process set, and most calls drive the loop themselves (np=2)', function () {
    const counts = run(2, {});
    assert.equal(counts.length, 2);
    for (const c of counts) assert.ok(c > 0, `every rank ran some calls inline: ${counts}`);
  });
  it('does the same at np=3 with the pool off (results the op allocates come from the engine, not the waiting thread)', function () {
    const counts = run(3, { HVD_POOL_MAX_BYTES: '0' });
    assert.equal(counts.length, 3);
    for (const c of counts) assert.ok(c > 0, `every rank ran some calls inline: ${counts}`);
  });
  it('HVD_INLINE_SYNC=0 hands every call to the engine thread, with the same results', function () {
    assert.deepEqual(run(2, { HVD_INLINE_SYNC: '0' }), [0, 0]);
  });
  it('is off when MPI allows one thread only (HOROVOD_MPI_THREADS_DISABLE=1)', function () {
    assert.deepEqual(run(2, { HOROVOD_MPI_THREADS_DISABLE: '1' }), [0, 0]);
  });
});
