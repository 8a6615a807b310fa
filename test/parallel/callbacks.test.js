'use strict';
// The model.fit callbacks: what each one does to weights, logs and the
// learning rate, checked across ranks.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { loadTf, globalBatch, shardOf, hashWeights } = require('../support/tf');

describe('callbacks', function () {
  let tf;
  let data;
  before(function () {
    tf = loadTf();
    data = globalBatch(tf);
  });

  const shard = () => shardOf(tf, data, hvd.rank(), hvd.size());

  function model(seed) {
    const m = tf.sequential();
    m.add(tf.layers.dense({ units: 3, inputShape: [4], activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed }) }));
    m.add(tf.layers.batchNormalization());
    m.add(tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 1 }) }));
    return m;
  }

  const weightHash = (m) => hashWeights(m.getWeights().map((t) => Array.from(t.dataSync())));
  // BatchNorm's moving statistics follow each rank's own data (as in Horovod
  // without SyncBatchNorm), so after training only trainable weights must agree.
  const trainableHash = (m) => hashWeights(m.trainableWeights.map((w) => Array.from(w.read().dataSync())));

  it('exports classes and lowercase factories that are real tf.Callbacks', function () {
    const c = hvd.callbacks;
    for (const [Cls, factory, args] of [
      [c.BroadcastGlobalVariablesCallback, c.broadcastGlobalVariablesCallback, 0],
      [c.MetricAverageCallback, c.metricAverageCallback, undefined],
      [c.LearningRateWarmupCallback, c.learningRateWarmupCallback, { initialLr: 0.1 }],
      [c.LearningRateScheduleCallback, c.learningRateScheduleCallback, { initialLr: 0.1, multiplier: 0.5 }],
    ]) {
      const made = factory(args);
      assert.ok(made instanceof Cls);
      assert.ok(made instanceof tf.Callback);
    }
    assert.throws(() => c.learningRateWarmupCallback({ initialLr: -1 }), RangeError);
    assert.throws(() => c.learningRateScheduleCallback({ initialLr: 1, multiplier: 'x' }), TypeError);
    assert.throws(() => c.broadcastGlobalVariablesCallback(-1), RangeError);
  });

  it('BroadcastGlobalVariablesCallback: ranks that start from different weights end up identical, optimizer state included', async function () {
    const m = model(100 + hvd.rank()); // different initial weights per rank
    const before = hvd.allgatherObjectSync(weightHash(m));
    if (hvd.size() > 1) assert.notEqual(before[0], before[1], 'the test needs ranks to start apart');
    const opt = hvd.DistributedOptimizer(tf.train.adam(0.01));
    m.compile({ optimizer: opt, loss: 'meanSquaredError' });
    const s = shard();
    await m.fit(s.x, s.y, { epochs: 3, batchSize: s.per / 2, shuffle: false, verbose: 0, callbacks: [hvd.callbacks.broadcastGlobalVariablesCallback(0)] });
    const after = hvd.allgatherObjectSync(trainableHash(m));
    assert.equal(new Set(after).size, 1, 'weights identical on every rank');
    const ws = await opt.getWeights();
    const slots = hvd.allgatherObjectSync(hashWeights(ws.map((w) => Array.from(w.tensor.dataSync()))));
    assert.equal(new Set(slots).size, 1, 'Adam moments identical on every rank');
    ws.filter((w) => w.name === 'iter').forEach((w) => w.tensor.dispose());
    m.dispose();
    tf.dispose([s.x, s.y]);
  });

  it('broadcastModel also restores a resumed optimizer on ranks that have none yet', async function () {
    const m = model(7);
    const opt = tf.train.adam(0.01);
    m.compile({ optimizer: opt, loss: 'meanSquaredError' });
    if (hvd.rank() === 0) await m.fit(data.x, data.y, { epochs: 2, batchSize: 24, verbose: 0 }); // root "resumed"
    await hvd.broadcastModel(m, 0);
    assert.equal(opt.iterations, 2, 'iterations come from root');
    const ws = await opt.getWeights();
    const h = hvd.allgatherObjectSync(hashWeights(ws.map((w) => Array.from(w.tensor.dataSync()))));
    assert.equal(new Set(h).size, 1);
    ws.filter((w) => w.name === 'iter').forEach((w) => w.tensor.dispose());
    m.dispose();
  });

  it('MetricAverageCallback: the averaged metric equals the mean of the ranks\u2019 metrics', async function () {
    const tfc = tf;
    class Capture extends tfc.Callback {
      constructor(into) {
        super();
        this.into = into;
      }
      async onEpochEnd(epoch, logs) {
        const o = {};
        for (const [k, v] of Object.entries(logs)) o[k] = typeof v === 'number' ? v : (await v.data())[0];
        this.into.push(o);
      }
    }
    const raw = [];
    const avg = [];
    const m = model(3);
    // No DistributedOptimizer: ranks train apart, so their metrics differ.
    m.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError', metrics: ['mae'] });
    const s = shard();
    await m.fit(s.x, s.y, { epochs: 2, batchSize: s.per, verbose: 0, callbacks: [new Capture(raw), hvd.callbacks.metricAverageCallback(), new Capture(avg)] });
    const all = hvd.allgatherObjectSync(raw);
    for (let e = 0; e < 2; e++) {
      for (const k of Object.keys(raw[e])) {
        const mean = all.reduce((acc, r) => acc + r[e][k], 0) / hvd.size();
        assert.ok(Math.abs(avg[e][k] - mean) < 1e-6 * Math.max(1, Math.abs(mean)), `${k}: ${avg[e][k]} vs mean ${mean}`);
      }
    }
    assert.equal(new Set(hvd.allgatherObjectSync(JSON.stringify(avg))).size, 1, 'every rank has the same history');
    m.dispose();
    tf.dispose([s.x, s.y]);
  });

  it('LearningRateWarmupCallback: the rate ramps linearly from lr/size to lr, per batch, as in Horovod', async function () {
    const seen = [];
    class Rate extends tf.Callback {
      async onBatchEnd(batch) {
        seen.push(this.model.optimizer.learningRate);
      }
    }
    const m = model(5);
    const opt = hvd.DistributedOptimizer(tf.train.adam(1));
    m.compile({ optimizer: opt, loss: 'meanSquaredError' });
    const s = shard();
    const initialLr = 0.08;
    const steps = 2;
    await m.fit(s.x, s.y, {
      epochs: 3,
      batchSize: s.per / steps,
      shuffle: false,
      verbose: 0,
      callbacks: [hvd.callbacks.learningRateWarmupCallback({ initialLr, warmupEpochs: 2 }), new Rate()],
    });
    const n = hvd.size();
    const want = [];
    for (let e = 0; e < 3; e++) {
      for (let b = 0; b < steps; b++) {
        const x = e + b / steps;
        want.push(x < 2 ? (initialLr / n) * ((x * (n - 1)) / 2 + 1) : initialLr);
      }
    }
    assert.equal(seen.length, want.length);
    seen.forEach((lr, i) => assert.ok(Math.abs(lr - want[i]) < 1e-12, `batch ${i}: ${lr} vs ${want[i]}`));
    assert.equal(opt.learningRate, initialLr);
    m.dispose();
    tf.dispose([s.x, s.y]);
  });

  it('LearningRateWarmupCallback sets SGD\u2019s rate through setLearningRate (assigning the field does nothing there)', async function () {
    const m = model(9);
    const opt = tf.train.sgd(123);
    m.compile({ optimizer: hvd.DistributedOptimizer(opt), loss: 'meanSquaredError' });
    const s = shard();
    await m.fit(s.x, s.y, { epochs: 1, batchSize: s.per, verbose: 0, callbacks: [hvd.callbacks.learningRateWarmupCallback({ initialLr: 0.01, warmupEpochs: 1 })] });
    assert.equal(opt.learningRate, 0.01);
    m.dispose();
    tf.dispose([s.x, s.y]);
  });

  it('LearningRateScheduleCallback: staircase multiplier between start and end epochs', async function () {
    const perEpoch = [];
    class Rate extends tf.Callback {
      async onEpochBegin() {
        // runs after the schedule callback's onEpochBegin (it is listed first)
        perEpoch.push(this.model.optimizer.learningRate);
      }
    }
    const m = model(11);
    const opt = tf.train.adam(0.5);
    m.compile({ optimizer: hvd.DistributedOptimizer(opt), loss: 'meanSquaredError' });
    const s = shard();
    await m.fit(s.x, s.y, {
      epochs: 4,
      batchSize: s.per,
      verbose: 0,
      callbacks: [hvd.callbacks.learningRateScheduleCallback({ initialLr: 0.5, multiplier: (e) => 0.1 ** e, startEpoch: 1, endEpoch: 3 }), new Rate()],
    });
    assert.deepEqual(perEpoch.map((x) => +x.toPrecision(12)), [0.5, 0.05, 0.005, 0.005]);
    m.dispose();
    tf.dispose([s.x, s.y]);
  });
});
