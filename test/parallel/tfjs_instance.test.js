'use strict';
// hvd has one tfjs loader (src/tfjs/tf.ts): the instance handed to
// hvd.useTfjs() is the one that builds the Tensors collectives return.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { loadTf } = require('../support/tf');

describe('tfjs instance', function () {
  let tf;
  before(function () {
    tf = loadTf();
  });
  after(function () {
    hvd.useTfjs(tf);
  });

  it('result tensors come from the tfjs instance given to useTfjs', async function () {
    const made = [];
    // A distinct instance: same kernels, its own tensor() that records calls.
    const injected = Object.create(tf);
    Object.defineProperty(injected, 'tensor', {
      value: (values, shape, dtype) => {
        const t = tf.tensor(values, shape, dtype);
        made.push(t);
        return t;
      },
    });
    hvd.useTfjs(injected);
    const x = tf.tensor([1, 2, 3], [3], 'float32');
    const sync = hvd.allreduceSync(x, { op: 'sum', name: 'inst.sync' });
    const prom = await hvd.allreduce(x, { op: 'sum', name: 'inst.async' });
    const gathered = hvd.allgatherSync(x, { name: 'inst.ag' });
    const cast = await hvd.broadcast(x, 0, { name: 'inst.bc' });
    const [grouped] = hvd.groupedAllreduceSync([x], { op: 'sum', name: 'inst.grp' });
    for (const r of [sync, prom, gathered, cast, grouped]) assert.ok(made.includes(r), 'built by the injected tfjs');
    assert.deepEqual(Array.from(sync.dataSync()), [1, 2, 3].map((v) => v * hvd.size()));
    assert.deepEqual(gathered.shape, [3 * hvd.size()]);
    tf.dispose([x, ...made]);
  });

  it('useTfjs rejects something that is not a tfjs module', function () {
    assert.throws(() => hvd.useTfjs({}), /^TypeError: useTfjs: tf must be a tfjs module/);
    assert.throws(() => hvd.useTfjs(null), TypeError);
  });
});
