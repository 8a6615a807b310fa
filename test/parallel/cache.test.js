'use strict';
// The response cache: repeated collectives negotiate with small cache
// references instead of full requests and responses, and stay correct when
// the cache is small enough to evict all the time.
const assert = require('node:assert/strict');
const hvd = require('../..');

const capacity = Number(process.env.HOROVOD_CACHE_CAPACITY ?? 1024);

describe('response cache (HOROVOD_CACHE_CAPACITY)', function () {
  it('repeated steps travel as cache references with fewer negotiation bytes', function () {
    const x = new Float32Array(64).fill(1);
    const s0 = hvd.engineStats();
    hvd.allreduceSync(x, { name: 'cache.step', op: 'sum' });
    const s1 = hvd.engineStats();
    for (let i = 0; i < 20; i++) {
      const y = hvd.allreduceSync(x, { name: 'cache.step', op: 'sum' });
      assert.equal(y[0], hvd.size());
    }
    const s2 = hvd.engineStats();
    const hits = s2.cacheHits - s1.cacheHits;
    const firstBytes = s1.controlBytes - s0.controlBytes;
    const laterBytes = (s2.controlBytes - s1.controlBytes) / 20;
    if (hvd.size() === 1) return; // nothing is sent in a world of one
    if (capacity === 0) {
      assert.equal(hits, 0);
    } else {
      // Workers send a reference per request; rank 0 sends a reference per
      // response, or per direct copy (native/direct_exchange.h), which
      // workers also send each other beyond two ranks (one encoding for all
      // peers).
      const direct = s2.directAllreduces - s1.directAllreduces === 20;
      const perStep = hvd.rank() === 0 ? 1 : 1 + (direct && hvd.size() > 2 ? 1 : 0);
      assert.equal(hits, 20 * perStep, `cache hits ${hits} (direct path ${direct ? 'on' : 'off'})`);
      assert.ok(laterBytes < firstBytes, `steady state ${laterBytes} B/step vs first ${firstBytes} B`);
    }
  });

  it('automatic names and names ending in a number hit the cache: the number travels with the reference', function () {
    const x = new Float32Array(4).fill(1);
    const variants = [
      ['automatic', () => hvd.allreduceSync(x, { op: 'sum' })],
      ['step-numbered', (i) => hvd.allreduceSync(x, { op: 'sum', name: `cache.loss.step.${i}` })],
    ];
    for (const [label, call] of variants) {
      call(0);
      const s1 = hvd.engineStats();
      for (let i = 1; i <= 20; i++) assert.equal(call(i)[0], hvd.size());
      const s2 = hvd.engineStats();
      if (hvd.size() === 1 || capacity === 0) continue;
      const direct = s2.directAllreduces - s1.directAllreduces === 20;
      const perStep = hvd.rank() === 0 ? 1 : 1 + (direct && hvd.size() > 2 ? 1 : 0);
      // A cache of fewer entries than the calls in flight may evict between two.
      const hits = s2.cacheHits - s1.cacheHits;
      if (capacity >= 8) assert.equal(hits, 20 * perStep, `${label}: cache hits ${hits}`);
      else assert.ok(hits > 0, `${label}: no cache hit`);
    }
  });

  it('numbered names submitted in a different order on each rank keep their own results', async function () {
    const n = 12;
    const order = Array.from({ length: n }, (_, i) => i);
    if (hvd.rank() % 2 === 1) order.reverse();
    for (let round = 0; round < 3; round++) {
      const pending = order.map((i) => hvd.allreduce(new Int32Array([i * 10 + hvd.rank()]), { name: `cache.num.${i}`, op: 'sum' }));
      const outs = await Promise.all(pending);
      outs.forEach((o, k) => {
        const i = order[k];
        assert.equal(o[0], i * 10 * hvd.size() + (hvd.size() * (hvd.size() - 1)) / 2, `cache.num.${i}`);
      });
    }
  });

  it('stays exact while many names cycle through the cache', async function () {
    const names = Array.from({ length: Math.max(8, Math.min(capacity, 16) + 5) }, (_, i) => `cache.cycle.${i}`);
    for (let round = 0; round < 3; round++) {
      const outs = await Promise.all(names.map((name, i) => hvd.allreduce(new Int32Array([i, hvd.rank()]), { name, op: 'sum' })));
      outs.forEach((o, i) => assert.deepEqual(Array.from(o), [i * hvd.size(), (hvd.size() * (hvd.size() - 1)) / 2]));
    }
  });
});
