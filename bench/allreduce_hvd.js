#!/usr/bin/env node
'use strict';
// hvd side of `npm run bench` (run under mpirun; rank 0 prints one JSON
// object per line). The same sizes and the same timing method as
// bench/c/allreduce_bench.c, so each row compares with the C baseline:
//
//   variant  call                                          compare with
//   sync     hvd.allreduceSync(x, {op:'sum', name})        C out of place
//   async    await hvd.allreduce(x, {op:'sum', name})      C out of place
//   inplace  hvd.allreduceSync(x, {op:'sum', inPlace:true}) C in place (MPI_IN_PLACE)
//   owned    hvd.allreduceSync(x, {op:'sum', name, out})   C out of place, plain and huge pages
//            with x and out from hvd.alloc('float32', n): hvd's own (huge-page) memory
//   grouped  hvd.groupedAllreduceSync(100 × 4 KiB)         C one 400 KiB allreduce
//
// A build without hvd.alloc gets a {"skipped": ...} row for owned.
// Method (as in the C program): warm-up in batches of 1, 2, 4, ... calls
// until --warmup-s has passed; rank 0's time of the last batch (broadcast, so
// every rank makes the same number of calls) sets the count: target_s /
// estimate calls, at least --min-iters (300 for grouped), split into up to --batches batches.
// Each batch starts after hvd.barrierSync() and is timed on rank 0 with
// performance.now(); batch time / batch length is one sample; the median of
// the samples is reported. Names are fixed per size (as a training loop's
// gradient names are), so the engine's response cache is in play.
//
// Sizes up to 4 KiB of the Sync variants are then also timed one call at a
// time (--per-call calls, 5000 by default, 0: off): the gap between
// consecutive calls on rank 0, reported as percall_p50_us and
// percall_p99_us. The batch means include the VM's preemptions; these show
// a call's median without them. bench/c/allreduce_bench.c does the same.
//
// engineStats() is read around the timed batches; the per-call deltas
// (fusion copy bytes, responses, negotiation lists, ring allreduces) show
// copies and the algorithm actually used.
//
// An option the library rejects (e.g. inPlace on an older build) produces a
// {"error": ...} row for that variant instead of a crash.
//
// Usage: mpirun -np N node bench/allreduce_hvd.js [--variants sync,async,inplace,grouped]
//          [--min-bytes 4] [--max-bytes 67108864] [--factor 4] [--sizes B,B,...] [--target-s 0.25]
//          [--warmup-s 0.03] [--batches 15] [--min-iters 5]
//          [--grouped-bytes 409600] [--grouped-count 100] [--per-call 5000]

const path = require('path');
const { performance } = require('perf_hooks');

const { parseCommandLine, numberOption, listOption } = require('../scripts/lib/common');
const { median, warmup } = require('./warmup');

const hvd = require(path.resolve(__dirname, '..', 'dist'));

const VARIANTS = ['sync', 'async', 'inplace', 'owned', 'grouped'];
const GROUPED_MIN_ITERS = 300;

function parseArgs(argv) {
  const o = {
    variants: ['sync', 'async', 'inplace', 'grouped'],
    sizes: null,
    minBytes: 4,
    maxBytes: 64 * 1024 * 1024,
    factor: 4,
    targetS: 0.25,
    warmupS: 0.03,
    batches: 15,
    minWarmup: 2,
    minIters: 5,
    maxIters: 1 << 24,
    groupedBytes: 409600,
    groupedCount: 100,
    perCall: 5000,
  };
  const num = { 'min-bytes': 'minBytes', 'max-bytes': 'maxBytes', factor: 'factor', 'target-s': 'targetS', 'warmup-s': 'warmupS',
    batches: 'batches', 'min-iters': 'minIters', 'grouped-bytes': 'groupedBytes', 'grouped-count': 'groupedCount', 'per-call': 'perCall' };
  const options = { variants: { type: 'string' }, sizes: { type: 'string' } };
  for (const k of Object.keys(num)) options[k] = { type: 'string' };
  const { values } = parseCommandLine(argv, options);
  for (const [k, field] of Object.entries(num)) {
    if (values[k] === undefined) continue;
    // --per-call 0 turns the per-call timing off (the header's usage).
    o[field] = k === 'per-call' ? numberOption(k, values[k], (n) => Number.isInteger(n) && n >= 0, 'a whole number (0: off)') : numberOption(k, values[k]);
  }
  if (values.variants !== undefined) o.variants = listOption('variants', [values.variants], VARIANTS);
  if (values.sizes !== undefined) o.sizes = listOption('sizes', [values.sizes]).map((b) => numberOption('sizes', b, (n) => Number.isInteger(n) && n >= 4 && n % 4 === 0, 'multiples of 4 bytes'));
  if (!o.sizes) {
    o.sizes = [];
    for (let b = o.minBytes; b <= o.maxBytes; b *= o.factor) o.sizes.push(b);
  }
  return o;
}

