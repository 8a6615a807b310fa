'use strict';
// Where hvd's tensor data lives, on every backend the run uses (cpu, and
// tfjs-node's 'tensorflow' in the node-* runs). hvd reads inputs with
// dataSync() - the backing array itself on cpu, a copy out of TensorFlow on
// tfjs-node - and wraps results with tf.tensor(), which on tfjs-node hands the
// JS memory to TensorFlow without a copy when it is aligned (TF_NewTensor
// copies unaligned data). These tests pin what must hold either way: results
// never alias inputs, each other, or buffers hvd reuses; inputs may change or
// be disposed once a call has returned; views at odd offsets compute right.
const assert = require('node:assert/strict');
const hvd = require('../..');
const { loadTf, backendName } = require('../support/tf');

describe(`tensor memory (tfjs ${backendName()} backend)`, function () {
  let tf;
  let size;
  let rank;
  before(function () {
    tf = loadTf();
    size = hvd.size();
    rank = hvd.rank();
  });

  // TensorFlow-resident: the output of an op, not an array tfjs still holds in JS.
  const computed = (values, shape) => tf.tidy(() => tf.add(tf.tensor(values, shape), tf.zeros(shape)));

  it('runs on the backend the run asked for', function () {
    assert.equal(tf.getBackend(), backendName());
  });

  it('a result stays intact through later collectives and the disposal of its input', function () {
    const t = computed([1, 2, 3, 4], [2, 2]);
    const r1 = hvd.allreduceSync(t, { op: 'sum', name: 'mem.keep.1' });
    t.dispose();
    const others = [];
    for (let i = 0; i < 5; i++) {
      const u = computed([9, 9, 9, 9], [2, 2]);
      others.push(hvd.allreduceSync(u, { op: 'sum', name: `mem.keep.${i + 2}` }));
      u.dispose();
    }
    assert.deepEqual(Array.from(r1.dataSync()), [1, 2, 3, 4].map((v) => v * size));
    // and it still feeds TensorFlow ops
    assert.deepEqual(Array.from(tf.matMul(r1, tf.eye(2)).dataSync()), [1, 2, 3, 4].map((v) => v * size));
    for (const o of others) assert.deepEqual(Array.from(o.dataSync()), [9, 9, 9, 9].map((v) => v * size));
    tf.dispose([r1, ...others]);
  });

  it('Promise forms read the input at the call: disposing or reassigning it afterwards changes nothing', async function () {
    const t = computed([rank + 1, 2, 3], [3]);
    const v = tf.variable(tf.tensor([5, 6, 7]));
    const p1 = hvd.allreduce(t, { op: 'sum', name: 'mem.async.t' });
    const p2 = hvd.allreduce(v, { op: 'sum', name: 'mem.async.v' });
    t.dispose();
    v.assign(tf.tensor([-1, -1, -1]));
    const [r1, r2] = await Promise.all([p1, p2]);
    const ranks = (size * (size + 1)) / 2;
    assert.deepEqual(Array.from(r1.dataSync()), [ranks, 2 * size, 3 * size]);
    assert.deepEqual(Array.from(r2.dataSync()), [5 * size, 6 * size, 7 * size]);
    assert.deepEqual(Array.from(v.dataSync()), [-1, -1, -1], 'the variable keeps its new value');
    tf.dispose([r1, r2, v]);
  });

  it('groupedAllreduce results are views at odd offsets of one buffer; each computes as its own tensor', function () {
    // 3, 5 and 7 floats: the second and third views start 12 and 32 bytes in.
    const ins = [computed([1, 2, 3], [3]), computed([1, 1, 1, 1, 1], [5]), computed([0, 1, 2, 3, 4, 5, 6], [7])];
    const outs = hvd.groupedAllreduceSync(ins, { op: 'sum', name: 'mem.grouped' });
    const want = [[1, 2, 3], [1, 1, 1, 1, 1], [0, 1, 2, 3, 4, 5, 6]].map((a) => a.map((x) => x * size));
    outs.forEach((o, i) => assert.deepEqual(Array.from(o.dataSync()), want[i]));
    // ops on each view, then on all of them at once
    const sums = outs.map((o) => tf.sum(tf.mul(o, 2)).dataSync()[0]);
    assert.deepEqual(sums, want.map((a) => 2 * a.reduce((x, y) => x + y, 0)));
    assert.deepEqual(Array.from(tf.concat(outs).dataSync()), want.flat());
    tf.dispose([...ins, ...outs]);
  });

  it('DistributedOptimizer: gradient views fed to the optimizer do not alias the variables or each other', function () {
    // Three variables of odd sizes; the averaged gradients reach applyGradients
    // as views into one reduced buffer.
    const vars = [tf.variable(tf.ones([3])), tf.variable(tf.ones([5])), tf.variable(tf.ones([2, 3]))];
    const opt = hvd.DistributedOptimizer(tf.train.sgd(0.5), { name: 'mem.sgd' });
    for (let step = 0; step < 3; step++) {
      opt.minimize(() => tf.addN(vars.map((v, i) => tf.sum(tf.mul(v, i + 1)))));
    }
    // d/dv of sum((i+1) v) = i+1 on every rank: 3 steps of lr 0.5 from 1.
    vars.forEach((v, i) => assert.deepEqual(Array.from(v.dataSync()), new Array(v.size).fill(1 - 3 * 0.5 * (i + 1))));
    opt.dispose();
    tf.dispose(vars);
  });

  it('broadcastVariables gives each variable its own memory', function () {
    const a = tf.variable(tf.fill([4], rank + 1));
    const b = tf.variable(tf.fill([4], rank + 10));
    hvd.broadcastVariablesSync([a, b], 0);
    a.assign(tf.zeros([4]));
    assert.deepEqual(Array.from(b.dataSync()), [10, 10, 10, 10]);
    assert.deepEqual(Array.from(a.dataSync()), [0, 0, 0, 0]);
    tf.dispose([a, b]);
  });

  it('no tensors leak across 200 collectives on tensors', function () {
    const run = (i) => {
      const t = computed([i, i + 1], [2]);
      const r = hvd.allreduceSync(t, { op: 'sum', name: 'mem.leak.ar' });
      const g = hvd.allgatherSync(t, { name: 'mem.leak.ag' });
      const b = hvd.broadcastSync(t, 0, { name: 'mem.leak.bc' });
      tf.dispose([t, r, g, b]);
    };
    for (let i = 0; i < 10; i++) run(i);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) run(i);
    assert.equal(tf.memory().numTensors, before);
  });
});
