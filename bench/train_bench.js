#!/usr/bin/env node
'use strict';
const { loadTfjsWasm } = require('./tfjs_wasm');
// Training throughput for `npm run bench:train`: an MNIST model trained with
// model.fit on real MNIST for a fixed number of steps, batch 64 per rank, Adam.
//
//   --model mlp    784-256-128-10 (relu, softmax)              (default)
//   --model cnn    Horovod's Keras MNIST convnet: Conv2D 32 3x3 relu, Conv2D 64
//                  3x3 relu, MaxPool 2x2, Dropout 0.25, Flatten, Dense 128 relu,
//                  Dropout 0.5, Dense 10 softmax
//   --backend wasm|cpu|node   tfjs backend (default wasm); node = @tensorflow/tfjs-node
//   --mode plain   tfjs only, no hvd (run as plain `node`, np = 1)
//   --mode hvd     hvd.DistributedOptimizer(tf.train.adam(1e-3 * size)), run
//                  under mpirun; each rank fits on its own shard
//                  (hvd.data.shardIndices(60000, {shuffle: true, seed}))
//   --mode interleaved   the np=1 overhead, in one process (mpirun -np 1):
//                  two copies of the model with the same initial weights, one
//                  on plain tf.train.adam and one on hvd.DistributedOptimizer
//                  of it, fit in turns on the same --chunk-steps batches,
//                  --chunks times each (order AB, BA, AB, ...). Separate
//                  processes run back to back differ by ±20% on these VMs
//                  (their speed modes, the wasm heap's layout); turns a
//                  second apart in one process share both. Per turn the time
//                  from its first step's end to its last's (fit's set-up and
//                  first step excluded); overhead per pair of turns =
//                  1 − plain step time / hvd step time; reported: the median
//                  over the pairs, and the same from the summed times.
//
// Timing: a timestamp at every onBatchEnd; the first --warmup steps are
// skipped; per-rank images/s = (steps - warmup) × batch / (t_last - t_warmup).
// The job's images/s is size × the slowest rank's per-rank rate (the ranks
// run in lock step, so the slowest one sets the pace). Rank 0 prints one JSON
// line.
//
// Usage: node bench/train_bench.js --mode plain [--model mlp|cnn] [--backend wasm|cpu|node] [--steps 150] [--warmup 10] [--seed 42]
//        mpirun -np N node bench/train_bench.js --mode hvd [...]
//        mpirun -np 1 node bench/train_bench.js --mode interleaved [--chunks 24] [--chunk-steps 20] [--model ...] [--backend ...]

const path = require('path');
const { performance } = require('perf_hooks');

const ROOT = path.resolve(__dirname, '..');
const { parseCommandLine, numberOption } = require('../scripts/lib/common');
const BATCH = 64;