function emit(obj) {
  if (hvd.rank() === 0) process.stdout.write(JSON.stringify(obj) + '\n');
}

const { fromRoot, poolMisses, algorithmChoice, calibrate } = warmup(hvd);

const STAT_KEYS = ['responses', 'tensors', 'fusedResponses', 'fusionCopyBytes', 'allreduceBytes', 'negotiationLists', 'ringAllreduces', 'poolMisses', 'poolFallbacks'];

function statsDelta(before, after, calls) {
  const out = {};
  for (const k of STAT_KEYS) {
    if (typeof after[k] !== 'number' || typeof before[k] !== 'number') continue;
    out[k] = (after[k] - before[k]) / calls;
  }
  return out;
}

const PER_CALL_MAX_BYTES = 4096;

/** Sync calls of up to 4 KiB, timed one by one (see the top): p50 and p99 in µs on rank 0. */
function perCall(o, step) {
  const n = o.perCall;
  const t = new Float64Array(n);
  hvd.barrierSync({ name: 'bench.barrier' });
  let prev = performance.now();
  for (let i = 0; i < n; i++) {
    step();
    const now = performance.now();
    t[i] = (now - prev) * 1e3;
    prev = now;
  }
  t.sort();
  return { percall_n: n, percall_p50_us: t[n >> 1], percall_p99_us: t[Math.floor(0.99 * (n - 1))] };
}

/**
 * Times `step` (sync or async) as described at the top; `calls` = the number
 * of step() calls. Returns the row (without identification fields); `bytes` up to
 * PER_CALL_MAX_BYTES of a Sync step also get the per-call figures.
 */
async function measure(o, step, isAsync, bytes, inPlace = false, fresh = false) {
  const runBatch = isAsync
    ? async (k) => {
        const t0 = performance.now();
        for (let i = 0; i < k; i++) await step();
        return (performance.now() - t0) / 1e3;
      }
    : async (k) => {
        const t0 = performance.now();
        for (let i = 0; i < k; i++) step();
        return (performance.now() - t0) / 1e3;
      };
  const { est, spent, warm, poolMisses: warmMisses } = await calibrate(runBatch, { warmupS: o.warmupS, minWarmup: o.minWarmup, bytes, inPlace, fresh });
  let total = Math.floor(o.targetS / (est > 0 ? est : 1e-9));
  total = Math.min(o.maxIters, Math.max(o.minIters, total));
  const nb = Math.min(total, o.batches);
  const b = Math.max(1, Math.floor(total / nb));
  const samples = [];
  for (let j = 0; j < nb; j++) {
    hvd.barrierSync({ name: 'bench.barrier' });
    samples.push(((await runBatch(b)) / b) * 1e6);
  }
  // Engine counters per call, over a separate run with no barrier inside.
  const k = Math.min(b * nb, 50);
  hvd.barrierSync({ name: 'bench.barrier' });
  const before = hvd.engineStats();
  await runBatch(k);
  const stats = statsDelta(before, hvd.engineStats(), k);
  const sum = samples.reduce((s, x) => s + x, 0);
  samples.sort((x, y) => x - y);
  const pc = !isAsync && o.perCall > 0 && bytes <= PER_CALL_MAX_BYTES ? perCall(o, step) : {};
  const choice = algorithmChoice(bytes, inPlace, fresh);
  return {
    ...pc,
    ...(choice ? { algorithm_choice: choice.algorithm, algorithm_us_per_mib: choice.usPerMiB } : {}),
    warmup_iters: warm,
    warmup_ms: +(spent * 1e3).toFixed(1),
    warmup_pool_misses: warmMisses,
    iters: b * nb,
    batches: nb,
    batch_len: b,
    median_us: median(samples),
    min_us: samples[0],
    max_us: samples[samples.length - 1],
    mean_us: sum / nb,
    stats,
  };
}

