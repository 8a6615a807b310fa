'use strict';
// Every kind of cross-rank disagreement fails on every rank with the same
// message naming the tensor, the ranks and what differs, and the next
// collective works.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { expectMismatchEverywhere } = require('../support/mismatch');

describe('mismatches between ranks', function () {
  const odd = () => hvd.rank() % 2 === 1;
  const last = () => hvd.rank() === hvd.size() - 1;

  it('shape (sync)', async function () {
    await expectMismatchEverywhere(() => hvd.allreduceSync(new Float32Array(last() ? 3 : 2), { name: 'mm.shape' }), 'mm.shape', /shapes.*\[2\].*\[3\]/);
  });

  it('shape with the same element count but a different rank (async)', async function () {
    const shape = last() ? [2, 3] : [6];
    await expectMismatchEverywhere(() => hvd.allreduce(new Float32Array(6), { name: 'mm.rank', shape }), 'mm.rank', /shapes/);
  });

  it('dtype', async function () {
    const x = last() ? new Int32Array(4) : new Float32Array(4);
    await expectMismatchEverywhere(() => hvd.allreduce(x, { name: 'mm.dtype', op: 'sum' }), 'mm.dtype', /data types.*float32.*int32/);
  });

  it('reduce op', async function () {
    await expectMismatchEverywhere(
      () => hvd.allreduce(new Float32Array(4), { name: 'mm.op', op: last() ? 'max' : 'sum' }),
      'mm.op',
      /reduce ops.*sum.*max/,
    );
  });

  it('prescale factor', async function () {
    await expectMismatchEverywhere(
      () => hvd.allreduce(new Float32Array(4), { name: 'mm.pre', prescaleFactor: last() ? 2 : 1 }),
      'mm.pre',
      /prescale/,
    );
  });

  it('postscale factor', async function () {
    await expectMismatchEverywhere(
      () => hvd.allreduceSync(new Float32Array(4), { name: 'mm.post', postscaleFactor: last() ? 0.5 : 1 }),
      'mm.post',
      /postscale/,
    );
  });

  it('broadcast root rank', async function () {
    await expectMismatchEverywhere(
      () => hvd.broadcast(new Float32Array(4), last() ? hvd.size() - 1 : 0, { name: 'mm.root' }),
      'mm.root',
      /root ranks/,
    );
  });

  // The object variants travel as an allgather, which has no root of its own:
  // each rank's root travels in its header, so disagreement is still seen.
  for (const sync of [true, false]) {
    const call = sync ? hvd.broadcastObjectSync : hvd.broadcastObject;
    const form = sync ? 'Sync' : 'Promise';
    it(`broadcastObject root rank, each rank naming itself (${form})`, async function () {
      const name = `mm.objself.${form}`;
      await expectMismatchEverywhere(() => call({ from: hvd.rank() }, hvd.rank(), { name }), name, /root ranks.*rank 0 has 0; rank 1 has 1/);
    });
    it(`broadcastObject root rank, roots rotated (${form})`, async function () {
      const name = `mm.objrot.${form}`;
      await expectMismatchEverywhere(() => call({ from: hvd.rank() }, (hvd.rank() + 1) % hvd.size(), { name }), name, /Mismatched root ranks for broadcastObject/);
    });
    it(`broadcastObject root rank, one rank differs (${form})`, async function () {
      const name = `mm.objone.${form}`;
      await expectMismatchEverywhere(() => call(hvd.rank() === 0 ? 'zero' : null, last() ? hvd.size() - 1 : 0, { name }), name, /root ranks/);
    });
  }

  it('broadcast shape', async function () {
    await expectMismatchEverywhere(() => hvd.broadcastSync(new Uint8Array(last() ? 5 : 4), 0, { name: 'mm.bshape' }), 'mm.bshape', /shapes/);
  });

  it('allgather trailing dimensions', async function () {
    const shape = last() ? [1, 4] : [2, 2];
    await expectMismatchEverywhere(() => hvd.allgather(new Float32Array(4), { name: 'mm.ag', shape }), 'mm.ag', /\[\*,2\].*\[\*,4\]/);
  });

  it('allgather data type', async function () {
    const x = odd() || last() ? new Float64Array(2) : new Float32Array(2);
    await expectMismatchEverywhere(() => hvd.allgatherSync(x, { name: 'mm.agt' }), 'mm.agt', /data types/);
  });

  it('operation kind under one name', async function () {
    await expectMismatchEverywhere(
      () => (last() ? hvd.allgather(new Float32Array(2), { name: 'mm.kind' }) : hvd.allreduce(new Float32Array(2), { name: 'mm.kind' })),
      'mm.kind',
      /operations.*allreduce.*allgather/,
    );
  });

  it('a group whose members differ between ranks fails on every rank, showing each layout', async function () {
    const xs = [new Float32Array([1]), new Float32Array(last() ? 2 : 3)];
    await expectMismatchEverywhere(() => hvd.groupedAllreduce(xs, { op: 'sum', name: 'mm.grp' }), 'mm.grp.float32', /groups.*float32: \[1\] \[3\].*float32: \[1\] \[2\]/);
  });

  // Member counts that differ: the members only some ranks have must fail
  // too (on every rank, with the same message), not wait for the stall
  // inspector.
  it('groupedAllreduce with 3 members on some ranks and 2 on the last, the third of another dtype (Promise and Sync)', async function () {
    const xs = () => (last() ? [new Float32Array(2), new Float32Array(2)] : [new Float32Array(2), new Float32Array(2), new Int32Array(2)]);
    const want = /groups.*'mm.gcount \{float32: \[2\] \[2\]; int32: \[2\]\}'.*'mm.gcount \{float32: \[2\] \[2\]\}'/;
    await expectMismatchEverywhere(() => hvd.groupedAllreduce(xs(), { op: 'sum', name: 'mm.gcount' }), 'mm.gcount.float32', want);
    await expectMismatchEverywhere(() => hvd.groupedAllreduceSync(xs(), { op: 'sum', name: 'mm.gcount' }), 'mm.gcount.float32', want);
  });

  it('groupedAllgather with 3 members on some ranks and 2 on the last (Promise and Sync)', async function () {
    const xs = () => Array.from({ length: last() ? 2 : 3 }, () => new Float32Array(2));
    const want = /groups.*'mm.gacount \(3 members\)'.*'mm.gacount \(2 members\)'/;
    await expectMismatchEverywhere(() => hvd.groupedAllgather(xs(), { name: 'mm.gacount' }), 'mm.gacount.0', want);
    await expectMismatchEverywhere(() => hvd.groupedAllgatherSync(xs(), { name: 'mm.gacount' }), 'mm.gacount.0', want);
  });

  it('groupedReducescatter with 2 members on some ranks and 3 on the last (Promise and Sync)', async function () {
    const xs = () => Array.from({ length: last() ? 3 : 2 }, () => new Float32Array(6));
    const want = /groups.*'mm.rscount \(2 members\)'.*'mm.rscount \(3 members\)'/;
    await expectMismatchEverywhere(() => hvd.groupedReducescatter(xs(), { op: 'sum', name: 'mm.rscount' }), 'mm.rscount.0', want);
    await expectMismatchEverywhere(() => hvd.groupedReducescatterSync(xs(), { op: 'sum', name: 'mm.rscount' }), 'mm.rscount.0', want);
  });

  it('a group on some ranks, a plain allgather under a member name on the last', async function () {
    const run = () =>
      last()
        ? hvd.allgather(new Float32Array(2), { name: 'mm.gplain.0' })
        : hvd.groupedAllgather([new Float32Array(2), new Float32Array(2)], { name: 'mm.gplain' });
    await expectMismatchEverywhere(run, 'mm.gplain.0', /mm.gplain \(2 members\)'.*no group/);
  });
});

describe('duplicate names', function () {
  it('a name already in flight on this rank is rejected, and the first call still completes', async function () {
    const first = hvd.allreduce(new Float32Array([1]), { name: 'dup', op: 'sum' });
    await assert.rejects(hvd.allreduce(new Float32Array([1]), { name: 'dup', op: 'sum' }), (e) => e.code === 'HVD_DUPLICATE_NAME' && /'dup'/.test(e.message));
    assert.equal((await first)[0], hvd.size());
    // Once it finished, the name can be used again.
    assert.equal(hvd.allreduceSync(new Float32Array([1]), { name: 'dup', op: 'sum' })[0], hvd.size());
  });

  it('a duplicate inside one group is rejected synchronously for the Sync form', function () {
    // Members are named <group>.<i>: a second in-flight group with the same name collides.
    const p = hvd.groupedAllreduce([new Float32Array([1])], { name: 'dupgrp', op: 'sum' });
    assert.throws(() => hvd.groupedAllreduceSync([new Float32Array([1])], { name: 'dupgrp', op: 'sum' }), (e) => e.code === 'HVD_DUPLICATE_NAME');
    return p;
  });
});