function parseArgs(argv) {
  const o = { mode: 'plain', steps: 150, warmup: 10, seed: 42, model: 'mlp', backend: 'wasm', chunks: 24, 'chunk-steps': 20 };
  const { values } = parseCommandLine(argv, {
    mode: { type: 'string' },
    steps: { type: 'string' },
    warmup: { type: 'string' },
    seed: { type: 'string' },
    model: { type: 'string' },
    backend: { type: 'string' },
    chunks: { type: 'string' },
    'chunk-steps': { type: 'string' },
  });
  for (const k of ['mode', 'model', 'backend']) if (values[k] !== undefined) o[k] = values[k];
  for (const k of ['steps', 'warmup', 'seed', 'chunks', 'chunk-steps']) {
    if (values[k] !== undefined) o[k] = numberOption(k, values[k], (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
  }
  if (!['plain', 'hvd', 'interleaved'].includes(o.mode)) throw new Error(`train_bench.js: --mode must be plain, hvd or interleaved`);
  if (o.mode === 'interleaved' && !(o.chunks >= 2 && o['chunk-steps'] >= 3)) {
    throw new Error('train_bench.js: --chunks must be at least 2 and --chunk-steps at least 3');
  }
  if (!['mlp', 'cnn'].includes(o.model)) throw new Error(`train_bench.js: --model must be mlp or cnn`);
  if (!['wasm', 'cpu', 'node'].includes(o.backend)) throw new Error(`train_bench.js: --backend must be wasm, cpu or node`);
  if (o.model === 'cnn' && o.backend === 'wasm') throw new Error('train_bench.js: tfjs-backend-wasm cannot train convolutions (no Conv2DBackpropFilter kernel)');
  if (!(o.steps > o.warmup + 1)) throw new Error('train_bench.js: --steps must exceed --warmup + 1');
  return o;
}

/** Loads tfjs on the requested backend (quietly: tfjs prints a hint about tfjs-node). */
async function loadTf(backend) {
  let tf;
  if (backend === 'wasm') {
    tf = await loadTfjsWasm();
  } else if (backend === 'node') {
    tf = require('@tensorflow/tfjs-node');
  } else {
    const log = console.log;
    console.log = () => {};
    try {
      tf = require('@tensorflow/tfjs');
    } finally {
      console.log = log;
    }
    await tf.setBackend('cpu');
  }
  const want = backend === 'node' ? 'tensorflow' : backend;
  if (tf.getBackend() !== want) throw new Error(`${want} backend not active (got ${tf.getBackend()})`);
  return tf;
}

function buildModel(tf, kind) {
  const model = tf.sequential();
  if (kind === 'mlp') {
    model.add(tf.layers.dense({ inputShape: [784], units: 256, activation: 'relu' }));
    model.add(tf.layers.dense({ units: 128, activation: 'relu' }));
    model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  } else {
    model.add(tf.layers.reshape({ inputShape: [784], targetShape: [28, 28, 1] }));
    model.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }));
    model.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.dropout({ rate: 0.25 }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 128, activation: 'relu' }));
    model.add(tf.layers.dropout({ rate: 0.5 }));
    model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  }
  return model;
}

/** This rank's `count` training examples (images, one-hot labels). */
function batchData(train, indices, count) {
  const xs = new Float32Array(count * 784);
  const ys = new Float32Array(count * 10);
  for (let i = 0; i < count; i++) {
    const src = indices ? indices[i % indices.length] : i;
    xs.set(train.images.subarray(src * 784, (src + 1) * 784), i * 784);
    ys[i * 10 + train.labels[src]] = 1;
  }
  return { xs, ys };
}

