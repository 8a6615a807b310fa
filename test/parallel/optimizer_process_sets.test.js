'use strict';
// DistributedOptimizer, broadcastVariables and broadcastModel on process
// sets: two disjoint sets (even and odd ranks) train different models at the
// same time, each averaging over its own members only. Gradients are chosen
// so that every average is exact in float32, so results are compared exactly.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { loadTf } = require('../support/tf');

describe('DistributedOptimizer and the tfjs broadcasts on process sets', function () {
  let tf;
  let evens;
  let odds;
  let mine; // the set this rank is in
  let other; // the set it is not in
  before(function () {
    if (hvd.size() < 2) return this.skip();
    tf = loadTf();
    const all = Array.from({ length: hvd.size() }, (_, r) => r);
    evens = hvd.addProcessSet(all.filter((r) => r % 2 === 0));
    odds = hvd.addProcessSet(all.filter((r) => r % 2 === 1));
    mine = hvd.rank() % 2 === 0 ? evens : odds;
    other = mine === evens ? odds : evens;
  });
  after(function () {
    if (!evens) return;
    hvd.removeProcessSet(evens);
    hvd.removeProcessSet(odds);
  });

  // The loss is sum(v * x) over each variable, so the gradient of v is x.
  // Each rank's x is a multiple of its set's size: the set's average is exact.
  const inputsOf = (rank, setSize, shapes) =>
    shapes.map((shape, vi) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return Float32Array.from({ length: n }, (_, i) => setSize * ((rank + 1) * (i + 1) - 3 * vi));
    });

  it('two disjoint sets train different models concurrently; each averages over its members only (exact)', function () {
    // Different models per set: the engine would fail a cross-set reduction.
    const shapes = mine === evens ? [[3], [2, 2]] : [[5], [1], [2, 3]];
    const vars = shapes.map((s, i) => tf.variable(tf.zeros(s), true, `ps${mine.id}v${i}${Math.random()}`));
    const opt = hvd.DistributedOptimizer(tf.train.sgd(1), { processSet: mine });
    const K = 3;
    const xs = inputsOf(hvd.rank(), mine.size(), shapes);
    for (let k = 0; k < K; k++) {
      opt.minimize(() => tf.addN(vars.map((v, i) => tf.sum(tf.mul(v, tf.tensor(xs[i], shapes[i]))))), false, vars);
    }
    // Expected: K steps of v -= mean over the set's members of their x.
    const members = mine.ranks.map((r) => inputsOf(r, mine.size(), shapes));
    vars.forEach((v, i) => {
      const want = new Float32Array(xs[i].length);
      for (let j = 0; j < want.length; j++) {
        const mean = members.reduce((a, m) => a + m[i][j], 0) / mine.size();
        for (let k = 0; k < K; k++) want[j] = Math.fround(want[j] - mean);
      }
      assert.deepEqual(Array.from(v.dataSync()), Array.from(want), `variable ${i} on rank ${hvd.rank()} (set ${mine.ranks})`);
    });
    assert.equal(opt.iterations, K);
    opt.dispose();
    tf.dispose(vars);
  });

  it("op 'sum' and backwardPassesPerStep on a set sum over its members only", function () {
    const shapes = [[4]];
    const v = tf.variable(tf.zeros([4]), true, `pssum${Math.random()}`);
    const opt = hvd.DistributedOptimizer(tf.train.sgd(1), { processSet: mine, op: 'sum', backwardPassesPerStep: 2 });
    const x = inputsOf(hvd.rank(), 1, shapes)[0];
    const loss = () => tf.sum(tf.mul(v, tf.tensor(x)));
    opt.minimize(loss, false, [v]);
    opt.minimize(loss, false, [v]);
    const want = Float32Array.from(x, (_, j) => -2 * mine.ranks.reduce((a, r) => a + inputsOf(r, 1, shapes)[0][j], 0));
    assert.deepEqual(Array.from(v.dataSync()), Array.from(want));
    opt.dispose();
    v.dispose();
  });

  it('a rank outside the set gets a RangeError naming the set when wrapping; a removed set fails the next step', function () {
    assert.throws(
      () => hvd.DistributedOptimizer(tf.train.sgd(1), { processSet: other }),
      (e) => e instanceof RangeError && e.message.includes(`not a member of ${other}`),
    );
    assert.throws(() => hvd.DistributedOptimizer(tf.train.sgd(1), { processSet: [0, 1] }), TypeError);
    // Every rank adds (and removes) the set; only its members train on it.
    const pair = hvd.addProcessSet([0, 1]);
    if (pair.included()) {
      const v = tf.variable(tf.zeros([2]), true, `psrm${Math.random()}`);
      const opt = hvd.DistributedOptimizer(tf.train.sgd(1), { processSet: pair, op: 'sum' });
      const loss = () => tf.sum(tf.mul(v, tf.tensor([1, 2])));
      opt.minimize(loss, false, [v]);
      assert.deepEqual(Array.from(v.dataSync()), [-2, -4]);
      hvd.removeProcessSet(pair);
      assert.throws(() => opt.minimize(loss, false, [v]), (e) => e instanceof RangeError && /has been removed/.test(e.message));
      opt.dispose();
      v.dispose();
    } else {
      assert.throws(() => hvd.DistributedOptimizer(tf.train.sgd(1), { processSet: pair }), RangeError);
      hvd.removeProcessSet(pair);
    }
  });

  it("broadcastVariables, broadcastVariablesSync and broadcastModel take the set's root", async function () {
    const a = tf.variable(tf.fill([3], hvd.rank()), true, `psbv${Math.random()}`);
    const b = tf.variable(tf.fill([2], hvd.rank(), 'int32'), true, `psbvi${Math.random()}`);
    hvd.broadcastVariablesSync([a, b], 0, { processSet: mine });
    assert.deepEqual(Array.from(a.dataSync()), [mine.ranks[0], mine.ranks[0], mine.ranks[0]]);
    assert.deepEqual(Array.from(b.dataSync()), [mine.ranks[0], mine.ranks[0]]);
    const last = mine.size() - 1;
    a.assign(tf.fill([3], hvd.rank() + 10));
    await hvd.broadcastVariables([a], last, { processSet: mine });
    assert.deepEqual(Array.from(a.dataSync()), Array(3).fill(mine.ranks[last] + 10));
    assert.throws(() => hvd.broadcastVariablesSync([a], mine.size(), { processSet: mine }), RangeError);
    assert.throws(() => hvd.broadcastVariablesSync([a], 0, { processSet: other }), (e) => e instanceof RangeError && e.message.includes(`${other}`));
    assert.throws(() => hvd.broadcastVariablesSync([a], 0, { processSet: mine, root: 1 }), TypeError);

    const model = tf.sequential();
    model.add(tf.layers.dense({ inputShape: [2], units: mine === evens ? 3 : 1, kernelInitializer: tf.initializers.constant({ value: hvd.rank() }) }));
    model.compile({ optimizer: hvd.DistributedOptimizer(tf.train.adam(0.1), { processSet: mine }), loss: 'meanSquaredError' });
    await hvd.broadcastModel(model, 0, { processSet: mine });
    assert.ok(model.getWeights()[0].dataSync().every((w) => w === mine.ranks[0]));
    assert.throws(() => hvd.callbacks.broadcastGlobalVariablesCallback(0, { processSet: other }), RangeError);
    const cb = hvd.callbacks.broadcastGlobalVariablesCallback(0, { processSet: mine });
    const x = tf.ones([2, 2]);
    const y = tf.zeros([2, mine === evens ? 3 : 1]);
    await model.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0, callbacks: [cb] });
    const hashes = hvd.allgatherObjectSync(Array.from(model.getWeights()[0].dataSync()).join(','), { processSet: mine });
    assert.equal(new Set(hashes).size, 1, `weights differ within the set: ${hashes}`);
    model.dispose();
    tf.dispose([a, b, x, y]);
  });
  it('MetricAverageCallback and LearningRateWarmupCallback on a set: averages and rates over its members only', async function () {
    // The sets train at the same time; a global average would wait for the
    // other set's ranks, which call it under another name.
    const m = tf.sequential();
    m.add(tf.layers.dense({ units: 1, inputShape: [2], kernelInitializer: 'zeros', useBias: false }));
    m.compile({ optimizer: tf.train.sgd(0), loss: 'meanSquaredError' });
    // Each rank's loss is (rank + 1)^2: the targets are rank + 1 and the model outputs 0.
    const x = tf.ones([4, 2]);
    const y = tf.fill([4, 1], hvd.rank() + 1);
    const logs = [];
    class Capture extends tf.Callback {
      async onEpochEnd(epoch, l) {
        logs.push(typeof l.loss === 'number' ? l.loss : (await l.loss.data())[0]);
      }
    }
    await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, callbacks: [hvd.callbacks.metricAverageCallback({ processSet: mine }), new Capture()] });
    const mean = mine.ranks.reduce((acc, r) => acc + (r + 1) ** 2, 0) / mine.size();
    assert.ok(Math.abs(logs[0] - mean) < 1e-5 * mean, `loss ${logs[0]} vs the set's mean ${mean}`);
    const warm = hvd.callbacks.learningRateWarmupCallback({ initialLr: 0.8, warmupEpochs: 2, processSet: mine });
    assert.ok(Math.abs(warm.rateAt(0) - 0.8 / mine.size()) < 1e-12, `starts at lr / set size: ${warm.rateAt(0)}`);
    assert.equal(warm.rateAt(2), 0.8);
    for (const make of [() => hvd.callbacks.metricAverageCallback({ processSet: other }), () => hvd.callbacks.learningRateWarmupCallback({ initialLr: 1, processSet: other })]) {
      assert.throws(make, (e) => e instanceof RangeError && e.message.includes(`not a member of ${other}`));
    }
    m.dispose();
    tf.dispose([x, y]);
  });
});
