#!/usr/bin/env node
'use strict';
// Charts for `npm run bench`: vega-lite specs compiled and rendered to SVG
// headlessly in Node (vega.View(..., {renderer: 'none'}).toSVG()).
//
// vega and vega-lite are ESM-only, so they are loaded with import(). They are
// resolved from the project's node_modules first, then from each folder in
// HVD_BENCH_VEGA_PATH (colon-separated folders that hold node_modules/, or
// node_modules folders themselves), so a scratch install works too.
//
// Re-render from saved results:
//   node bench/render.js                        (bench/results/latest.json, memory-latest.json, train-latest.json)
//   node bench/render.js path/to/allreduce.json [--train path/to/train.json] [--out DIR]
//   node bench/render.js --markdown             key figures as Markdown (for bench/README.md)

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');
const { pathToFileURL } = require('url');

const ROOT = path.resolve(__dirname, '..');
const { parseCommandLine, UsageError } = require('../scripts/lib/common');

let loaded = null;

function resolveFrom(dir, name) {
  for (const base of [dir, path.join(dir, 'node_modules')]) {
    try {
      return createRequire(path.join(base, 'noop.js')).resolve(name);
    } catch {
      /* next */
    }
  }
  return null;
}

/** { vega, vegaLite } or throws an Error that says how to install them. */
async function loadVega() {
  if (loaded) return loaded;
  const dirs = [ROOT, ...(process.env.HVD_BENCH_VEGA_PATH || '').split(path.delimiter).filter(Boolean)];
  const errors = [];
  for (const dir of dirs) {
    const v = resolveFrom(dir, 'vega');
    const vl = resolveFrom(dir, 'vega-lite');
    if (!v || !vl) {
      errors.push(`${dir}: ${!v ? 'vega' : 'vega-lite'} not found`);
      continue;
    }
    try {
      const vega = await import(pathToFileURL(v).href);
      const vegaLite = await import(pathToFileURL(vl).href);
      loaded = { vega, vegaLite };
      return loaded;
    } catch (e) {
      errors.push(`${dir}: ${e.message.split('\n')[0]}`);
    }
  }
  throw new Error(
    `vega / vega-lite are not installed (${errors.join('; ')}). ` +
      'They are devDependencies: run "npm install" (or "npm install --no-save vega vega-lite"), or set HVD_BENCH_VEGA_PATH.',
  );
}

/** Compiles a vega-lite spec and renders it to an SVG string. */
async function renderSvg(vlSpec) {
  const { vega, vegaLite } = await loadVega();
  const compiled = vegaLite.compile(vlSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Warn });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const SIZE_TICKS = [4, 64, 1024, 16384, 262144, 4194304, 67108864];
const SIZE_LABEL =
  "datum.value >= 1048576 ? format(datum.value / 1048576, 'd') + ' MiB' : " +
  "datum.value >= 1024 ? format(datum.value / 1024, 'd') + ' KiB' : format(datum.value, 'd') + ' B'";

/** The allreduce series drawn in the chart, in legend order. */
const SERIES = [
  { key: 'c:out', label: 'C MPI_Allreduce, out of place (malloc)' },
  { key: 'c:inplace', label: 'C MPI_Allreduce, MPI_IN_PLACE (malloc)' },
  { key: 'c:out_huge', label: 'C MPI_Allreduce, out of place, huge pages' },
  { key: 'hvd:auto:sync', label: 'hvd allreduceSync (out of place)' },
  { key: 'hvd:auto:inplace', label: 'hvd allreduceSync inPlace' },
  { key: 'hvd:auto:owned', label: 'hvd on its own memory (hvd.alloc + out)' },
];

/** "a b c before, x y z after" from a result's loadavg (or its machine's start/end). */
function loadText(result) {
  const l = result.loadavg || {};
  const m = result.machine || {};
  const before = l.before || m.loadavg_start;
  const after = l.after || m.loadavg_end;
  return `${before ? before.join(' ') : '?'} before, ${after ? after.join(' ') : '?'} after`;
}

