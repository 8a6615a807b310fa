#!/usr/bin/env node
'use strict';
// hvd and the C baseline in the same processes, in alternating batches: the
// part of `npm run bench` that the issue-12 bandwidth and grouped targets
// are read from (run under mpirun; rank 0 prints one JSON object per line).
//
// Why: on the VM this bench was written on, shared memory and TCP between
// the two ranks run in one of two speeds, about 4x apart (C alone at 1 MiB:
// ~140 us or ~600 us), and the speed changes from launch to launch and
// sometimes inside one (README, Performance). Separate C and hvd launches
// then compare two draws; here every round of batches times each contestant
// once, seconds apart, in the same processes and on the same CPUs, and each
// round gives one ratio.
//
// Contestants, per size (--sizes, 1, 4, 16 and 64 MiB by default):
//   hvd:auto:sync    hvd.allreduceSync(x, {op:'sum', name})       x: a plain Float32Array
//   c:out            MPI_Allreduce, malloc send and receive buffers (bench/c/mpi_baseline.c)
//   hvd:auto:owned   hvd.allreduceSync(src, {op:'sum', name, out}) on hvd.alloc memory
//   c:out_huge       MPI_Allreduce, MADV_HUGEPAGE buffers
//   c:out_fresh      MPI_Allreduce from the malloc send buffer into a different huge-page
//                    buffer each call (32 MiB rotation): what a new result array per call costs
// and for the grouped target (--grouped-bytes in --grouped-count tensors):
//   hvd:auto:grouped hvd.groupedAllreduceSync(100 x 4 KiB)
//   c:grouped_one    one MPI_Allreduce of all 400 KiB (malloc buffers)
//
// Method: each contestant warms up and calibrates as in allreduce_hvd.js
// (bench/warmup.js: batches of 1, 2, 4, ... calls; hvd's also until its
// pool is warm and the algorithm settled), giving a batch length of
// target_s / batches calls. Then --batches rounds: in each, every contestant
// runs one batch after hvd.barrierSync(), timed on rank 0 with
// performance.now(); the order rotates from round to round, so each goes
// first equally often. A row per contestant carries the per-round µs per call
// (rounds_us, in round order) and their median; scripts/bench.js pairs the
// rounds. The C calls run on the JS thread under hvd's MPI_THREAD_MULTIPLE,
// while hvd's engine thread is idle (after the barrier).
//
// Usage: mpirun -np N node bench/interleaved.js [--sizes B,B,...] [--target-s 0.25]
//          [--batches 15] [--warmup-s 0.03] [--grouped-bytes 409600] [--grouped-count 100]
//          [--no-grouped]

const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');

const { parseCommandLine, numberOption, listOption } = require('../scripts/lib/common');
const { median, warmup } = require('./warmup');

const ROOT = path.resolve(__dirname, '..');
const hvd = require(path.join(ROOT, 'dist'));
const { calibrate, algorithmChoice } = warmup(hvd);

const MiB = 1024 * 1024;

/** The bench addon (CMakeLists.txt builds it next to hvd.node), or null. */
function loadBaseline() {
  for (const dir of ['build/Release', 'build/Debug', 'build']) {
    const file = path.join(ROOT, dir, 'hvd_bench_mpi.node');
    if (fs.existsSync(file)) return require(file);
  }
  return null;
}

function parseArgs(argv) {
  const o = { sizes: [MiB, 4 * MiB, 16 * MiB, 64 * MiB], targetS: 0.25, batches: 15, warmupS: 0.03, minWarmup: 2, groupedBytes: 409600, groupedCount: 100, grouped: true };
  const num = { 'target-s': 'targetS', batches: 'batches', 'warmup-s': 'warmupS', 'grouped-bytes': 'groupedBytes', 'grouped-count': 'groupedCount' };
  const options = { sizes: { type: 'string' }, 'no-grouped': { type: 'boolean' } };
  for (const k of Object.keys(num)) options[k] = { type: 'string' };
  const { values } = parseCommandLine(argv, options);
  for (const [k, field] of Object.entries(num)) if (values[k] !== undefined) o[field] = numberOption(k, values[k]);
  if (values.sizes !== undefined) o.sizes = listOption('sizes', [values.sizes]).map((b) => numberOption('sizes', b, (n) => Number.isInteger(n) && n >= 4 && n % 4 === 0, 'multiples of 4 bytes'));
  if (values['no-grouped']) o.grouped = false;
  if (!Number.isInteger(o.batches) || o.batches < 1) throw new Error('--batches: a positive integer');
  return o;
}

function emit(obj) {
  if (hvd.rank() === 0) process.stdout.write(JSON.stringify(obj) + '\n');
}

function checkSum(out, what) {
  const want = hvd.size();
  for (let i = 0; i < Math.min(out.length, 1024); i++) {
    if (out[i] !== want) throw new Error(`${what}: wrong allreduce result ${out[i]} at ${i} (want ${want})`);
  }
}

/** runBatch(k) for a synchronous step: seconds for k calls on this rank. */
const batchOf = (step) => async (k) => {
  const t0 = performance.now();
  for (let i = 0; i < k; i++) step();
  return (performance.now() - t0) / 1e3;
};

/** runBatch(k) for k C calls (one N-API call, so no per-call JS overhead is added to C). */
const C_KINDS = { out: 0, out_huge: 1, out_fresh: 2 };
const cBatchOf = (base, mode, bytes) => async (k) => {
  const t0 = performance.now();
  base.run(C_KINDS[mode], bytes, k);
  return (performance.now() - t0) / 1e3;
};

