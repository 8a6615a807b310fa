#!/usr/bin/env node
'use strict';
const { loadTfjsWasm } = require('./tfjs_wasm');
// Memory stability for `npm run bench` (run under mpirun -np 2, with
// node --expose-gc so the checkpoints can collect garbage first):
//
//   phase "allreduce": --iters (10,000) hvd.allreduceSync of 1 MiB float32,
//     out of place (a new result array per call: the path most likely to
//     leak). RSS is sampled every 250 calls; at the checkpoints (call 1,000,
//     call 2,500 and the last) a full GC runs first, so the difference is
//     retained memory, not garbage waiting for collection. growth_mb is
//     last − call 1,000 (the target); growth_after_settle_mb is last − call
//     2,500: V8 optimizes the hot call path (TurboFan) after about 1,000 calls
//     and its compiler memory stays in malloc's arenas, a one-off step of
//     ~5-7 MB RSS at any message size that is absent under node --no-opt.
//   phase "allgather" (not in the default phases): the same loop with
//     hvd.allgatherSync of 1 MiB per rank (issue 8: it leaked its whole
//     output per call when results were external ArrayBuffers).
//   phase "train": --steps (500) training steps of the MNIST MLP
//     784-256-128-10 (batch 64, Adam, wasm backend) through
//     hvd.DistributedOptimizer, with optimizer.minimize inside tf.tidy;
//     RSS and tf.memory() (numTensors, numBytes) every 25 steps, GC'd
//     checkpoints at step 100 and the last.
//
// Rank 0 prints one JSON line per phase:
//   {kind:'memory', phase, rss_mb_at_first, rss_mb_at_last, growth_mb, series:[...]}
//
// Usage: mpirun -np 2 node --expose-gc bench/memory_bench.js [--iters 10000]
//          [--bytes 1048576] [--steps 500] [--phases allreduce,allgather,train] [--plain-optimizer]

const path = require('path');
const { performance } = require('perf_hooks');

const ROOT = path.resolve(__dirname, '..');
const { parseCommandLine, numberOption, listOption } = require('../scripts/lib/common');
const hvd = require(ROOT);

function parseArgs(argv) {
  const o = { iters: 10000, bytes: 1 << 20, first: 1000, settle: 2500, steps: 500, firstStep: 100, sampleEvery: 250, phases: ['allreduce', 'train'] };
  const { values } = parseCommandLine(argv, {
    iters: { type: 'string' },
    bytes: { type: 'string' },
    steps: { type: 'string' },
    phases: { type: 'string' },
    'plain-optimizer': { type: 'boolean' },
  });
  const int = (n) => Number.isInteger(n) && n >= 1;
  for (const k of ['iters', 'bytes', 'steps']) if (values[k] !== undefined) o[k] = numberOption(k, values[k], int, 'a positive integer');
  if (values.phases !== undefined) o.phases = listOption('phases', [values.phases], ['allreduce', 'train']);
  if (values['plain-optimizer']) o.plainOptimizer = true;
  o.first = Math.min(o.first, Math.floor(o.iters / 10) || 1);
  o.settle = Math.min(Math.max(o.first, 2500), o.iters);
  o.firstStep = Math.min(o.firstStep, Math.floor(o.steps / 5) || 1);
  return o;
}

const MB = 1024 * 1024;

function fullGc() {
  if (typeof global.gc === 'function') {
    global.gc();
    global.gc();
  }
}

function rssMb() {
  return process.memoryUsage().rss / MB;
}

function emit(obj) {
  if (hvd.rank() === 0) process.stdout.write(JSON.stringify(obj) + '\n');
}

