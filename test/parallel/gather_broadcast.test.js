'use strict';
// allgather (variable first dimension), broadcast from every root, barrier
// and the object variants.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { TYPED, BIG, tfCore } = require('../support/util');

function rowsFor(rank) {
  return (rank * 5) % 7 + (rank % 2 === 0 ? 0 : 3); // 0, 8, 3, 8+... : differs per rank, includes 0
}

describe('allgather', function () {
  for (const dtype of Object.keys(TYPED)) {
    it(`${dtype}: a different first dimension on every rank, 1-D and 3-D`, async function () {
      const size = hvd.size();
      for (const rest of [[], [2, 3]]) {
        const rowLen = rest.reduce((a, b) => a * b, 1);
        const mk = (r) => {
          const a = new TYPED[dtype](rowsFor(r) * rowLen);
          for (let i = 0; i < a.length; i++) a[i] = BIG.has(dtype) ? BigInt((r * 31 + i) % 100) : (r * 31 + i) % 100;
          return a;
        };
        const mine = mk(hvd.rank());
        const shape = [rowsFor(hvd.rank()), ...rest];
        const sync = hvd.allgatherSync(mine, { shape });
        const async_ = await hvd.allgather(mine, { shape, name: `ag.${dtype}.${rest.length}` });
        const want = [];
        for (let r = 0; r < size; r++) want.push(...mk(r));
        for (const got of [sync, async_]) {
          assert.equal(got.constructor, TYPED[dtype]);
          assert.deepEqual(Array.from(got), want);
        }
      }
    });
  }

  it('returns a Tensor with the concatenated shape for tfjs input', async function () {
    const tf = tfCore();
    const r = hvd.rank();
    const t = tf.fill([r + 1, 2], r, 'int32');
    const got = await hvd.allgather(t);
    const total = (hvd.size() * (hvd.size() + 1)) / 2;
    assert.deepEqual(got.shape, [total, 2]);
    assert.equal(got.dtype, 'int32');
    const want = [];
    for (let k = 0; k < hvd.size(); k++) for (let j = 0; j < (k + 1) * 2; j++) want.push(k);
    assert.deepEqual(Array.from(got.dataSync()), want);
    const b = hvd.allgatherSync(tf.tensor([r % 2], [1], 'bool'));
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(Array.from(b.dataSync()), Array.from({ length: hvd.size() }, (_, k) => k % 2));
    tf.dispose([t, got, b]);
  });
});

describe('broadcast', function () {
  for (const dtype of Object.keys(TYPED)) {
    it(`${dtype} from every root rank`, async function () {
      for (let root = 0; root < hvd.size(); root++) {
        const mine = new TYPED[dtype](13);
        for (let i = 0; i < 13; i++) mine[i] = BIG.has(dtype) ? BigInt(hvd.rank() * 10 + i) : hvd.rank() * 10 + i;
        const before = mine.slice();
        const want = Array.from({ length: 13 }, (_, i) => (BIG.has(dtype) ? BigInt(root * 10 + i) : root * 10 + i));
        const sync = hvd.broadcastSync(mine, root, { shape: [13] });
        const async_ = await hvd.broadcast(mine, root);
        assert.deepEqual(Array.from(sync), want);
        assert.deepEqual(Array.from(async_), want);
        assert.deepEqual(Array.from(mine), Array.from(before), 'input untouched');
      }
    });
  }

  it('broadcasts tensors and empty arrays', async function () {
    const tf = tfCore();
    const t = tf.fill([2, 2], hvd.rank(), 'float32');
    const got = await hvd.broadcast(t, hvd.size() - 1);
    assert.deepEqual(got.shape, [2, 2]);
    assert.deepEqual(Array.from(got.dataSync()), [hvd.size() - 1, hvd.size() - 1, hvd.size() - 1, hvd.size() - 1]);
    assert.equal(hvd.broadcastSync(new Float32Array(0), 0).length, 0);
    tf.dispose([t, got]);
  });
});

describe('barrier', function () {
  it('does not return before every rank arrives', async function () {
    // The last rank arrives late; everyone must still be waiting for it.
    const late = hvd.size() - 1;
    if (hvd.rank() === late) await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await hvd.barrier();
    const waited = Date.now() - t0;
    const all = hvd.allgatherObjectSync(waited);
    if (hvd.size() > 1) {
      for (let r = 0; r < hvd.size(); r++) if (r !== late) assert.ok(all[r] >= 150, `rank ${r} waited only ${all[r]} ms`);
    }
    hvd.barrierSync({ name: 'barrier.sync' });
  });
});

describe('object collectives', function () {
  it('broadcastObject sends any structured-clonable value from every root', async function () {
    for (let root = 0; root < hvd.size(); root++) {
      const value = { root, when: new Date(1000 * root), list: [1, 'two', { three: 3n }], map: new Map([[root, 'x']]), buf: new Uint8Array([root]) };
      const mine = hvd.rank() === root ? value : { other: true };
      const got = await hvd.broadcastObject(mine, root);
      assert.deepEqual(got, value);
      const got2 = hvd.broadcastObjectSync(hvd.rank() === root ? 'hello ' + root : undefined, root);
      assert.equal(got2, 'hello ' + root);
    }
  });

  it('an unserializable value on the root fails every rank instead of hanging them', async function () {
    for (const sync of [true, false]) {
      let err;
      try {
        const v = hvd.rank() === 0 ? () => 'functions do not clone' : null;
        if (sync) hvd.broadcastObjectSync(v, 0, { name: 'unclonable.' + sync });
        else await hvd.broadcastObject(v, 0, { name: 'unclonable.' + sync });
      } catch (e) {
        err = e;
      }
      if (hvd.rank() === 0) {
        assert.ok(err instanceof TypeError, String(err));
        assert.match(err.message, /structured clone/);
      } else {
        assert.equal(err.code, 'HVD_INVALID_ARGUMENT');
        assert.match(err.message, /rank 0 \(the root\) could not serialize/);
      }
    }
    assert.equal(hvd.broadcastObjectSync(hvd.rank() === 0 ? 'ok' : null), 'ok');
  });

  it('broadcastObject defaults to root 0', async function () {
    assert.equal(await hvd.broadcastObject(hvd.rank() === 0 ? 42 : -1), 42);
  });

  it('allgatherObject returns one value per rank, in rank order', async function () {
    const mine = { rank: hvd.rank(), payload: 'x'.repeat(hvd.rank() * 100) };
    const got = await hvd.allgatherObject(mine);
    const sync = hvd.allgatherObjectSync(hvd.rank() === 0 ? null : [hvd.rank()]);
    assert.equal(got.length, hvd.size());
    for (let r = 0; r < hvd.size(); r++) {
      assert.deepEqual(got[r], { rank: r, payload: 'x'.repeat(r * 100) });
      assert.deepEqual(sync[r], r === 0 ? null : [r]);
    }
  });
});