function checkSum(out, n, what) {
  const want = hvd.size();
  for (let i = 0; i < Math.min(out.length, n); i++) {
    if (out[i] !== want) throw new Error(`${what}: wrong allreduce result ${out[i]} at ${i} (want ${want})`);
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  hvd.init();
  const np = hvd.size();
  // HVD_BENCH_LABEL names a run that differs by environment only (handoff: HVD_INLINE_SYNC=0).
  const algorithm = process.env.HVD_BENCH_LABEL || process.env.HVD_ALLREDUCE_ALGORITHM || 'auto';
  emit({ impl: 'hvd', kind: 'info', np, algorithm, variants: o.variants, node: process.version, target_s: o.targetS, batches: o.batches });

  const sizeVariants = o.variants.filter((v) => v !== 'grouped');
  const rejected = new Set();
  const maxCount = Math.max(...o.sizes, o.groupedBytes) / 4;
  const input = new Float32Array(maxCount).fill(1);
  const inplaceBuf = new Float32Array(maxCount);
  if (sizeVariants.includes('owned') && typeof hvd.alloc !== 'function') {
    emit({ impl: 'hvd', kind: 'size', variant: 'owned', algorithm, np, skipped: 'hvd.alloc not in this build' });
    rejected.add('owned');
  }

  for (const bytes of sizeVariants.length ? o.sizes : []) {
    const count = bytes / 4;
    const x = input.subarray(0, count);
    for (const variant of sizeVariants) {
      if (rejected.has(variant)) continue;
      const name = `bench.${variant}.${bytes}`;
      const row = { impl: 'hvd', kind: 'size', variant, algorithm, bytes, np };
      let step;
      let isAsync = false;
      try {
        if (variant === 'sync') {
          checkSum(hvd.allreduceSync(x, { op: 'sum', name }), 1024, variant);
          step = () => hvd.allreduceSync(x, { op: 'sum', name });
        } else if (variant === 'async') {
          checkSum(await hvd.allreduce(x, { op: 'sum', name }), 1024, variant);
          step = () => hvd.allreduce(x, { op: 'sum', name });
          isAsync = true;
        } else if (variant === 'inplace') {
          const y = inplaceBuf.subarray(0, count);
          y.fill(1);
          const r = hvd.allreduceSync(y, { op: 'sum', name, inPlace: true });
          if (r !== y && !(r && r.buffer === y.buffer && r.byteOffset === y.byteOffset)) {
            throw new Error('inPlace: the result is not the input array (option ignored?)');
          }
          checkSum(y, 1024, variant);
          y.fill(0); // zeros: repeated in-place sums stay finite
          step = () => hvd.allreduceSync(y, { op: 'sum', name, inPlace: true });
        } else if (variant === 'owned') {
          // Inputs and outputs on hvd's own memory, allocated once per size as
          // a training loop would allocate its staging buffers.
          const src = hvd.alloc('float32', count);
          const out = hvd.alloc('float32', count);
          src.fill(1);
          const r = hvd.allreduceSync(src, { op: 'sum', name, out });
          if (r !== out && !(r && r.buffer === out.buffer && r.byteOffset === out.byteOffset)) {
            throw new Error('out: the result is not the out array (option ignored?)');
          }
          checkSum(out, 1024, variant);
          step = () => hvd.allreduceSync(src, { op: 'sum', name, out });
        } else {
          throw new Error(`unknown variant ${variant}`);
        }
      } catch (e) {
        // Every rank takes the same branch (same build, same options).
        rejected.add(variant);
        emit({ ...row, error: String((e && e.message) || e).split('\n')[0] });
        continue;
      }
      // sync and async return a new result per call: a class of the tuner's own (freshOutput).
      emit({ ...row, ...(await measure(o, step, isAsync, bytes, variant === 'inplace', variant === 'sync' || variant === 'async')) });
    }
  }

  if (o.variants.includes('grouped')) {
    const per = Math.floor(o.groupedBytes / o.groupedCount / 4);
    const tensors = [];
    for (let i = 0; i < o.groupedCount; i++) tensors.push(input.subarray(i * per, (i + 1) * per));
    const row = { impl: 'hvd', kind: 'grouped', variant: 'grouped', algorithm, bytes: per * 4 * o.groupedCount, count: o.groupedCount, np };
    try {
      const outs = hvd.groupedAllreduceSync(tensors, { op: 'sum', name: 'bench.grouped' });
      checkSum(outs[0], 1024, 'grouped');
      checkSum(outs[outs.length - 1], 1024, 'grouped');
      // At least GROUPED_MIN_ITERS calls: the warm-up's estimate for this
      // variant is often inflated by its first calls and by the multi-ms
      // stalls of a 2-core host (README, Where the time goes), which left 60
      // calls in batches of 4 and a median that swung 3x between rounds. The
      // C reference runs thousands of calls at the same target time anyway.
      emit({ ...row, ...(await measure({ ...o, minIters: Math.max(o.minIters, GROUPED_MIN_ITERS) }, () => hvd.groupedAllreduceSync(tensors, { op: 'sum', name: 'bench.grouped' }), false)) });
    } catch (e) {
      emit({ ...row, error: String((e && e.message) || e).split('\n')[0] });
    }
  }

  hvd.shutdown();
}

main().catch((e) => {
  process.stderr.write(`allreduce_hvd.js (rank ${process.env.OMPI_COMM_WORLD_RANK || '?'}): ${(e && e.stack) || e}\n`);
  process.exit(1);
});