/** vega-lite spec: busbw and latency against size, log-log, one column per configuration. */
function allreduceSpec(result) {
  const values = [];
  for (const cfg of result.configs || []) {
    for (const s of SERIES) {
      const rows = (cfg.series && cfg.series[s.key]) || [];
      for (const r of rows) {
        if (!(r.median_us > 0)) continue;
        values.push({ config: cfg.label, series: s.label, bytes: r.bytes, latency_us: r.median_us, busbw_gbs: r.busbw_gbs });
      }
    }
  }
  const configs = (result.configs || []).map((c) => c.label);
  const x = {
    field: 'bytes',
    type: 'quantitative',
    title: 'message size',
    scale: { type: 'log', base: 2 },
    axis: { values: SIZE_TICKS, labelExpr: SIZE_LABEL, labelAngle: -40 },
  };
  const color = { field: 'series', type: 'nominal', title: null, sort: SERIES.map((s) => s.label), legend: { orient: 'bottom', columns: 2, labelLimit: 300 } };
  const strokeDash = { condition: { test: "indexof(datum.series, 'C ') === 0", value: [5, 3] }, value: [1, 0] };
  const panel = (field, title) => ({
    facet: { column: { field: 'config', type: 'nominal', title: null, sort: configs } },
    spec: {
      width: 300,
      height: 220,
      mark: { type: 'line', point: { size: 22 }, strokeWidth: 1.5 },
      encoding: {
        x,
        y: { field, type: 'quantitative', title, scale: { type: 'log' } },
        color,
        strokeDash,
        tooltip: [{ field: 'series' }, { field: 'bytes' }, { field, format: '.4g' }],
      },
    },
  });
  const machine = result.machine || {};
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'hvd allreduce vs C MPI_Allreduce (float32 sum, medians)',
      subtitle: [
        `${machine.cpu || ''}, ${machine.cores || '?'} cores, ${machine.mpi || ''}, node ${machine.node || ''} — ${result.date || ''}`,
        `load average ${loadText(result)}${result.quick ? ' (--quick)' : ''}`,
      ],
    },
    data: { values },
    vconcat: [panel('busbw_gbs', 'busbw (GB/s)'), panel('latency_us', 'latency (µs)')],
    resolve: { scale: { color: 'shared' } },
    config: { font: 'sans-serif', view: { stroke: '#ccc' } },
  };
}

/** vega-lite spec: images/s per run, with the linear-scaling ideal (N × hvd np=1). */
function trainSpec(train) {
  const rows = (train.summary || []).filter((r) => r.images_per_s > 0);
  const base = rows.find((r) => r.mode === 'hvd' && r.np === 1);
  const values = rows.map((r) => ({
    run: r.label,
    images_per_s: r.images_per_s,
    ideal: base && r.mode === 'hvd' ? base.images_per_s * r.np : null,
  }));
  const order = values.map((v) => v.run);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'MNIST MLP 784-256-128-10, batch 64/rank, Adam, tfjs wasm: images/s',
      subtitle: `median of ${train.rounds || '?'} rounds; ticks: linear scaling from hvd np=1 (${train.machine ? train.machine.cores : '?'} cores: np=4 is oversubscribed)`,
    },
    data: { values },
    width: 420,
    height: 260,
    layer: [
      {
        mark: { type: 'bar', color: '#4c78a8' },
        encoding: {
          x: { field: 'run', type: 'nominal', sort: order, title: null, axis: { labelAngle: 0 } },
          y: { field: 'images_per_s', type: 'quantitative', title: 'images/s (all ranks)' },
        },
      },
      {
        mark: { type: 'text', dy: -6 },
        encoding: {
          x: { field: 'run', type: 'nominal', sort: order },
          y: { field: 'images_per_s', type: 'quantitative' },
          text: { field: 'images_per_s', type: 'quantitative', format: '.0f' },
        },
      },
      {
        transform: [{ filter: 'datum.ideal != null' }],
        mark: { type: 'tick', color: '#e45756', thickness: 2, size: 40 },
        encoding: {
          x: { field: 'run', type: 'nominal', sort: order },
          y: { field: 'ideal', type: 'quantitative' },
        },
      },
    ],
    config: { font: 'sans-serif' },
  };
}