const median = (a) => {
  const s = [...a].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** --mode interleaved: plain Adam and DistributedOptimizer(Adam) in turns, in one process at np=1. */
async function interleaved(o, tf) {
  const hvd = require(ROOT);
  hvd.init();
  if (hvd.size() !== 1) throw new Error(`train_bench.js: --mode interleaved measures np=1 (got ${hvd.size()} ranks)`);
  const { loadMnist } = require(path.join(ROOT, 'dist', 'mnist_data.js'));
  const { train } = loadMnist();
  const steps = o['chunk-steps'];
  const { xs, ys } = batchData(train, null, steps * BATCH);
  const x = tf.tensor2d(xs, [steps * BATCH, 784]);
  const y = tf.tensor2d(ys, [steps * BATCH, 10]);
  const plain = buildModel(tf, o.model);
  const dist = buildModel(tf, o.model);
  dist.setWeights(plain.getWeights());
  plain.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  dist.compile({ optimizer: hvd.DistributedOptimizer(tf.train.adam(1e-3)), loss: 'categoricalCrossentropy' });
  // Step time of one turn: first step's end to the last's.
  const turn = async (model) => {
    const stamps = [];
    await model.fit(x, y, {
      batchSize: BATCH,
      epochs: 1,
      shuffle: false,
      verbose: 0,
      callbacks: { onBatchEnd: async () => void stamps.push(performance.now()) },
    });
    return (stamps[stamps.length - 1] - stamps[0]) / (stamps.length - 1);
  };
  // Warm-up: both models compile their kernels and the optimizers their slots.
  for (let i = 0; i < 2; i++) {
    await turn(plain);
    await turn(dist);
  }
  const plainMs = [];
  const hvdMs = [];
  for (let i = 0; i < o.chunks; i++) {
    if (i % 2 === 0) {
      plainMs.push(await turn(plain));
      hvdMs.push(await turn(dist));
    } else {
      hvdMs.push(await turn(dist));
      plainMs.push(await turn(plain));
    }
  }
  const pairs = plainMs.map((p, i) => 1 - p / hvdMs[i]);
  const sum = (a) => a.reduce((s, v) => s + v, 0);
  process.stdout.write(
    JSON.stringify({
      kind: 'overhead',
      method: 'interleaved',
      np: 1,
      backend: tf.getBackend(),
      model: o.model,
      batch_per_rank: BATCH,
      chunks: o.chunks,
      chunk_steps: steps,
      plain_step_ms: plainMs.map((v) => +v.toFixed(3)),
      hvd_step_ms: hvdMs.map((v) => +v.toFixed(3)),
      overhead_pairs: pairs.map((v) => +v.toFixed(4)),
      overhead: median(pairs),
      overhead_of_sums: 1 - sum(plainMs) / sum(hvdMs),
      plain_images_per_s: (BATCH * 1e3) / median(plainMs),
      hvd_images_per_s: (BATCH * 1e3) / median(hvdMs),
      tfjs: tf.version.tfjs,
    }) + '\n',
  );
  x.dispose();
  y.dispose();
  hvd.shutdown();
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const tf = await loadTf(o.backend);
  if (o.mode === 'interleaved') return interleaved(o, tf);
  const { loadMnist } = require(path.join(ROOT, 'dist', 'mnist_data.js'));
  let hvd = null;
  let rank = 0;
  let size = 1;
  if (o.mode === 'hvd') {
    hvd = require(ROOT);
    hvd.init();
    rank = hvd.rank();
    size = hvd.size();
  }
  const { train } = loadMnist();
  const n = train.labels.length;
  const indices = hvd ? hvd.data.shardIndices(n, { shuffle: true, seed: o.seed }) : null;
  const count = o.steps * BATCH;
  const { xs, ys } = batchData(train, indices, count);
  const x = tf.tensor2d(xs, [count, 784]);
  const y = tf.tensor2d(ys, [count, 10]);

  const model = buildModel(tf, o.model);
  let optimizer = tf.train.adam(1e-3 * size);
  if (hvd) optimizer = hvd.DistributedOptimizer(optimizer);
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  if (hvd) await hvd.broadcastModel(model, 0);

  const stamps = [];
  const stats0 = hvd ? hvd.engineStats() : null;
  const t0 = performance.now();
  const hist = await model.fit(x, y, {
    batchSize: BATCH,
    epochs: 1,
    shuffle: false,
    verbose: 0,
    callbacks: { onBatchEnd: async () => void stamps.push(performance.now()) },
  });
  const wall = (performance.now() - t0) / 1e3;
  const steps = stamps.length;
  const timed = steps - 1 - o.warmup;
  const seconds = (stamps[steps - 1] - stamps[o.warmup]) / 1e3;
  let perRank = (timed * BATCH) / seconds;
  let stepMs = (seconds / timed) * 1e3;
  let engine = null;
  if (hvd) {
    const s1 = hvd.engineStats();
    engine = {
      allreduceBytesPerStep: (s1.allreduceBytes - stats0.allreduceBytes) / steps,
      fusionCopyBytesPerStep: (s1.fusionCopyBytes - stats0.fusionCopyBytes) / steps,
      responsesPerStep: (s1.responses - stats0.responses) / steps,
      tensorsPerStep: (s1.tensors - stats0.tensors) / steps,
    };
    // slowest rank sets the pace
    const slow = hvd.allreduceSync(new Float64Array([stepMs]), { op: 'max', name: 'train_bench.step_ms' });
    stepMs = slow[0];
    perRank = (BATCH * 1e3) / stepMs;
  }
  const loss = hist.history.loss[hist.history.loss.length - 1];
  if (rank === 0) {
    process.stdout.write(
      JSON.stringify({
        kind: 'train',
        mode: o.mode,
        np: size,
        backend: tf.getBackend(),
        model: o.model,
        tensorflow: o.backend === 'node' ? tf.backend().binding.TF_Version : undefined,
        batch_per_rank: BATCH,
        steps,
        warmup: o.warmup,
        step_ms: stepMs,
        images_per_s_per_rank: perRank,
        images_per_s: perRank * size,
        wall_s: wall,
        final_loss: loss,
        engine,
        tfjs: tf.version.tfjs,
      }) + '\n',
    );
  }
  x.dispose();
  y.dispose();
  if (hvd) hvd.shutdown();
}

main().catch((e) => {
  process.stderr.write(`train_bench.js: ${(e && e.stack) || e}\n`);
  process.exit(1);
});