/**
 * Calibrates each contestant, then runs o.batches rounds, every contestant
 * once per round in rotating order. Emits one row per contestant.
 */
async function race(o, contestants, bytes) {
  for (const c of contestants) {
    const cal = await calibrate(c.runBatch, { warmupS: o.warmupS, minWarmup: o.minWarmup, pool: c.impl === 'hvd', bytes, fresh: Boolean(c.fresh) });
    c.warm = cal;
    const total = Math.max(o.batches, Math.floor(o.targetS / (cal.est > 0 ? cal.est : 1e-9)));
    c.batchLen = Math.max(1, Math.floor(total / o.batches));
    c.samples = [];
  }
  for (let j = 0; j < o.batches; j++) {
    for (let i = 0; i < contestants.length; i++) {
      const c = contestants[(i + j) % contestants.length];
      hvd.barrierSync({ name: 'bench.barrier' });
      c.samples.push(((await c.runBatch(c.batchLen)) / c.batchLen) * 1e6);
    }
  }
  for (const c of contestants) {
    // Rank 0's measured algorithm for an hvd contestant's class (as allreduce_hvd.js records it).
    const choice = c.impl === 'hvd' && c.row.kind === 'size' ? algorithmChoice(bytes, false, Boolean(c.fresh)) : undefined;
    emit({
      ...c.row,
      ...(choice ? { algorithm_choice: choice.algorithm, algorithm_us_per_mib: choice.usPerMiB } : {}),
      bytes,
      np: hvd.size(),
      inproc: true,
      warmup_iters: c.warm.warm,
      warmup_ms: +(c.warm.spent * 1e3).toFixed(1),
      ...(c.impl === 'hvd' ? { warmup_pool_misses: c.warm.poolMisses } : {}),
      batches: o.batches,
      batch_len: c.batchLen,
      iters: c.batchLen * o.batches,
      median_us: median([...c.samples].sort((a, b) => a - b)),
      rounds_us: c.samples.map((x) => +x.toFixed(3)),
    });
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  hvd.init();
  const np = hvd.size();
  const base = loadBaseline();
  if (!base) {
    emit({ impl: 'c', kind: 'info', inproc: true, skipped: 'build/Release/hvd_bench_mpi.node not built (npm run build:native)' });
    hvd.shutdown();
    return;
  }
  const maxBytes = Math.max(...o.sizes, o.grouped ? o.groupedBytes : 0);
  const info = base.init(maxBytes);
  emit({ impl: 'c', kind: 'info', inproc: true, np, thread_level: info.threadLevel, huge_buffer_kb: 0, huge_backed_kb: info.hugeBackedKb, target_s: o.targetS, batches: o.batches });

  const input = new Float32Array(maxBytes / 4).fill(1);
  for (const bytes of o.sizes) {
    const count = bytes / 4;
    const x = input.subarray(0, count);
    const src = hvd.alloc('float32', count).fill(1);
    const out = hvd.alloc('float32', count);
    const sync = `bench.sync.${bytes}`;
    const owned = `bench.owned.${bytes}`;
    checkSum(hvd.allreduceSync(x, { op: 'sum', name: sync }), 'sync');
    checkSum(hvd.allreduceSync(src, { op: 'sum', name: owned, out }), 'owned');
    await race(
      o,
      [
        { impl: 'hvd', fresh: true, row: { impl: 'hvd', kind: 'size', variant: 'sync', algorithm: 'auto' }, runBatch: batchOf(() => hvd.allreduceSync(x, { op: 'sum', name: sync })) },
        { impl: 'c', row: { impl: 'c', kind: 'size', mode: 'out' }, runBatch: cBatchOf(base, 'out', bytes) },
        { impl: 'hvd', row: { impl: 'hvd', kind: 'size', variant: 'owned', algorithm: 'auto' }, runBatch: batchOf(() => hvd.allreduceSync(src, { op: 'sum', name: owned, out })) },
        { impl: 'c', row: { impl: 'c', kind: 'size', mode: 'out_huge' }, runBatch: cBatchOf(base, 'out_huge', bytes) },
        { impl: 'c', row: { impl: 'c', kind: 'size', mode: 'out_fresh' }, runBatch: cBatchOf(base, 'out_fresh', bytes) },
      ],
      bytes,
    );
  }
  if (o.grouped) {
    const per = Math.floor(o.groupedBytes / o.groupedCount / 4);
    const bytes = per * 4 * o.groupedCount;
    const tensors = [];
    for (let i = 0; i < o.groupedCount; i++) tensors.push(input.subarray(i * per, (i + 1) * per));
    const outs = hvd.groupedAllreduceSync(tensors, { op: 'sum', name: 'bench.grouped' });
    checkSum(outs[0], 'grouped');
    checkSum(outs[outs.length - 1], 'grouped');
    await race(
      o,
      [
        { impl: 'hvd', row: { impl: 'hvd', kind: 'grouped', variant: 'grouped', algorithm: 'auto', count: o.groupedCount }, runBatch: batchOf(() => hvd.groupedAllreduceSync(tensors, { op: 'sum', name: 'bench.grouped' })) },
        { impl: 'c', row: { impl: 'c', kind: 'grouped_one', mode: 'out' }, runBatch: cBatchOf(base, 'out', bytes) },
      ],
      bytes,
    );
  }
  base.release();
  hvd.shutdown();
}

main().catch((e) => {
  process.stderr.write(`interleaved.js (rank ${process.env.OMPI_COMM_WORLD_RANK || '?'}): ${(e && e.stack) || e}\n`);
  process.exit(1);
});