/** vega-lite spec: RSS over the allreduce loop and RSS / numTensors over training. */
function memorySpec(memory) {
  const a = (memory.allreduce && memory.allreduce.series) || [];
  const tag = (rows, who) => (rows || []).map((r) => ({ ...r, optimizer: who }));
  const t = [
    ...tag(memory.train && memory.train.series, 'hvd.DistributedOptimizer'),
    ...tag(memory.train_plain && memory.train_plain.series, 'plain tfjs adam (no hvd)'),
  ];
  const color = { field: 'optimizer', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 300 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'memory: RSS (rank 0) over 1 MiB allreduces and training steps (np=2)', subtitle: 'squares: after a full GC (the checkpoints compared); RSS includes the V8 heap, tfjs wasm memory and MPI buffers' },
    hconcat: [
      {
        data: { values: a },
        width: 300,
        height: 200,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'iter', type: 'quantitative', title: 'allreduceSync calls (1 MiB)' },
          y: { field: 'rss_mb', type: 'quantitative', title: 'RSS (MB)', scale: { zero: false } },
          shape: { field: 'gc', type: 'nominal', title: 'after GC' },
        },
      },
      {
        data: { values: t },
        width: 300,
        height: 200,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'training steps' },
          y: { field: 'rss_mb', type: 'quantitative', title: 'RSS (MB)', scale: { zero: false } },
          shape: { field: 'gc', type: 'nominal', title: 'after GC' },
          color,
        },
      },
      {
        data: { values: t },
        width: 300,
        height: 200,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'training steps' },
          y: { field: 'num_tensors', type: 'quantitative', title: 'tf.memory().numTensors' },
          color,
        },
      },
    ],
    config: { font: 'sans-serif' },
  };
}

/**
 * Writes `name` (SVG) under outDir from a vega-lite spec. Returns the path,
 * or null (with a warning) when vega is not available or rendering fails.
 */
async function writeChart(spec, outDir, name, log = console.log) {
  try {
    const svg = await renderSvg(spec);
    const file = path.join(outDir, name);
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(file, svg);
    return file;
  } catch (e) {
    log(`chart ${name} not written: ${e.message}`);
    return null;
  }
}

function fmt(x, kind) {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  if (kind === 'us') return x < 10 ? x.toFixed(2) : x < 1000 ? x.toFixed(1) : x.toFixed(0);
  if (kind === 'bw') return x >= 0.01 ? x.toPrecision(3) : x.toExponential(1);
  return String(x);
}

function sizeName(b) {
  if (b >= 1048576) return `${b / 1048576} MiB`;
  if (b >= 1024) return `${b / 1024} KiB`;
  return `${b} B`;
}

