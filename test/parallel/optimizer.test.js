'use strict';
// DistributedOptimizer: data-parallel training equals single-process
// training on the whole batch, for every training path tfjs has.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { loadTf, globalBatch, rows, shardOf, weightsOf, maxAbsDiff, hashWeights } = require('../support/tf');

const K = 5;
const LR = 0.1;

describe('DistributedOptimizer', function () {
  let tf;
  let data;
  before(function () {
    tf = loadTf();
    data = globalBatch(tf);
  });

  const shard = () => shardOf(tf, data, hvd.rank(), hvd.size());

  function makeVars(prefix) {
    const W = tf.variable(tf.tensor2d([[0.1, -0.2], [0.3, 0.05], [-0.1, 0.2], [0.0, 0.4]]), true, `${prefix}W${Math.random()}`);
    const b = tf.variable(tf.tensor1d([0.01, -0.02]), true, `${prefix}b${Math.random()}`);
    return [W, b];
  }
  const lossOf = (W, b, x, y) => () => tf.losses.meanSquaredError(y, tf.add(tf.matMul(x, W), b));

  function reference() {
    const [W, b] = makeVars('ref');
    const opt = tf.train.sgd(LR);
    for (let k = 0; k < K; k++) opt.minimize(lossOf(W, b, data.x, data.y));
    const w = weightsOf([W, b]);
    tf.dispose([W, b]);
    opt.dispose();
    return w;
  }

  it('returns the same optimizer object, still an instance of its class and of tf.Optimizer', function () {
    const base = tf.train.adam(0.01);
    const opt = hvd.DistributedOptimizer(base);
    assert.equal(opt, base);
    assert.ok(opt instanceof tf.Optimizer);
    assert.ok(opt instanceof tf.AdamOptimizer);
    assert.equal(opt.getClassName(), 'Adam');
    assert.ok(hvd.isDistributed(opt));
    assert.throws(() => hvd.DistributedOptimizer(opt), /already distributed/);
    assert.throws(() => hvd.DistributedOptimizer({}), TypeError);
    assert.throws(() => hvd.DistributedOptimizer(tf.train.sgd(1), { backwardPassesPerStep: 0 }), RangeError);
    assert.throws(() => hvd.DistributedOptimizer(tf.train.sgd(1), { op: 'max' }), RangeError);
    assert.throws(() => hvd.DistributedOptimizer(tf.train.sgd(1), { compression: 'fp16' }), TypeError);
    assert.throws(() => hvd.DistributedOptimizer(tf.train.sgd(1), { gradientPredivideFactor: 2, op: 'sum' }), RangeError);
    opt.dispose();
  });

  it('minimize() at np=N on 1/N of the batch equals np=1 on the whole batch (1e-5)', function () {
    const want = reference();
    const [W, b] = makeVars('min');
    const opt = hvd.DistributedOptimizer(tf.train.sgd(LR));
    const s = shard();
    for (let k = 0; k < K; k++) opt.minimize(lossOf(W, b, s.x, s.y));
    assert.ok(maxAbsDiff(weightsOf([W, b]), want) < 1e-5, `diff ${maxAbsDiff(weightsOf([W, b]), want)}`);
    assert.equal(opt.iterations, K);
    tf.dispose([W, b, s.x, s.y]);
  });

  it('variableGrads() + applyGradients() (the DistributedGradientTape equivalent) gives the same result', function () {
    const want = reference();
    const [W, b] = makeVars('vg');
    const opt = hvd.DistributedOptimizer(tf.train.sgd(LR));
    const s = shard();
    for (let k = 0; k < K; k++) {
      const { value, grads } = tf.variableGrads(lossOf(W, b, s.x, s.y), [W, b]);
      opt.applyGradients(grads);
      tf.dispose(value);
      tf.dispose(Object.values(grads));
    }
    assert.ok(maxAbsDiff(weightsOf([W, b]), want) < 1e-5);
    // computeGradients + an array of NamedTensors works as well.
    const { value, grads } = opt.computeGradients(lossOf(W, b, s.x, s.y), [W, b]);
    opt.applyGradients([{ name: W.name, tensor: grads[W.name] }, { name: b.name, tensor: grads[b.name] }]);
    tf.dispose([value, ...Object.values(grads), W, b, s.x, s.y]);
  });

  function model() {
    const m = tf.sequential();
    m.add(tf.layers.dense({ units: 2, inputShape: [4], kernelInitializer: 'zeros', biasInitializer: 'zeros' }));
    m.setWeights([tf.tensor2d([[0.1, -0.2], [0.3, 0.05], [-0.1, 0.2], [0.0, 0.4]]), tf.tensor1d([0.01, -0.02])]);
    return m;
  }

  async function referenceModel() {
    const m = model();
    m.compile({ optimizer: tf.train.sgd(LR), loss: 'meanSquaredError' });
    await m.fit(data.x, data.y, { epochs: K, batchSize: 24, shuffle: false, verbose: 0 });
    const w = m.getWeights().map((t) => Array.from(t.dataSync()));
    m.dispose();
    return w;
  }

  it('model.fit() with the wrapped optimizer equals np=1 fit on the whole batch', async function () {
    const want = await referenceModel();
    const m = model();
    m.compile({ optimizer: hvd.DistributedOptimizer(tf.train.sgd(LR)), loss: 'meanSquaredError' });
    const s = shard();
    await m.fit(s.x, s.y, { epochs: K, batchSize: s.per, shuffle: false, verbose: 0 });
    const got = m.getWeights().map((t) => Array.from(t.dataSync()));
    assert.ok(maxAbsDiff(got, want) < 1e-5, `diff ${maxAbsDiff(got, want)}`);
    m.dispose();
    tf.dispose([s.x, s.y]);
  });

  it('trainOnBatch() and fitDataset() give the same result too', async function () {
    const want = await referenceModel();
    const s = shard();
    const m1 = model();
    m1.compile({ optimizer: hvd.DistributedOptimizer(tf.train.sgd(LR)), loss: 'meanSquaredError' });
    for (let k = 0; k < K; k++) await m1.trainOnBatch(s.x, s.y);
    assert.ok(maxAbsDiff(m1.getWeights().map((t) => Array.from(t.dataSync())), want) < 1e-5);
    const m2 = model();
    m2.compile({ optimizer: hvd.DistributedOptimizer(tf.train.sgd(LR)), loss: 'meanSquaredError' });
    const ds = tf.data.zip({ xs: tf.data.array(s.x.arraySync()), ys: tf.data.array(s.y.arraySync()) }).batch(s.per);
    await m2.fitDataset(ds, { epochs: K, verbose: 0 });
    assert.ok(maxAbsDiff(m2.getWeights().map((t) => Array.from(t.dataSync())), want) < 1e-5);
    m1.dispose();
    m2.dispose();
    tf.dispose([s.x, s.y]);
  });

  it('backwardPassesPerStep=2 (averaged) equals one np=1 step on the whole batch per two passes', function () {
    const want = reference();
    const [W, b] = makeVars('bpps');
    const opt = hvd.DistributedOptimizer(tf.train.sgd(LR), { backwardPassesPerStep: 2, averageAggregatedGradients: true });
    const s = shard();
    const half = s.per / 2;
    const parts = [0, 1].map((h) => ({ x: rows(tf, s.x, h * half, (h + 1) * half), y: rows(tf, s.y, h * half, (h + 1) * half) }));
    for (let k = 0; k < K; k++) {
      opt.minimize(lossOf(W, b, parts[0].x, parts[0].y));
      assert.equal(opt.iterations, k, 'the first pass only accumulates');
      opt.minimize(lossOf(W, b, parts[1].x, parts[1].y));
      assert.equal(opt.iterations, k + 1);
    }
    assert.ok(maxAbsDiff(weightsOf([W, b]), want) < 1e-5, `diff ${maxAbsDiff(weightsOf([W, b]), want)}`);
    tf.dispose([W, b, s.x, s.y, ...parts.flatMap((p) => [p.x, p.y])]);
  });

  it('gradientPredivideFactor gives the same average', function () {
    const want = reference();
    const [W, b] = makeVars('pre');
    const opt = hvd.DistributedOptimizer(tf.train.sgd(LR), { gradientPredivideFactor: 4 });
    const s = shard();
    for (let k = 0; k < K; k++) opt.minimize(lossOf(W, b, s.x, s.y));
    assert.ok(maxAbsDiff(weightsOf([W, b]), want) < 1e-5);
    tf.dispose([W, b, s.x, s.y]);
  });

  it("op 'sum' sums instead of averaging", function () {
    const [W, b] = makeVars('sum');
    const opt = hvd.DistributedOptimizer(tf.train.sgd(LR), { op: 'sum' });
    const [W2, b2] = makeVars('sumref');
    const ref = hvd.DistributedOptimizer(tf.train.sgd(LR * hvd.size()));
    const s = shard();
    opt.minimize(lossOf(W, b, s.x, s.y));
    ref.minimize(lossOf(W2, b2, s.x, s.y));
    assert.ok(maxAbsDiff(weightsOf([W, b]), weightsOf([W2, b2])) < 1e-6);
    tf.dispose([W, b, W2, b2, s.x, s.y]);
  });

  for (const [name, make] of [
    ['sgd', (tf) => tf.train.sgd(0.05)],
    ['momentum', (tf) => tf.train.momentum(0.05, 0.9)],
    ['adam', (tf) => tf.train.adam(0.05)],
    ['adamax', (tf) => tf.train.adamax(0.05)],
    ['adagrad', (tf) => tf.train.adagrad(0.2)],
    ['adadelta', (tf) => tf.train.adadelta(1)],
    ['rmsprop', (tf) => tf.train.rmsprop(0.02)],
  ]) {
    it(`${name}: trains, and ranks that start apart end up bitwise identical`, async function () {
      // Every rank starts from different weights and sees different data.
      const W = tf.variable(tf.randomNormal([4, 2], 0, 1, 'float32', 17 + hvd.rank()), true, `${name}W${Math.random()}`);
      const b = tf.variable(tf.zeros([2]), true, `${name}b${Math.random()}`);
      hvd.broadcastVariablesSync([W, b], 0);
      const opt = hvd.DistributedOptimizer(make(tf));
      const s = shard();
      const loss0 = lossOf(W, b, data.x, data.y)().dataSync()[0];
      for (let k = 0; k < 20; k++) opt.minimize(lossOf(W, b, s.x, s.y));
      const loss1 = lossOf(W, b, data.x, data.y)().dataSync()[0];
      const hashes = hvd.allgatherObjectSync(hashWeights(weightsOf([W, b])));
      assert.equal(new Set(hashes).size, 1, `weights differ across ranks: ${hashes}`);
      assert.ok(loss1 < loss0, `${name} did not reduce the loss: ${loss0} -> ${loss1}`);
      assert.equal(opt.iterations, 20);
      // Optimizer state survives: getWeights/setWeights round-trip (Adamax has none in tfjs 4.22).
      if (name !== 'adamax') {
        const ws = await opt.getWeights();
        const fresh = make(tf);
        await fresh.setWeights(ws);
        assert.equal(fresh.iterations, 20);
        fresh.dispose();
        ws.filter((w) => w.name === 'iter').forEach((w) => w.tensor.dispose());
      }
      opt.dispose();
      tf.dispose([W, b, s.x, s.y]);
    });
  }

  it('fp16 compression stays within half precision and halves the bytes on the wire', function () {
    const [W1, b1] = makeVars('f32');
    const [W2, b2] = makeVars('f16');
    const plain = hvd.DistributedOptimizer(tf.train.sgd(LR));
    const half = hvd.DistributedOptimizer(tf.train.sgd(LR), { compression: hvd.Compression.fp16 });
    const s = shard();
    const n = 4 * 2 + 2;
    const s0 = hvd.engineStats().allreduceBytes;
    plain.minimize(lossOf(W1, b1, s.x, s.y));
    const s1 = hvd.engineStats().allreduceBytes;
    half.minimize(lossOf(W2, b2, s.x, s.y));
    const s2 = hvd.engineStats().allreduceBytes;
    // In a world of one the uncompressed path skips the engine entirely.
    assert.equal(s1 - s0, hvd.size() === 1 ? 0 : 4 * n, 'float32 step moves 4 bytes per gradient element');
    assert.equal(s2 - s1, 2 * n, 'fp16 step moves 2 bytes per gradient element');
    const d = maxAbsDiff(weightsOf([W1, b1]), weightsOf([W2, b2]));
    // One SGD step of LR * g, with |g| < 2 here: half precision's ~2^-11 relative error bounds it.
    assert.ok(d > 0 || hvd.size() >= 1, 'fp16 path ran');
    assert.ok(d < LR * 2 * 2 ** -10, `fp16 error too large: ${d}`);
    tf.dispose([W1, b1, W2, b2, s.x, s.y]);
  });

  it('does not leak tensors: numTensors after step 10 equals after step 500', function () {
    const [W, b] = makeVars('leak');
    const opt = hvd.DistributedOptimizer(tf.train.adam(0.01));
    const s = shard();
    let at10;
    for (let k = 1; k <= 500; k++) {
      opt.minimize(lossOf(W, b, s.x, s.y));
      if (k === 10) at10 = tf.memory().numTensors;
    }
    assert.equal(tf.memory().numTensors, at10);
    opt.dispose();
    tf.dispose([W, b, s.x, s.y]);
  });
});
