'use strict';
// HVD_POOL_MAX_BYTES: the pool never maps more than its cap; past it,
// allocations come from ordinary memory (poolFallbacks) and every
// collective still works, at np=2 so the engine's own allocations
// (allgather results, the fusion buffer) hit the cap too.
const assert = require('node:assert/strict');
const { runMpi } = require('../support/util');

const HVD = `const hvd = require(${JSON.stringify(require.resolve('../..'))});`;

const SCRIPT = `
${HVD}
const assert = require('node:assert/strict');
hvd.init();
const cap = 4 << 20;
const s = () => hvd.engineStats();
assert.equal(s().poolMaxBytes, cap);
const held = [hvd.alloc('float32', 1 << 19), hvd.alloc('float32', 1 << 19)]; // 2 x 2 MiB: the whole cap
const third = hvd.alloc('float32', 1 << 19);
assert.ok(third instanceof Float32Array && third.length === 1 << 19 && third.every((v) => v === 0));
third[7] = 3;
const f0 = s().poolFallbacks;
assert.ok(f0 >= 1, 'the third alloc fell back: ' + JSON.stringify(s()));
const x = new Float32Array(1 << 20).fill(hvd.rank() + 1); // 4 MiB
for (let i = 0; i < 5; i++) {
  const r = hvd.allreduceSync(x, { op: 'sum' });
  assert.equal(r[12345], 3);
  const g = hvd.allgatherSync(x);
  assert.equal(g.length, 2 * x.length);
  assert.equal(g[x.length + 1], 2);
  const [a, b] = hvd.groupedAllreduceSync([x.subarray(0, 1 << 18), x.subarray(5)], { op: 'max' });
  assert.equal(a[0], 2);
  assert.equal(b[b.length - 1], 2);
}
const st = s();
assert.ok(st.poolInUseBytes + st.poolCachedBytes <= cap, 'cap respected: ' + JSON.stringify(st));
assert.ok(st.poolFallbacks > f0, 'collective outputs fell back too');
held.length = 0;
hvd.shutdown();
if (hvd.rank() === 0) console.log('POOL_CAP_OK');
`;

describe('HVD_POOL_MAX_BYTES', function () {
  this.timeout(120000);
  it('caps the pool: allocations past it use ordinary memory and collectives still work (np=2)', function () {
    const r = runMpi(2, SCRIPT, { env: { HVD_POOL_MAX_BYTES: String(4 << 20) } });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /POOL_CAP_OK/);
  });
  it('0 turns the pool off', function () {
    const r = runMpi(1, `${HVD} hvd.init(); const a = hvd.alloc('float64', 1 << 20); a[3] = 1;
      const s = hvd.engineStats(); if (s.poolMaxBytes !== 0 || s.poolInUseBytes !== 0 || s.poolFallbacks < 1) throw new Error(JSON.stringify(s));
      hvd.allreduceSync(new Float32Array(1 << 20)); hvd.shutdown(); console.log('POOL_OFF_OK');`, { env: { HVD_POOL_MAX_BYTES: '0' } });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /POOL_OFF_OK/);
  });
});