function allreducePhase(o, kind = 'allreduce') {
  const x = new Float32Array(o.bytes / 4).fill(1);
  const call = kind === 'allgather'
    ? () => hvd.allgatherSync(x, { name: 'memory.allgather' })
    : () => hvd.allreduceSync(x, { op: 'sum', name: 'memory.allreduce' });
  const series = [];
  let atFirst = null;
  let atSettle = null;
  const t0 = performance.now();
  for (let i = 1; i <= o.iters; i++) {
    const out = call();
    if (i === 1 && out[0] !== (kind === 'allgather' ? 1 : hvd.size())) throw new Error(`wrong result ${out[0]}`);
    if (i === o.first || i === o.settle || i === o.iters) {
      fullGc();
      const r = rssMb();
      if (i === o.first) atFirst = r;
      if (i === o.settle) atSettle = r;
      series.push({ iter: i, rss_mb: r, gc: true, external_mb: process.memoryUsage().external / MB });
    } else if (i % o.sampleEvery === 0) {
      series.push({ iter: i, rss_mb: rssMb(), gc: false });
    }
  }
  const seconds = (performance.now() - t0) / 1e3;
  const atLast = series[series.length - 1].rss_mb;
  // the worst rank decides
  const g = hvd.allreduceSync(new Float64Array([atLast - atFirst, atLast - atSettle]), { op: 'max', name: 'memory.growth' });
  emit({
    kind: 'memory',
    phase: kind,
    np: hvd.size(),
    bytes: o.bytes,
    iters: o.iters,
    first_checkpoint: o.first,
    rss_mb_at_first: atFirst,
    rss_mb_at_last: atLast,
    growth_mb: g[0],
    settle_checkpoint: o.settle,
    rss_mb_at_settle: atSettle,
    growth_after_settle_mb: g[1],
    gc_exposed: typeof global.gc === 'function',
    us_per_call: (seconds / o.iters) * 1e6,
    series,
  });
}

async function trainPhase(o) {
  const tf = await loadTfjsWasm();
  const { loadMnist } = require(path.join(ROOT, 'dist', 'mnist_data.js'));
  const { train } = loadMnist();
  const idx = hvd.data.shardIndices(train.labels.length, { shuffle: true, seed: 7 });
  const B = 64;

  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [784], units: 256, activation: 'relu' }));
  model.add(tf.layers.dense({ units: 128, activation: 'relu' }));
  model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  // --plain-optimizer: the same loop without DistributedOptimizer, to tell
  // tfjs/V8's own RSS behaviour from hvd's.
  const opt = o.plainOptimizer ? tf.train.adam(1e-3) : hvd.DistributedOptimizer(tf.train.adam(1e-3 * hvd.size()));
  await hvd.broadcastModel(model, 0);

  const xs = new Float32Array(B * 784);
  const ys = new Float32Array(B * 10);
  const series = [];
  let atFirst = null;
  let tensorsAtFirst = null;
  const t0 = performance.now();
  for (let s = 1; s <= o.steps; s++) {
    ys.fill(0);
    for (let i = 0; i < B; i++) {
      const src = idx[((s - 1) * B + i) % idx.length];
      xs.set(train.images.subarray(src * 784, (src + 1) * 784), i * 784);
      ys[i * 10 + train.labels[src]] = 1;
    }
    tf.tidy(() => {
      const x = tf.tensor2d(xs, [B, 784]);
      const y = tf.tensor2d(ys, [B, 10]);
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x)), false);
    });
    const checkpoint = s === o.firstStep || s === o.steps;
    if (checkpoint || s % 25 === 0) {
      if (checkpoint) fullGc();
      const m = tf.memory();
      const row = { step: s, rss_mb: rssMb(), num_tensors: m.numTensors, num_bytes: m.numBytes, gc: checkpoint };
      series.push(row);
      if (s === o.firstStep) {
        atFirst = row.rss_mb;
        tensorsAtFirst = row.num_tensors;
      }
    }
  }
  const seconds = (performance.now() - t0) / 1e3;
  const last = series[series.length - 1];
  const growth = hvd.allreduceSync(new Float64Array([last.rss_mb - atFirst]), { op: 'max', name: 'memory.train_growth' })[0];
  const tensors = series.map((r) => r.num_tensors);
  emit({
    kind: 'memory',
    phase: 'train',
    np: hvd.size(),
    optimizer: o.plainOptimizer ? 'adam (no hvd)' : 'hvd.DistributedOptimizer(adam)',
    steps: o.steps,
    first_checkpoint: o.firstStep,
    rss_mb_at_first: atFirst,
    rss_mb_at_last: last.rss_mb,
    growth_mb: growth,
    num_tensors_at_first: tensorsAtFirst,
    num_tensors_at_last: last.num_tensors,
    num_tensors_min: Math.min(...tensors),
    num_tensors_max: Math.max(...tensors),
    ms_per_step: (seconds / o.steps) * 1e3,
    gc_exposed: typeof global.gc === 'function',
    series,
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  hvd.init();
  if (o.phases.includes('allreduce')) allreducePhase(o);
  if (o.phases.includes('allgather')) allreducePhase(o, 'allgather');
  if (o.phases.includes('train')) await trainPhase(o);
  hvd.shutdown();
}

main().catch((e) => {
  process.stderr.write(`memory_bench.js: ${(e && e.stack) || e}\n`);
  process.exit(1);
});
