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
//
// Timing: a timestamp at every onBatchEnd; the first --warmup steps are
// skipped; per-rank images/s = (steps - warmup) × batch / (t_last - t_warmup).
// The job's images/s is size × the slowest rank's per-rank rate (the ranks
// run in lock step, so the slowest one sets the pace). Rank 0 prints one JSON
// line.
//
// Usage: node bench/train_bench.js --mode plain [--model mlp|cnn] [--backend wasm|cpu|node] [--steps 150] [--warmup 10] [--seed 42]
//        mpirun -np N node bench/train_bench.js --mode hvd [...]

const path = require('path');
const { performance } = require('perf_hooks');

const ROOT = path.resolve(__dirname, '..');
const { parseCommandLine, numberOption } = require('../scripts/lib/common');
const BATCH = 64;

function parseArgs(argv) {
  const o = { mode: 'plain', steps: 150, warmup: 10, seed: 42, model: 'mlp', backend: 'wasm' };
  const { values } = parseCommandLine(argv, {
    mode: { type: 'string' },
    steps: { type: 'string' },
    warmup: { type: 'string' },
    seed: { type: 'string' },
    model: { type: 'string' },
    backend: { type: 'string' },
  });
  for (const k of ['mode', 'model', 'backend']) if (values[k] !== undefined) o[k] = values[k];
  for (const k of ['steps', 'warmup', 'seed']) {
    if (values[k] !== undefined) o[k] = numberOption(k, values[k], (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
  }
  if (!['plain', 'hvd'].includes(o.mode)) throw new Error(`train_bench.js: --mode must be plain or hvd`);
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

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const tf = await loadTf(o.backend);
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
