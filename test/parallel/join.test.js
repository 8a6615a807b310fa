'use strict';
// hvd.join(): a rank that ran out of data keeps serving the others'
// collectives, averages are taken over the ranks that contributed, and every
// rank learns the same last-joined rank.
const assert = require('node:assert/strict');
const hvd = require('../..');

describe('join', function () {
  it('in a world of one returns this rank', async function () {
    if (hvd.size() !== 1) this.skip();
    assert.equal(await hvd.join(), 0);
    assert.equal(hvd.joinSync(), 0);
  });

  it('each rank in turn joins first; the others average over contributors only', async function () {
    if (hvd.size() === 1) this.skip();
    const n = hvd.size();
    for (let first = 0; first < n; first++) {
      let result;
      let gathered;
      let last;
      if (hvd.rank() === first) {
        last = await hvd.join();
      } else {
        const x = new Float64Array([hvd.rank() + 1, 10 * (hvd.rank() + 1)]);
        result = await hvd.allreduce(x, { name: `join.${first}.avg` });
        gathered = await hvd.allgather(new Int32Array([hvd.rank()]), { name: `join.${first}.ag` });
        last = await hvd.join();
      }
      const lasts = hvd.allgatherObjectSync(last, { name: `join.${first}.lasts` });
      assert.equal(new Set(lasts).size, 1, `every rank reports the same last rank: ${lasts}`);
      assert.notEqual(lasts[0], first, 'the first joiner is not the last');
      if (hvd.rank() !== first) {
        let sum = 0;
        for (let r = 0; r < n; r++) if (r !== first) sum += r + 1;
        assert.deepEqual(Array.from(result), [sum * (1 / (n - 1)), 10 * sum * (1 / (n - 1))]);
        assert.deepEqual(Array.from(gathered), [...Array(n).keys()].filter((r) => r !== first), 'the joined rank contributes no rows');
      }
    }
  });

  it('a broadcast whose root has joined fails instead of hanging', async function () {
    if (hvd.size() === 1) this.skip();
    let err;
    if (hvd.rank() === 0) {
      await hvd.join();
    } else {
      try {
        await hvd.broadcast(new Float32Array(2), 0, { name: 'join.bcast' });
      } catch (e) {
        err = e;
      }
      await hvd.join();
    }
    if (hvd.rank() !== 0) {
      assert.ok(err, 'broadcast from a joined root must fail');
      assert.match(err.message, /root rank 0 has already called hvd\.join\(\)/);
    }
  });
});
