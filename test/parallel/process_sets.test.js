'use strict';
// Process sets: collectives over subsets of the ranks, each set with its
// own negotiation; results checked exactly against what the members sent.
const assert = require('node:assert/strict');
const hvd = require('../..');

const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

describe('process sets', function () {
  it('the global set is every rank', function () {
    const g = hvd.globalProcessSet;
    assert.equal(g.size(), hvd.size());
    assert.equal(g.rank(), hvd.rank());
    assert.deepEqual(g.ranks, range(0, hvd.size()));
    assert.ok(g.included());
    assert.deepEqual(Array.from(hvd.allreduceSync(new Int32Array([1]), { op: 'sum', processSet: g })), [hvd.size()]);
  });

  it('a set of one: its member reduces alone; others get a RangeError naming the set', async function () {
    const last = hvd.size() - 1;
    const one = hvd.addProcessSet([last]);
    assert.deepEqual(one.ranks, [last]);
    assert.equal(one.size(), 1);
    if (hvd.rank() === last) {
      assert.equal(one.rank(), 0);
      const got = await hvd.allreduce(new Float32Array([hvd.rank() + 0.5]), { op: 'sum', processSet: one });
      assert.deepEqual(Array.from(got), [last + 0.5]);
      assert.deepEqual(Array.from(hvd.allgatherSync(new Int32Array([7]), { processSet: one })), [7]);
    } else {
      assert.equal(one.rank(), -1);
      assert.ok(!one.included());
      assert.throws(() => hvd.allreduceSync(new Float32Array(1), { processSet: one }), (e) => e instanceof RangeError && /not a member of process set \d+ \(ranks/.test(e.message));
      await assert.rejects(async () => hvd.barrier({ processSet: one }), RangeError);
    }
    hvd.removeProcessSet(one);
  });

  it('two disjoint sets run different collectives at the same time', async function () {
    if (hvd.size() < 2) return this.skip();
    const evens = hvd.addProcessSet(range(0, hvd.size()).filter((r) => r % 2 === 0));
    const odds = hvd.addProcessSet(range(0, hvd.size()).filter((r) => r % 2 === 1));
    const mine = hvd.rank() % 2 === 0 ? evens : odds;
    const work = [];
    for (let k = 0; k < 5; k++) {
      if (mine === evens) {
        work.push(hvd.allreduce(new Int32Array([hvd.rank(), k]), { op: 'sum', processSet: evens }).then((r) => assert.deepEqual(Array.from(r), [sum(evens.ranks), k * evens.size()])));
      } else {
        work.push(hvd.allgather(new Int32Array([hvd.rank(), k]), { processSet: odds }).then((r) => assert.deepEqual(Array.from(r), odds.ranks.flatMap((q) => [q, k]))));
      }
    }
    // The global set keeps working alongside.
    work.push(hvd.allreduce(new Int32Array([1]), { op: 'sum' }).then((r) => assert.equal(r[0], hvd.size())));
    await Promise.all(work);
    hvd.removeProcessSet(evens);
    hvd.removeProcessSet(odds);
  });

  it('overlapping sets used concurrently, submitted in different orders on different ranks, do not deadlock', async function () {
    if (hvd.size() < 3) return this.skip();
    const n = hvd.size();
    const a = hvd.addProcessSet(range(0, n - 1));
    const b = hvd.addProcessSet(range(1, n));
    const me = hvd.rank();
    const runA = () => hvd.allreduce(new Float64Array(1000).fill(me), { op: 'sum', processSet: a, name: 'ov.a' }).then((r) => assert.equal(r[999], sum(a.ranks)));
    const runB = () => hvd.allreduce(new Float64Array(1000).fill(me), { op: 'sum', processSet: b, name: 'ov.b' }).then((r) => assert.equal(r[999], sum(b.ranks)));
    for (let round = 0; round < 5; round++) {
      const ps = [];
      // Shared members submit A then B on even ranks, B then A on odd ranks.
      const order = me % 2 === 0 ? [runA, runB] : [runB, runA];
      for (const run of order) {
        if ((run === runA && a.included()) || (run === runB && b.included())) ps.push(run());
      }
      await Promise.all(ps);
    }
    hvd.removeProcessSet(a);
    hvd.removeProcessSet(b);
  });

  it('broadcast roots, reducescatter, alltoall, barrier and join are relative to the set', async function () {
    if (hvd.size() < 2) return this.skip();
    const set = hvd.addProcessSet(range(1, hvd.size()).concat([0]));
    const top = hvd.addProcessSet(range(1, hvd.size()));
    if (top.included()) {
      const k = top.size();
      const root = k - 1; // set rank k-1 is world rank size-1
      const got = hvd.broadcastSync(new Int32Array([hvd.rank()]), root, { processSet: top });
      assert.equal(got[0], hvd.size() - 1);
      const rs = hvd.reducescatterSync(new Int32Array(k + 1).fill(1), { op: 'sum', processSet: top });
      assert.deepEqual(Array.from(rs), new Array(top.rank() < (k + 1) % k ? Math.floor((k + 1) / k) + 1 : Math.floor((k + 1) / k)).fill(k));
      const { output, receivedSplits } = hvd.alltoallSync(new Int32Array(k).fill(top.rank()), { processSet: top });
      assert.deepEqual(Array.from(output), range(0, k));
      assert.deepEqual(Array.from(receivedSplits), new Array(k).fill(1));
      await hvd.barrier({ processSet: top });
      assert.equal(await hvd.broadcastObject(top.rank() === 0 ? { from: hvd.rank() } : null, 0, { processSet: top }).then((o) => o.from), 1);
      assert.deepEqual(hvd.allgatherObjectSync(hvd.rank(), { processSet: top }), top.ranks);
      const last = await hvd.join({ processSet: top });
      assert.ok(last >= 0 && last < k);
      assert.throws(() => hvd.broadcastSync(new Int32Array(1), k, { processSet: top }), RangeError);
    }
    assert.deepEqual(set.ranks, range(0, hvd.size()), 'ranks are sorted');
    hvd.removeProcessSet(top);
    hvd.removeProcessSet(set);
  });

  it('a mismatch inside a set fails on that set only, and the other set keeps running', async function () {
    if (hvd.size() < 3) return this.skip();
    const n = hvd.size();
    const inner = hvd.addProcessSet(range(0, n - 1));
    const outer = hvd.addProcessSet([n - 1]);
    if (inner.included()) {
      const lastOfSet = inner.rank() === inner.size() - 1;
      let err;
      try {
        await hvd.allreduce(new Float32Array(lastOfSet ? 3 : 2), { name: 'ps.mm', processSet: inner });
      } catch (e) {
        err = e;
      }
      assert.ok(err, 'the set member failed');
      assert.equal(err.code, 'HVD_MISMATCH');
      assert.match(err.message, /'ps\.mm'.*shapes/);
      const seen = hvd.allgatherObjectSync(err.message, { processSet: inner });
      assert.ok(seen.every((m) => m === seen[0]), 'same message on every member');
      assert.equal(hvd.allreduceSync(new Int32Array([1]), { op: 'sum', processSet: inner })[0], inner.size());
    } else {
      for (let k = 0; k < 3; k++) assert.equal(hvd.allreduceSync(new Int32Array([2]), { op: 'sum', processSet: outer })[0], 2);
    }
    assert.equal(hvd.allreduceSync(new Int32Array([1]), { op: 'sum', name: 'ps.after' })[0], n);
    hvd.removeProcessSet(inner);
    hvd.removeProcessSet(outer);
  });

  it('removal fails later use with a RangeError; adding the same ranks again gives a working set', function () {
    const ranks = [0];
    const first = hvd.addProcessSet(ranks);
    hvd.removeProcessSet(first);
    assert.ok(first.removed);
    if (hvd.rank() === 0) assert.throws(() => hvd.allreduceSync(new Float32Array(1), { processSet: first }), (e) => e instanceof RangeError && /removed/.test(e.message));
    assert.throws(() => hvd.removeProcessSet(first), RangeError);
    const again = hvd.addProcessSet(ranks);
    assert.notEqual(again.id, first.id);
    if (hvd.rank() === 0) assert.equal(hvd.allreduceSync(new Int32Array([5]), { op: 'sum', processSet: again })[0], 5);
    hvd.removeProcessSet(again);
  });

  it('ranks that disagree about a new set all fail with HVD_MISMATCH, and the job goes on', function () {
    if (hvd.size() < 2) return this.skip();
    const ranks = hvd.rank() === hvd.size() - 1 ? [0] : [0, 1];
    let err;
    try {
      hvd.addProcessSet(ranks);
    } catch (e) {
      err = e;
    }
    const seen = hvd.allgatherObjectSync(err ? err.code : null);
    assert.ok(seen.every((c) => c === 'HVD_MISMATCH'), JSON.stringify(seen));
    assert.match(err.message, /process set ranks/);
    const ok = hvd.addProcessSet([0, 1]);
    hvd.removeProcessSet(ok);
  });

  it('bad arguments', function () {
    assert.throws(() => hvd.addProcessSet([]), RangeError);
    assert.throws(() => hvd.addProcessSet([0, 0]), RangeError);
    assert.throws(() => hvd.addProcessSet([hvd.size()]), RangeError);
    assert.throws(() => hvd.addProcessSet('0'), TypeError);
    assert.throws(() => hvd.removeProcessSet(hvd.globalProcessSet), RangeError);
    assert.throws(() => hvd.allreduceSync(new Float32Array(1), { processSet: { id: 0 } }), TypeError);
  });
});