/** Markdown tables of the key figures (for bench/README.md "Latest figures"). */
function markdownSummary(allreduce, memory, train) {
  const out = [];
  if (allreduce) {
    const m = allreduce.machine || {};
    out.push(
      `Run ${String(allreduce.date || '').slice(0, 10)}${allreduce.quick ? ' (--quick)' : ''}: ${m.cpu}, ${m.cores} cores, ${m.os}, kernel ${m.kernel}, ` +
        `node ${m.node}, ${m.mpi}, hvd ${m.hvd_commit || '?'}; load average ${loadText(allreduce)}. ` +
        `Medians of ${allreduce.rounds} rounds; µs = latency per call, GB/s = busbw.`,
      '',
    );
    const pick = [4, 1024, 4096, 65536, 1048576, 4194304, 16777216, 67108864];
    for (const cfg of allreduce.configs) {
      const get = (key, b) => ((cfg.series[key] || []).find((r) => r.bytes === b) || {});
      out.push(`**${cfg.label}** (\`${['mpirun', ...cfg.mpirun_args].join(' ')}\`)`, '');
      out.push('| size | C out µs | hvd sync µs | C out GB/s | C huge out GB/s | C fresh out GB/s | hvd sync GB/s | C in-place GB/s | hvd inPlace GB/s | hvd own memory GB/s |');
      out.push('|---|---|---|---|---|---|---|---|---|---|');
      for (const b of pick) {
        if (!get('c:out', b).bytes && !get('hvd:auto:sync', b).bytes) continue;
        out.push(
          `| ${sizeName(b)} | ${fmt(get('c:out', b).median_us, 'us')} | ${fmt(get('hvd:auto:sync', b).median_us, 'us')} | ${fmt(get('c:out', b).busbw_gbs, 'bw')} | ` +
            `${fmt(get('c:out_huge', b).busbw_gbs, 'bw')} | ${fmt(get('c:out_fresh', b).busbw_gbs, 'bw')} | ${fmt(get('hvd:auto:sync', b).busbw_gbs, 'bw')} | ${fmt(get('c:inplace', b).busbw_gbs, 'bw')} | ` +
            `${fmt(get('hvd:auto:inplace', b).busbw_gbs, 'bw')} | ${fmt(get('hvd:auto:owned', b).busbw_gbs, 'bw')} |`,
        );
      }
      const g = get('hvd:auto:grouped', 409600);
      const gc = get('c:grouped_one', 409600);
      out.push('', `grouped 100 × 4 KiB: hvd ${fmt(g.median_us, 'us')} µs; one 400 KiB C allreduce ${fmt(gc.median_us, 'us')} µs.`, '');
    }
  }
  const targets = [...((allreduce && allreduce.targets) || []), ...((memory && memory.targets) || [])];
  if (targets.length) {
    out.push('Targets (reported, not asserted):', '');
    for (const t of targets) out.push(`- **${t.status}** ${t.text}: ${t.detail}`);
    const parts = (allreduce && allreduce.machine && allreduce.machine.loadavg_parts) || [];
    if (parts.length) out.push('', `Load average before → after each part: ${parts.map((l) => `${l.part} ${l.before[0]} → ${l.after[0]}`).join(', ')}.`);
    out.push('');
  }
  if (train && train.summary) {
    out.push(`Training (${train.model}, batch ${train.batch_per_rank}/rank, ${train.steps} steps, median of ${train.rounds} rounds${train.quick ? ', --quick' : ''}):`, '');
    out.push('| run | images/s | ms/step |', '|---|---|---|');
    for (const r of train.summary) out.push(`| ${r.label} | ${r.images_per_s ? r.images_per_s.toFixed(0) : 'n/a'} | ${r.step_ms ? r.step_ms.toFixed(1) : 'n/a'} |`);
    const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : 'n/a');
    out.push('', `DistributedOptimizer overhead at np=1: ${pct(train.overhead_np1)}; weak-scaling efficiency: ` +
      Object.entries(train.efficiency || {}).map(([k, v]) => `${k} ${pct(v)}`).join(', ') + ' (np=4 is oversubscribed on 2 cores).', '');
  }
  return out.join('\n');
}

module.exports = { loadVega, renderSvg, allreduceSpec, trainSpec, memorySpec, writeChart, markdownSummary };

async function main(argv) {
  const results = path.join(__dirname, 'results');
  const { values, positionals } = parseCommandLine(
    argv,
    { markdown: { type: 'boolean' }, train: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    { positionals: true },
  );
  if (values.help) {
    console.log('usage: node bench/render.js [ALLREDUCE_JSON] [--train TRAIN_JSON] [--out DIR] [--markdown]');
    return;
  }
  if (positionals.length > 1) throw new UsageError(`one allreduce results file at most, got ${positionals.join(' ')}`);
  const allreduce = positionals[0] || path.join(results, 'latest.json');
  const train = values.train || path.join(results, 'train-latest.json');
  const out = values.out || results;
  const markdown = Boolean(values.markdown);
  if (markdown) {
    const read = (f) => (fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null);
    console.log(markdownSummary(read(allreduce), read(path.join(path.dirname(allreduce), 'memory-latest.json')), read(train)));
    return;
  }
  if (fs.existsSync(allreduce)) {
    const r = JSON.parse(fs.readFileSync(allreduce, 'utf8'));
    if (r.configs && r.configs.length) console.log(await writeChart(allreduceSpec(r), out, 'allreduce.svg'));
  }
  const mem = path.join(path.dirname(allreduce), 'memory-latest.json');
  if (fs.existsSync(mem)) {
    console.log(await writeChart(memorySpec(JSON.parse(fs.readFileSync(mem, 'utf8'))), out, 'memory.svg'));
  }
  if (fs.existsSync(train)) {
    const t = JSON.parse(fs.readFileSync(train, 'utf8'));
    console.log(await writeChart(trainSpec(t), out, 'train.svg'));
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e instanceof UsageError ? `render.js: ${e.message}` : e);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
