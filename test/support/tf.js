'use strict';
// Loads @tensorflow/tfjs once for the training tests, quietly, on the backend
// the run asks for: HVD_TEST_TFJS_BACKEND=cpu (the default) or tensorflow
// (@tensorflow/tfjs-node; scripts/test.js adds such runs when it loads).
let tf;

/** The tfjs backend this test process runs on: 'cpu' or 'tensorflow'. */
function backendName() {
  const b = process.env.HVD_TEST_TFJS_BACKEND || 'cpu';
  if (b !== 'cpu' && b !== 'tensorflow') throw new Error(`HVD_TEST_TFJS_BACKEND must be cpu or tensorflow; got '${b}'`);
  return b;
}

function loadTf() {
  if (tf) return tf;
  const backend = backendName();
  const warn = console.warn;
  const log = console.log;
  console.warn = console.log = () => {};
  try {
    // tfjs-node re-exports the same @tensorflow/tfjs and registers 'tensorflow'.
    if (backend === 'tensorflow') require('@tensorflow/tfjs-node');
    tf = require('@tensorflow/tfjs');
    tf.setBackend(backend);
    tf.tensor([0]).dispose(); // the cpu backend prints its "install tfjs-node" banner at its first write
  } finally {
    console.warn = warn;
    console.log = log;
  }
  if (tf.getBackend() !== backend) throw new Error(`tfjs backend '${backend}' did not activate (got '${tf.getBackend()}')`);
  return tf;
}

/** A deterministic dataset: 24 samples, 4 features, 2 targets. */
function globalBatch(tf) {
  const xs = [];
  const ys = [];
  for (let i = 0; i < 24; i++) {
    const x = [Math.sin(i), Math.cos(2 * i), (i % 5) / 5, ((i * 7) % 3) - 1];
    xs.push(x);
    ys.push([x[0] * 0.5 - x[1] + 0.2 * x[3], x[2] * x[2] - 0.3]);
  }
  return { x: tf.tensor2d(xs), y: tf.tensor2d(ys), xs, ys };
}

/** Rows [lo, hi) of a 2-D tensor. */
function rows(tf, t, lo, hi) {
  return tf.slice(t, [lo, 0], [hi - lo, t.shape[1]]);
}

/** This rank's equal share of the global batch: rows [rank*per, (rank+1)*per). */
function shardOf(tf, data, rank, size) {
  const per = data.x.shape[0] / size;
  const lo = rank * per;
  return { x: rows(tf, data.x, lo, lo + per), y: rows(tf, data.y, lo, lo + per), per };
}

function weightsOf(vars) {
  return vars.map((v) => Array.from(v.dataSync()));
}

function maxAbsDiff(a, b) {
  let m = 0;
  a.forEach((arr, i) => arr.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

function hashWeights(arrays) {
  const h = require('node:crypto').createHash('sha256');
  for (const a of arrays) h.update(Buffer.from(new Float32Array(a).buffer));
  return h.digest('hex');
}

module.exports = { backendName, loadTf, globalBatch, rows, shardOf, weightsOf, maxAbsDiff, hashWeights };
