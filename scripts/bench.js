#!/usr/bin/env node
'use strict';
// `npm run bench`: sets the machine up (like `npm test`), then benchmarks
// hvd's allreduce against a C MPI_Allreduce baseline, checks memory
// stability, and (`--train`, `npm run bench:train`) training throughput.
// See bench/README.md for the method and what each number means.
//
//   node scripts/bench.js                 allreduce (shm, tcp, np4; 3 rounds) + memory
//   node scripts/bench.js --quick         fewer sizes (×16 steps), 0.1 s per point, 200 memory steps
//   node scripts/bench.js --config shm    only these configurations (shm|tcp|np4, repeatable/comma)
//   node scripts/bench.js --train         training throughput only (npm run bench:train): the wasm
//                                         MLP at np=1/2/4, then (when tfjs-node loads) the MLP and
//                                         the convnet on tfjs-node vs wasm vs cpu and np=2 scaling
//   node scripts/bench.js --train-node    only the tfjs-node part of --train
//   node scripts/bench.js --memory        memory run only
//   node scripts/bench.js --all           allreduce + memory + train
// More: --rounds N, --target-s S (time per size and variant), --no-memory,
//       --skip-setup (or HVD_BENCH_SKIP_SETUP=1), --no-write (print only).
//
// Results: bench/results/latest.json (+ allreduce-<date>.json), allreduce.svg,
// memory-latest.json, memory.svg, train-latest.json, train.svg, train-node-latest.json.

const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const BENCH = path.join(ROOT, 'bench');
const RESULTS = path.join(BENCH, 'results');
const TAG = '[hvd bench]';
const C_SOURCE = path.join(BENCH, 'c', 'allreduce_bench.c');

const CONFIGS = {
  shm: { label: 'shm np=2', np: 2, mpi: [], desc: 'mpirun -np 2 --bind-to none (shared memory: btl vader)' },
  tcp: {
    label: 'tcp np=2',
    np: 2,
    mpi: ['--mca', 'btl', 'tcp,self', '--mca', 'btl_tcp_if_include', 'lo', '--mca', 'oob_tcp_if_include', 'lo'],
    desc: 'mpirun -np 2 --bind-to none --mca btl tcp,self (TCP over loopback)',
  },
  np4: { label: 'shm np=4', np: 4, mpi: ['--oversubscribe'], desc: 'mpirun -np 4 --bind-to none --oversubscribe (4 ranks on the cores available)' },
};

/** hvd runs per round: the default algorithm with every variant, then ring and mpi forced. */
const HVD_RUNS = [
  { algorithm: 'auto', variants: 'sync,async,inplace,grouped' },
  { algorithm: 'ring', variants: 'sync,inplace' },
  { algorithm: 'mpi', variants: 'sync,inplace' },
];

/** Table rows: each hvd variant against its C counterpart. */
const COMPARISONS = [
  { key: 'hvd:auto:sync', label: 'allreduceSync', c: 'c:out' },
  { key: 'hvd:auto:async', label: 'await allreduce', c: 'c:out' },
  { key: 'hvd:auto:inplace', label: 'inPlace', c: 'c:inplace' },
  { key: 'hvd:ring:sync', label: 'ring sync', c: 'c:out' },
  { key: 'hvd:ring:inplace', label: 'ring inPlace', c: 'c:inplace' },
  { key: 'hvd:mpi:sync', label: 'mpi sync', c: 'c:out' },
  { key: 'hvd:mpi:inplace', label: 'mpi inPlace', c: 'c:inplace' },
];

const KiB = 1024;
const MiB = 1024 * 1024;

function log(msg) {
  console.log(`${TAG} ${msg}`);
}

function usage() {
  return [
    'usage: node scripts/bench.js [--quick] [--config shm|tcp|np4] [--rounds N] [--target-s S]',
    '                             [--train] [--memory] [--all] [--no-memory] [--skip-setup] [--no-write]',
    '  default: allreduce benchmark (shm, tcp, np4) + memory run, ~8 min on 2 cores; --quick: ~4 min; --train: ~3 min',
  ].join('\n');
}

function parseArgs(argv) {
  const o = { quick: false, configs: [], rounds: null, targetS: null, parts: new Set(), noMemory: false, skipSetup: false, write: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (a.includes('=')) return a.slice(a.indexOf('=') + 1);
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--config' || a.startsWith('--config=')) o.configs.push(...value().split(',').filter(Boolean));
    else if (a === '--rounds' || a.startsWith('--rounds=')) o.rounds = Number(value());
    else if (a === '--target-s' || a.startsWith('--target-s=')) o.targetS = Number(value());
    else if (a === '--train') ['train', 'train-node'].forEach((p) => o.parts.add(p));
    else if (a === '--train-node') o.parts.add('train-node');
    else if (a === '--memory') o.parts.add('memory');
    else if (a === '--allreduce') o.parts.add('allreduce');
    else if (a === '--all') ['allreduce', 'memory', 'train', 'train-node'].forEach((p) => o.parts.add(p));
    else if (a === '--no-memory') o.noMemory = true;
    else if (a === '--skip-setup') o.skipSetup = true;
    else if (a === '--no-write') o.write = false;
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown argument: ${a}\n${usage()}`);
  }
  for (const c of o.configs) if (!CONFIGS[c]) throw new Error(`--config: unknown configuration "${c}" (use shm|tcp|np4)`);
  if (!o.configs.length) o.configs = Object.keys(CONFIGS);
  if (!o.parts.size) {
    o.parts.add('allreduce');
    o.parts.add('memory');
  }
  if (o.noMemory) o.parts.delete('memory');
  if (o.rounds === null) o.rounds = 3; // 3 even with --quick: a median of 2 is their mean
  if (o.targetS === null) o.targetS = o.quick ? 0.1 : 0.25;
  if (!(o.rounds >= 1) || !(o.targetS > 0)) throw new Error('--rounds and --target-s must be positive');
  if (process.env.HVD_BENCH_SKIP_SETUP === '1') o.skipSetup = true;
  return o;
}

// ---------------------------------------------------------------------------
// processes
// ---------------------------------------------------------------------------

// `which` lives in setup.js, which must not depend on node_modules.
const { which } = require('./setup');

function childEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(OMPI_COMM_WORLD_|OMPI_MCA_orte_|PMIX_|PMI_)/.test(k)) delete env[k];
  }
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    env.OMPI_ALLOW_RUN_AS_ROOT = '1';
    env.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = '1';
  }
  return { ...env, ...extra };
}

/**
 * Runs argv (its own process group; killed whole on timeout). Resolves with
 * { code, signal, stdout, stderr, rows (parsed JSON lines), seconds, timedOut }.
 */
function runProcess(argv, { env, timeoutS = 600 } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = childProcess.spawn(argv[0], argv.slice(1), { cwd: ROOT, env: env || childEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutS * 1000);
    const done = (code, signal, error) => {
      clearTimeout(timer);
      const rows = [];
      for (const line of stdout.split('\n')) {
        const s = line.trim();
        if (!s.startsWith('{')) continue;
        try {
          rows.push(JSON.parse(s));
        } catch {
          /* not ours */
        }
      }
      resolve({ code, signal, error, stdout, stderr, rows, seconds: (Date.now() - t0) / 1000, timedOut });
    };
    child.on('error', (e) => done(null, null, e));
    child.on('close', (code, signal) => done(code, signal, null));
  });
}

function mpirunArgv(np, extraMpi, command, envNames = []) {
  const mpirun = which('mpirun') || which('mpiexec') || 'mpirun';
  const x = [];
  for (const n of envNames) x.push('-x', n);
  return [mpirun, '-np', String(np), '--bind-to', 'none', ...extraMpi, ...x, ...command];
}

function failureText(r) {
  if (r.timedOut) return `timed out after ${r.seconds.toFixed(0)} s`;
  if (r.error) return r.error.message;
  const tail = (r.stderr || '').trim().split('\n').slice(-6).join('\n      ');
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${tail ? `:\n      ${tail}` : ''}`;
}

// ---------------------------------------------------------------------------
// setup
// ---------------------------------------------------------------------------

function setupMachine(o) {
  if (o.skipSetup) {
    log('setup skipped (--skip-setup / HVD_BENCH_SKIP_SETUP=1)');
    return;
  }
  const setup = require('./setup');
  try {
    setup.ensureSystemDeps();
    setup.ensureBuilt({ quiet: true });
  } catch (e) {
    if (e && e.name === 'SetupError') {
      console.error(`${TAG} ERROR: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
}

/** The C baseline binary: cmake's build if it is up to date, else built here with mpicc. */
function cBenchBinary() {
  const srcTime = fs.statSync(C_SOURCE).mtimeMs;
  const candidates = [path.join(ROOT, 'build', 'Release', 'allreduce_bench'), path.join(ROOT, 'build', 'allreduce_bench')];
  for (const c of candidates) {
    try {
      if (fs.statSync(c).mtimeMs >= srcTime) return c;
    } catch {
      /* absent */
    }
  }
  const out = path.join(ROOT, 'build', 'bench', 'allreduce_bench');
  try {
    if (fs.statSync(out).mtimeMs >= srcTime) return out;
  } catch {
    /* absent */
  }
  const mpicc = which('mpicc');
  if (!mpicc) throw new Error('mpicc not found: cannot build bench/c/allreduce_bench.c (run node scripts/setup.js)');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  log(`building the C baseline: mpicc -O2 -o ${path.relative(ROOT, out)} bench/c/allreduce_bench.c`);
  const r = childProcess.spawnSync(mpicc, ['-O2', '-o', out, C_SOURCE], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('building bench/c/allreduce_bench.c failed');
  return out;
}

// ---------------------------------------------------------------------------
// machine info
// ---------------------------------------------------------------------------

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function machineInfo() {
  const cpuinfo = readText('/proc/cpuinfo');
  const model = (/^model name\s*:\s*(.+)$/m.exec(cpuinfo) || [])[1] || (os.cpus()[0] && os.cpus()[0].model) || 'unknown';
  const osRelease = (/^PRETTY_NAME="?([^"\n]+)"?/m.exec(readText('/etc/os-release')) || [])[1] || os.type();
  const thp = (/\[(\w+)\]/.exec(readText('/sys/kernel/mm/transparent_hugepage/enabled')) || [])[1] || null;
  let mpi = 'unknown';
  try {
    const v = childProcess.execFileSync(which('mpirun') || 'mpirun', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15000 });
    mpi = v.split('\n')[0].replace(/^mpirun\s+/, '').trim();
  } catch {
    /* keep unknown */
  }
  let git = null;
  try {
    const head = childProcess.execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = childProcess.execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    git = dirty ? `${head}+dirty` : head;
  } catch {
    /* not a git checkout */
  }
  return {
    cpu: model.replace(/\s+/g, ' ').trim(),
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    memory_gb: +(os.totalmem() / 1024 ** 3).toFixed(1),
    os: osRelease,
    kernel: os.release(),
    arch: os.arch(),
    node: process.version,
    mpi,
    thp,
    hvd_commit: git,
    loadavg_start: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

// ---------------------------------------------------------------------------
// statistics and formatting
// ---------------------------------------------------------------------------

function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

function algbw(bytes, us) {
  return us > 0 ? bytes / us / 1e3 : null; // GB/s (1e9 bytes)
}

function busbw(bytes, us, np) {
  const a = algbw(bytes, us);
  return a === null ? null : (a * 2 * (np - 1)) / np;
}

function fmtSize(b) {
  if (b >= MiB && b % MiB === 0) return `${b / MiB} MiB`;
  if (b >= KiB && b % KiB === 0) return `${b / KiB} KiB`;
  return `${b} B`;
}

function fmtUs(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  if (x < 10) return x.toFixed(2);
  if (x < 1000) return x.toFixed(1);
  return x.toFixed(0);
}

function fmtBw(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  if (x >= 100) return x.toFixed(0);
  if (x >= 0.01) return x.toPrecision(3);
  return x.toExponential(1);
}

function fmtRatio(x) {
  return x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${x.toFixed(2)}x`;
}

function fmtBytes(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  if (x === 0) return '0';
  if (x >= MiB) return `${(x / MiB).toFixed(1)}M`;
  if (x >= KiB) return `${(x / KiB).toFixed(1)}K`;
  return String(Math.round(x));
}

function table(header, rows, alignLeft = [0]) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (alignLeft.includes(i) ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------
// allreduce
// ---------------------------------------------------------------------------

function benchSizeArgs(o) {
  return ['--min-bytes', '4', '--max-bytes', String(64 * MiB), '--factor', o.quick ? '16' : '4', '--target-s', String(o.targetS)];
}

/** key of a result row: c:out, c:inplace, c:grouped_one, hvd:<alg>:<variant>. */
function rowKey(r) {
  if (r.impl === 'c') return r.kind === 'size' ? `c:${r.mode}` : `c:${r.kind}`;
  return `hvd:${r.algorithm}:${r.variant}`;
}

async function runAllreduce(o, machine) {
  const cBin = cBenchBinary();
  const worker = path.join(BENCH, 'allreduce_hvd.js');
  // raw[config][key][bytes] = { rounds: [median_us...], last: row, errors: [] }
  const raw = {};
  const failures = [];
  const runsMeta = [];
  const add = (cfg, row, round) => {
    if (row.kind === 'info') return;
    const key = rowKey(row);
    const slot = ((raw[cfg] ||= {})[key] ||= {});
    const cell = (slot[row.bytes] ||= { rounds: [], last: null, errors: [] });
    if (row.error) cell.errors.push(row.error);
    else {
      cell.rounds[round] = row.median_us;
      cell.last = row;
    }
  };
  const t0 = Date.now();
  for (let round = 0; round < o.rounds; round++) {
    for (const name of o.configs) {
      const cfg = CONFIGS[name];
      const parts = [];
      // A: the C baseline
      const cr = await runProcess(mpirunArgv(cfg.np, cfg.mpi, [cBin, ...benchSizeArgs(o)]), { timeoutS: 900 });
      for (const row of cr.rows) {
        if (row.kind === 'info') machine.mpi_library = row.library;
        add(name, row, round);
      }
      if (cr.code !== 0) failures.push(`${name} round ${round + 1} C: ${failureText(cr)}`);
      parts.push(`C ${cr.seconds.toFixed(1)}s`);
      runsMeta.push({ round: round + 1, config: name, run: 'c', seconds: +cr.seconds.toFixed(2), ok: cr.code === 0, load1: +os.loadavg()[0].toFixed(2) });
      // B: hvd, default algorithm then ring and mpi forced
      for (const run of HVD_RUNS) {
        const env = childEnv({ HVD_ALLREDUCE_ALGORITHM: run.algorithm });
        const argv = mpirunArgv(cfg.np, cfg.mpi, [process.execPath, worker, '--variants', run.variants, ...benchSizeArgs(o)], ['HVD_ALLREDUCE_ALGORITHM']);
        const hr = await runProcess(argv, { env, timeoutS: 900 });
        for (const row of hr.rows) add(name, row, round);
        if (hr.code !== 0) failures.push(`${name} round ${round + 1} hvd ${run.algorithm}: ${failureText(hr)}`);
        parts.push(`hvd ${run.algorithm} ${hr.seconds.toFixed(1)}s`);
        runsMeta.push({ round: round + 1, config: name, run: `hvd-${run.algorithm}`, seconds: +hr.seconds.toFixed(2), ok: hr.code === 0, load1: +os.loadavg()[0].toFixed(2) });
      }
      log(`round ${round + 1}/${o.rounds} ${name}: ${parts.join(', ')}${failures.length ? ` (${failures.length} failed so far)` : ''}`);
    }
  }

  // medians across rounds
  const configs = [];
  for (const name of o.configs) {
    const cfg = CONFIGS[name];
    const series = {};
    for (const [key, bySize] of Object.entries(raw[name] || {})) {
      series[key] = Object.keys(bySize)
        .map(Number)
        .sort((a, b) => a - b)
        .map((bytes) => {
          const cell = bySize[bytes];
          const us = median(cell.rounds);
          const row = { bytes, median_us: us, rounds_us: cell.rounds.map((x) => (x === undefined ? null : +x.toFixed(3))) };
          if (us !== null) {
            row.algbw_gbs = algbw(bytes, us);
            row.busbw_gbs = busbw(bytes, us, cfg.np);
          }
          if (cell.last && cell.last.stats) row.stats = cell.last.stats;
          if (cell.last && cell.last.calls > 1) row.calls = cell.last.calls;
          if (cell.last && cell.last.count) row.count = cell.last.count;
          if (us === null && cell.errors.length) row.error = cell.errors[0];
          return row;
        });
    }
    configs.push({ name, label: cfg.label, np: cfg.np, description: cfg.desc, mpirun_args: ['-np', String(cfg.np), '--bind-to', 'none', ...cfg.mpi], series });
  }
  return { configs, failures, runs: runsMeta, seconds: (Date.now() - t0) / 1000 };
}

function lookup(cfg, key, bytes) {
  const s = cfg.series[key];
  return s ? s.find((r) => r.bytes === bytes) || null : null;
}

function printAllreduce(result) {
  for (const cfg of result.configs) {
    console.log('');
    console.log(`=== ${cfg.label}: ${cfg.description}; medians of ${result.rounds} rounds ===`);
    const sizes = (cfg.series['c:out'] || cfg.series['hvd:auto:sync'] || []).map((r) => r.bytes);
    // C baseline
    console.log('C MPI_Allreduce (float32 sum):');
    console.log(
      table(
        ['size', 'out µs', 'out algbw', 'out busbw', 'in-place µs', 'in busbw'],
        sizes.map((b) => {
          const out = lookup(cfg, 'c:out', b);
          const inp = lookup(cfg, 'c:inplace', b);
          return [fmtSize(b), fmtUs(out && out.median_us), fmtBw(out && out.algbw_gbs), fmtBw(out && out.busbw_gbs), fmtUs(inp && inp.median_us), fmtBw(inp && inp.busbw_gbs)];
        }),
      ),
    );
    // hvd variants against C
    console.log('');
    console.log('hvd against C (µs: median latency; GB/s: algbw, busbw = algbw × 2(n-1)/n; ×C: hvd/C latency and busbw ratios; copy: fusion-buffer bytes copied per call):');
    const rows = [];
    for (const cmp of COMPARISONS) {
      const series = cfg.series[cmp.key];
      if (!series) continue;
      if (!series.some((r) => r.median_us)) {
        const err = (series.find((r) => r.error) || {}).error || 'no data';
        rows.push([cmp.label, 'all', 'n/a', '', '', '', '', '', '', '', `n/a: ${err.slice(0, 70)}`]);
        continue;
      }
      for (const b of sizes) {
        const h = lookup(cfg, cmp.key, b);
        const c = lookup(cfg, cmp.c, b);
        const hu = h && h.median_us;
        const cu = c && c.median_us;
        const forced = /^hvd:(ring|mpi):/.exec(cmp.key);
        let note = '';
        if (h && h.error) note = `n/a: ${h.error.slice(0, 60)}`;
        else if (forced && h && h.stats && typeof h.stats.ringAllreduces === 'number') {
          const usedRing = h.stats.ringAllreduces >= 0.5;
          if ((forced[1] === 'ring') !== usedRing) note = `(ran ${usedRing ? 'ring' : 'mpi'}: env not honoured?)`;
        }
        rows.push([
          cmp.label,
          fmtSize(b),
          fmtUs(hu),
          fmtUs(cu),
          fmtRatio(hu && cu ? hu / cu : null),
          fmtBw(h && h.algbw_gbs),
          fmtBw(h && h.busbw_gbs),
          fmtBw(c && c.busbw_gbs),
          fmtRatio(h && c && h.busbw_gbs && c.busbw_gbs ? h.busbw_gbs / c.busbw_gbs : null),
          fmtBytes(h && h.stats ? h.stats.fusionCopyBytes : null),
          note,
        ]);
      }
    }
    console.log(table(['variant', 'size', 'hvd µs', 'C µs', 'lat ×C', 'algbw', 'busbw', 'C busbw', 'busbw ×C', 'copy', ''], rows, [0, 10]));
    // grouped
    const g = lookup(cfg, 'hvd:auto:grouped', 409600);
    const gc = lookup(cfg, 'c:grouped_one', 409600);
    const gs = lookup(cfg, 'c:grouped_separate', 409600);
    console.log('');
    if (g && g.median_us) {
      console.log(
        `grouped: hvd.groupedAllreduceSync(100 × 4 KiB) ${fmtUs(g.median_us)} µs vs one 400 KiB C allreduce ${fmtUs(gc && gc.median_us)} µs ` +
          `(${fmtRatio(gc && gc.median_us ? g.median_us / gc.median_us : null)}); C 100 separate 4 KiB allreduces ${fmtUs(gs && gs.median_us)} µs; ` +
          `hvd per call: ${g.stats ? `${g.stats.responses} response(s), ${fmtBytes(g.stats.fusionCopyBytes)} B copied through the fusion buffer` : 'no stats'}`,
      );
    } else {
      console.log(`grouped: n/a${g && g.error ? ` (${g.error})` : ''}`);
    }
    // ring vs mpi
    const rr = [];
    for (const b of sizes) {
      const r = lookup(cfg, 'hvd:ring:inplace', b);
      const m = lookup(cfg, 'hvd:mpi:inplace', b);
      if (!(r && r.median_us) && !(m && m.median_us)) continue;
      rr.push([fmtSize(b), fmtBw(r && r.busbw_gbs), fmtBw(m && m.busbw_gbs), fmtRatio(r && m && r.busbw_gbs && m.busbw_gbs ? r.busbw_gbs / m.busbw_gbs : null)]);
    }
    if (rr.length) {
      console.log('');
      console.log('hvd ring vs MPI algorithm (inPlace, forced with HVD_ALLREDUCE_ALGORITHM):');
      console.log(table(['size', 'ring busbw', 'mpi busbw', 'ring/mpi'], rr));
    }
  }
}

/** Target checks: reported, never asserted. Each: { id, text, status, detail }. */
function evaluateTargets(allreduce, memory) {
  const targets = [];
  const cfgOf = (name) => allreduce && allreduce.configs.find((c) => c.name === name);
  const na = (id, text, why) => targets.push({ id, text, status: 'n/a', detail: why });

  // 1. ≥ 4 MiB: hvd busbw ≥ 0.95 × C, shm and tcp
  for (const name of allreduce ? ['shm', 'tcp'] : []) {
    for (const [key, ckey, what] of [
      ['hvd:auto:sync', 'c:out', 'allreduceSync vs C out-of-place'],
      ['hvd:auto:inplace', 'c:inplace', 'inPlace vs C in-place'],
    ]) {
      const id = `bw-${name}-${key.split(':')[2]}`;
      const text = `≥4 MiB, ${name}: hvd ${what} busbw ≥ 0.95 × C`;
      const cfg = cfgOf(name);
      if (!cfg) {
        na(id, text, `${name} not run`);
        continue;
      }
      const parts = [];
      let ok = true;
      let any = false;
      for (const h of cfg.series[key] || []) {
        if (h.bytes < 4 * MiB) continue;
        const c = lookup(cfg, ckey, h.bytes);
        if (!h.busbw_gbs || !c || !c.busbw_gbs) continue;
        any = true;
        const ratio = h.busbw_gbs / c.busbw_gbs;
        if (ratio < 0.95) ok = false;
        parts.push(`${fmtSize(h.bytes)} ${fmtBw(h.busbw_gbs)}/${fmtBw(c.busbw_gbs)} GB/s = ${ratio.toFixed(2)}`);
      }
      if (!any) na(id, text, 'no data');
      else targets.push({ id, text, status: ok ? 'PASS' : 'MISS', detail: parts.join('; ') });
    }
  }

  // 2. 4 B – 4 KiB at np=2 shm: hvd sync latency ≤ C + 25 µs
  if (allreduce) {
    const id = 'lat-shm-small';
    const text = '4 B–4 KiB, shm np=2: hvd allreduceSync latency ≤ C + 25 µs';
    const cfg = cfgOf('shm');
    if (!cfg) na(id, text, 'shm not run');
    else {
      let worst = null;
      let ok = true;
      const parts = [];
      for (const h of cfg.series['hvd:auto:sync'] || []) {
        if (h.bytes > 4 * KiB) continue;
        const c = lookup(cfg, 'c:out', h.bytes);
        if (!h.median_us || !c || !c.median_us) continue;
        const extra = h.median_us - c.median_us;
        if (extra > 25) ok = false;
        if (!worst || extra > worst.extra) worst = { bytes: h.bytes, extra };
        parts.push(`${fmtSize(h.bytes)} ${fmtUs(h.median_us)} vs ${fmtUs(c.median_us)} µs`);
      }
      if (!worst) na(id, text, 'no data');
      else targets.push({ id, text, status: ok ? 'PASS' : 'MISS', detail: `worst +${worst.extra.toFixed(1)} µs at ${fmtSize(worst.bytes)} (${parts.join('; ')})` });
    }
  }

  // 3. grouped 100 × 4 KiB ≤ 2 × one 400 KiB C allreduce
  for (const name of allreduce ? ['shm', 'tcp', 'np4'] : []) {
    const id = `grouped-${name}`;
    const text = `grouped 100×4 KiB, ${name}: ≤ 2 × one 400 KiB C allreduce`;
    const cfg = cfgOf(name);
    if (!cfg) {
      if (name === 'shm') na(id, text, 'shm not run');
      continue;
    }
    const g = lookup(cfg, 'hvd:auto:grouped', 409600);
    const c = lookup(cfg, 'c:grouped_one', 409600);
    if (!g || !g.median_us || !c || !c.median_us) na(id, text, g && g.error ? g.error : 'no data');
    else {
      const ratio = g.median_us / c.median_us;
      targets.push({ id, text, status: ratio <= 2 ? 'PASS' : 'MISS', detail: `${fmtUs(g.median_us)} µs vs ${fmtUs(c.median_us)} µs = ${ratio.toFixed(2)}×` });
    }
  }

  // 4. ring ≥ 1.0 × MPI busbw at ≥ 1 MiB over TCP
  for (const variant of allreduce ? ['inplace', 'sync'] : []) {
    const id = `ring-tcp-${variant}`;
    const text = `≥1 MiB, tcp: hvd ring busbw ≥ 1.0 × hvd MPI busbw (${variant === 'inplace' ? 'inPlace' : 'allreduceSync'})`;
    const cfg = cfgOf('tcp');
    if (!cfg) {
      na(id, text, 'tcp not run');
      continue;
    }
    const parts = [];
    let ok = true;
    let any = false;
    for (const r of cfg.series[`hvd:ring:${variant}`] || []) {
      if (r.bytes < MiB) continue;
      const m = lookup(cfg, `hvd:mpi:${variant}`, r.bytes);
      if (!r.busbw_gbs || !m || !m.busbw_gbs) continue;
      any = true;
      const ratio = r.busbw_gbs / m.busbw_gbs;
      if (ratio < 1.0) ok = false;
      parts.push(`${fmtSize(r.bytes)} ${fmtBw(r.busbw_gbs)}/${fmtBw(m.busbw_gbs)} GB/s = ${ratio.toFixed(2)}`);
    }
    if (!any) na(id, text, 'no data (ring or mpi run rejected?)');
    else targets.push({ id, text, status: ok ? 'PASS' : 'MISS', detail: parts.join('; ') });
  }

  // 5. memory
  if (memory) {
    const a = memory.allreduce;
    if (a && Number.isFinite(a.growth_mb)) {
      targets.push({
        id: 'mem-allreduce',
        text: `RSS growth between allreduce ${a.first_checkpoint} and ${a.iters} (1 MiB, np=2) < 5 MB`,
        status: a.growth_mb < 5 ? 'PASS' : 'MISS',
        detail:
          `${a.growth_mb.toFixed(1)} MB (${a.rss_mb_at_first.toFixed(1)} → ${a.rss_mb_at_last.toFixed(1)} MB, rank 0; worst rank counted); ` +
          `after call ${a.settle_checkpoint} (V8 JIT settled): ${fmtMb(a.growth_after_settle_mb)} MB, slope ${fmtSlope(a.slope_mb_per_1000)} MB/1000 calls`,
      });
    } else na('mem-allreduce', 'RSS growth over 10,000 allreduces < 5 MB', memory.allreduceError || 'not run');
    const t = memory.train;
    if (t && Number.isFinite(t.growth_mb)) {
      targets.push({
        id: 'mem-train-tensors',
        text: `tf.memory().numTensors flat over ${t.steps} training steps`,
        status: t.num_tensors_min === t.num_tensors_max ? 'PASS' : 'MISS',
        detail: `numTensors ${t.num_tensors_min}..${t.num_tensors_max} (step ${t.first_checkpoint}: ${t.num_tensors_at_first}, step ${t.steps}: ${t.num_tensors_at_last})`,
      });
      targets.push({
        id: 'mem-train-rss',
        text: `RSS growth between training step ${t.first_checkpoint} and ${t.steps} < 5 MB (reported)`,
        status: t.growth_mb < 5 ? 'PASS' : 'MISS',
        detail:
          `${t.growth_mb.toFixed(1)} MB (${t.rss_mb_at_first.toFixed(1)} → ${t.rss_mb_at_last.toFixed(1)} MB)` +
          (memory.train_plain ? `; the same loop with plain tfjs adam: ${memory.train_plain.growth_mb.toFixed(1)} MB` : ''),
      });
    } else na('mem-train', 'numTensors flat over 500 training steps', memory.trainError || 'not run');
  }
  return targets;
}

function fmtMb(x) {
  return Number.isFinite(x) ? x.toFixed(1) : 'n/a';
}

function fmtSlope(x) {
  return Number.isFinite(x) ? (x >= 0 ? '+' : '') + x.toFixed(2) : 'n/a';
}

function printTargets(targets) {
  console.log('');
  console.log('=== targets (reported, not asserted) ===');
  for (const t of targets) console.log(`${t.status.padEnd(4)}  ${t.text}: ${t.detail}`);
}

// ---------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------

/** least-squares slope of rss over iter for the non-GC samples after the first checkpoint, per 1000 calls. */
function plateauSlope(series, first) {
  const pts = series.filter((s) => !s.gc && s.iter > first);
  if (pts.length < 3) return null;
  const n = pts.length;
  const mx = pts.reduce((s, p) => s + p.iter, 0) / n;
  const my = pts.reduce((s, p) => s + p.rss_mb, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of pts) {
    sxy += (p.iter - mx) * (p.rss_mb - my);
    sxx += (p.iter - mx) ** 2;
  }
  return sxx ? (sxy / sxx) * 1000 : null;
}

async function runMemory(o) {
  const t0 = Date.now();
  const steps = o.quick ? 200 : 500;
  const argv = mpirunArgv(2, [], [process.execPath, '--expose-gc', path.join(BENCH, 'memory_bench.js'), '--iters', '10000', '--steps', String(steps)]);
  log(`memory: 10,000 × 1 MiB allreduceSync + ${steps} training steps at np=2 (then the same steps without hvd) ...`);
  const r = await runProcess(argv, { timeoutS: 900 });
  const memory = { seconds: r.seconds };
  for (const row of r.rows) {
    if (row.kind !== 'memory') continue;
    memory[row.phase] = row;
  }
  // the same training loop without DistributedOptimizer: what tfjs/V8 do on their own
  if (memory.train) {
    const pr = await runProcess(
      mpirunArgv(2, [], [process.execPath, '--expose-gc', path.join(BENCH, 'memory_bench.js'), '--phases', 'train', '--plain-optimizer', '--steps', String(steps)]),
      { timeoutS: 900 },
    );
    const row = pr.rows.find((x) => x.kind === 'memory' && x.phase === 'train');
    if (row) memory.train_plain = row;
    else log(`memory (plain optimizer) failed: ${failureText(pr)}`);
  }
  if (memory.allreduce) {
    const a = memory.allreduce;
    a.slope_mb_per_1000 = plateauSlope(a.series, a.settle_checkpoint || a.first_checkpoint);
  }
  if (r.code !== 0) {
    const why = failureText(r);
    memory.error = why;
    if (!memory.allreduce) memory.allreduceError = why;
    if (!memory.train) memory.trainError = why;
    log(`memory run failed: ${why}`);
  }
  memory.seconds = (Date.now() - t0) / 1000;
  log(`memory: done in ${memory.seconds.toFixed(1)} s`);
  return memory;
}

function printMemory(m) {
  console.log('');
  console.log('=== memory (np=2, rank 0; checkpoints after a full GC) ===');
  const a = m.allreduce;
  if (a) {
    console.log(
      `allreduceSync 1 MiB × ${a.iters}: RSS ${a.rss_mb_at_first.toFixed(1)} MB at call ${a.first_checkpoint} → ${a.rss_mb_at_last.toFixed(1)} MB at call ${a.iters}: ` +
        `growth ${a.growth_mb.toFixed(1)} MB (worst rank); from call ${a.settle_checkpoint} (after V8's JIT tier-up): ${fmtMb(a.growth_after_settle_mb)} MB, ` +
        `slope ${fmtSlope(a.slope_mb_per_1000)} MB/1000 calls; ${a.us_per_call.toFixed(0)} µs/call`,
    );
  }
  const t = m.train;
  if (t) {
    console.log(
      `training ${t.steps} steps: RSS ${t.rss_mb_at_first.toFixed(1)} MB at step ${t.first_checkpoint} → ${t.rss_mb_at_last.toFixed(1)} MB: growth ${t.growth_mb.toFixed(1)} MB; ` +
        `numTensors ${t.num_tensors_min}..${t.num_tensors_max}; ${t.ms_per_step.toFixed(1)} ms/step`,
    );
  }
  const p = m.train_plain;
  if (p) {
    console.log(
      `same loop with plain tf.train.adam (no DistributedOptimizer): RSS growth ${p.growth_mb.toFixed(1)} MB; numTensors ${p.num_tensors_min}..${p.num_tensors_max}; ${p.ms_per_step.toFixed(1)} ms/step`,
    );
  }
}

// ---------------------------------------------------------------------------
// training
// ---------------------------------------------------------------------------

async function runTrain(o, machine) {
  const rounds = o.quick ? 1 : o.rounds;
  const steps = o.quick ? 60 : 150;
  const warmup = 10;
  const script = path.join(BENCH, 'train_bench.js');
  const common = ['--steps', String(steps), '--warmup', String(warmup)];
  const runs = [
    { label: 'tfjs np=1', mode: 'plain', np: 1 },
    { label: 'hvd np=1', mode: 'hvd', np: 1 },
    { label: 'hvd np=2', mode: 'hvd', np: 2 },
    { label: 'hvd np=4', mode: 'hvd', np: 4 },
  ];
  const per = {};
  const failures = [];
  const t0 = Date.now();
  for (let round = 0; round < rounds; round++) {
    const parts = [];
    for (const run of runs) {
      const cmd = [process.execPath, script, '--mode', run.mode, ...common];
      const argv = run.mode === 'plain' ? cmd : mpirunArgv(run.np, run.np > os.cpus().length ? ['--oversubscribe'] : [], cmd);
      const r = await runProcess(argv, { timeoutS: 900 });
      const row = r.rows.find((x) => x.kind === 'train');
      (per[run.label] ||= []).push(row || null);
      if (!row || r.code !== 0) failures.push(`${run.label} round ${round + 1}: ${failureText(r)}`);
      parts.push(`${run.label} ${row ? `${row.images_per_s.toFixed(0)} img/s` : 'failed'}`);
    }
    log(`train round ${round + 1}/${rounds}: ${parts.join(', ')}`);
  }
  const summary = runs.map((run) => {
    const rows = (per[run.label] || []).filter(Boolean);
    const last = rows[rows.length - 1] || {};
    return {
      label: run.label,
      mode: run.mode,
      np: run.np,
      images_per_s: median(rows.map((r) => r.images_per_s)),
      images_per_s_rounds: rows.map((r) => +r.images_per_s.toFixed(1)),
      step_ms: median(rows.map((r) => r.step_ms)),
      final_loss: last.final_loss,
      engine: last.engine || null,
      backend: last.backend,
    };
  });
  const plain = summary[0].images_per_s;
  const hvd1 = summary[1].images_per_s;
  const derived = {
    overhead_np1: plain && hvd1 ? (plain - hvd1) / plain : null,
    efficiency: {},
  };
  for (const s of summary.slice(2)) derived.efficiency[`np${s.np}`] = s.images_per_s && hvd1 ? s.images_per_s / (s.np * hvd1) : null;
  return {
    date: new Date().toISOString(),
    machine,
    model: 'MLP 784-256-128-10 (relu, softmax), Adam lr 1e-3 × size, categorical cross-entropy, model.fit',
    batch_per_rank: 64,
    steps,
    warmup,
    rounds,
    quick: o.quick,
    summary,
    ...derived,
    failures,
    seconds: (Date.now() - t0) / 1000,
  };
}

function printTrain(t) {
  console.log('');
  console.log(`=== training throughput: ${t.model}, batch ${t.batch_per_rank}/rank, tfjs ${t.summary[0].backend || 'wasm'}; median of ${t.rounds} rounds, ${t.steps} steps, first ${t.warmup} skipped ===`);
  const hvd1 = t.summary[1].images_per_s;
  console.log(
    table(
      ['run', 'images/s', 'ms/step', 'per rank img/s', 'efficiency', 'allreduce B/step'],
      t.summary.map((s) => [
        s.label,
        s.images_per_s ? s.images_per_s.toFixed(0) : 'n/a',
        s.step_ms ? s.step_ms.toFixed(1) : 'n/a',
        s.images_per_s ? (s.images_per_s / s.np).toFixed(0) : 'n/a',
        s.mode === 'hvd' && s.np > 1 && s.images_per_s && hvd1 ? `${((100 * s.images_per_s) / (s.np * hvd1)).toFixed(0)}%` : '',
        s.engine ? fmtBytes(s.engine.allreduceBytesPerStep) : '',
      ]),
    ),
  );
  const pct = (x) => (x === null || x === undefined ? 'n/a' : `${(100 * x).toFixed(1)}%`);
  console.log(`DistributedOptimizer overhead at np=1: (plain − hvd np=1)/plain = ${pct(t.overhead_np1)}`);
  for (const [k, v] of Object.entries(t.efficiency)) {
    const np = Number(k.slice(2));
    const over = np > (t.machine ? t.machine.cores : os.cpus().length) ? ` (oversubscribed: ${np} ranks on ${t.machine ? t.machine.cores : '?'} cores)` : '';
    console.log(`weak-scaling efficiency ${k}: images/s / (${np} × hvd np=1) = ${pct(v)}${over}`);
  }
  for (const f of t.failures) console.log(`FAILED: ${f}`);
}

// ---------------------------------------------------------------------------
// training on tfjs-node (when it loads: npm run setup:tfjs-node)
// ---------------------------------------------------------------------------

/**
 * Step time of the MLP and Horovod's convnet on tfjs-node vs wasm vs cpu
 * (plain tfjs, one process), and hvd's scaling at np=2 on tfjs-node against
 * np=1 and against two independent processes side by side (no hvd): on a
 * 2-core machine the side-by-side pair is the ceiling np=2 can reach.
 */
async function runTrainNode(o) {
  const status = require('./setup-tfjs-node').probe(ROOT);
  if (!status.ok) return { skipped: `tfjs-node does not load (${status.error}); run npm run setup:tfjs-node` };
  const rounds = o.quick ? 1 : o.rounds;
  const script = path.join(BENCH, 'train_bench.js');
  const env = childEnv({ TF_CPP_MIN_LOG_LEVEL: '2' });
  // The convnet on the pure-JS cpu backend takes tens of seconds per step: 3 steps, the first skipped.
  const stepsFor = (model, backend) =>
    model === 'mlp' ? { steps: o.quick ? 60 : 150, warmup: 10 } : backend === 'cpu' ? { steps: 3, warmup: 1 } : { steps: o.quick ? 30 : 60, warmup: 5 };
  const args = (model, backend, mode) => {
    const { steps, warmup } = stepsFor(model, backend);
    return [process.execPath, script, '--mode', mode, '--model', model, '--backend', backend, '--steps', String(steps), '--warmup', String(warmup)];
  };
  const runs = [];
  for (const model of ['mlp', 'cnn']) {
    for (const backend of ['node', 'wasm', 'cpu']) {
      if (model === 'cnn' && backend === 'wasm') continue; // no Conv2DBackpropFilter in tfjs-backend-wasm
      runs.push({ model, backend, label: `${model} ${backend} plain`, kind: 'plain' });
    }
    runs.push({ model, backend: 'node', label: `${model} node hvd np=1`, kind: 'hvd', np: 1 });
    runs.push({ model, backend: 'node', label: `${model} node hvd np=2`, kind: 'hvd', np: 2 });
    runs.push({ model, backend: 'node', label: `${model} node 2 plain side by side`, kind: 'pair' });
  }
  const per = {};
  const failures = [];
  const t0 = Date.now();
  for (let round = 0; round < rounds; round++) {
    const parts = [];
    for (const run of runs) {
      let value = null;
      let stepMs = null;
      if (run.kind === 'pair') {
        const cmd = args(run.model, run.backend, 'plain');
        const rs = await Promise.all([runProcess(cmd, { env, timeoutS: 900 }), runProcess(cmd, { env, timeoutS: 900 })]);
        const rows = rs.map((r) => r.rows.find((x) => x.kind === 'train'));
        rs.forEach((r, i) => {
          if (!rows[i] || r.code !== 0) failures.push(`${run.label} round ${round + 1} (process ${i + 1}): ${failureText(r)}`);
        });
        if (rows.every(Boolean)) {
          value = rows[0].images_per_s + rows[1].images_per_s;
          stepMs = Math.max(rows[0].step_ms, rows[1].step_ms);
        }
      } else {
        const cmd = args(run.model, run.backend, run.kind);
        const argv = run.kind === 'plain' ? cmd : mpirunArgv(run.np, run.np > os.cpus().length ? ['--oversubscribe'] : [], cmd, ['TF_CPP_MIN_LOG_LEVEL']);
        // The convnet on the cpu backend: give up after 5 minutes (> 100 s a step) rather than 15.
        const r = await runProcess(argv, { env, timeoutS: run.model === 'cnn' && run.backend === 'cpu' ? 300 : 900 });
        const row = r.rows.find((x) => x.kind === 'train');
        if (!row || r.code !== 0) failures.push(`${run.label} round ${round + 1}: ${failureText(r)}`);
        if (row) {
          value = row.images_per_s;
          stepMs = row.step_ms;
        }
      }
      (per[run.label] ||= []).push({ images_per_s: value, step_ms: stepMs });
      parts.push(`${run.label} ${value ? `${value.toFixed(0)} img/s` : 'failed'}`);
    }
    log(`train (tfjs-node) round ${round + 1}/${rounds}: ${parts.join(', ')}`);
  }
  const summary = runs.map((run) => {
    const rows = per[run.label] || [];
    return {
      label: run.label,
      model: run.model,
      backend: run.backend,
      kind: run.kind,
      np: run.kind === 'hvd' ? run.np : run.kind === 'pair' ? 2 : 1,
      steps: stepsFor(run.model, run.backend).steps,
      images_per_s: median(rows.map((r) => r.images_per_s)),
      images_per_s_rounds: rows.map((r) => (r.images_per_s ? +r.images_per_s.toFixed(1) : null)),
      step_ms: median(rows.map((r) => r.step_ms)),
    };
  });
  const get = (label) => (summary.find((x) => x.label === label) || {}).images_per_s || null;
  const scaling = {};
  for (const model of ['mlp', 'cnn']) {
    const np1 = get(`${model} node hvd np=1`);
    const np2 = get(`${model} node hvd np=2`);
    const pair = get(`${model} node 2 plain side by side`);
    scaling[model] = {
      vs_np1: np1 && np2 ? np2 / (2 * np1) : null,
      vs_side_by_side: pair && np2 ? np2 / pair : null,
      side_by_side_vs_np1: pair && np1 ? pair / (2 * np1) : null,
    };
  }
  return { tensorflow: status.tensorflow, tfjs_node: status.tfjsNode, rounds, summary, scaling, failures, seconds: (Date.now() - t0) / 1000 };
}

function printTrainNode(t) {
  console.log('');
  if (t.skipped) {
    console.log(`=== training on tfjs-node: skipped: ${t.skipped} ===`);
    return;
  }
  console.log(`=== training on tfjs-node ${t.tfjs_node} (TensorFlow ${t.tensorflow}) vs wasm vs cpu: batch 64/rank, Adam; median of ${t.rounds} round(s) ===`);
  console.log(
    table(
      ['run', 'steps', 'images/s', 'ms/step'],
      t.summary.map((s) => [s.label, s.steps, s.images_per_s ? s.images_per_s.toFixed(0) : 'n/a', s.step_ms ? s.step_ms.toFixed(1) : 'n/a']),
    ),
  );
  console.log('cnn on wasm: n/a (tfjs-backend-wasm has no Conv2DBackpropFilter kernel)');
  const pct = (x) => (x === null || x === undefined ? 'n/a' : `${(100 * x).toFixed(0)}%`);
  for (const [model, sc] of Object.entries(t.scaling)) {
    console.log(
      `${model} on tfjs-node, np=2: ${pct(sc.vs_np1)} of 2 × np=1; ${pct(sc.vs_side_by_side)} of two plain processes side by side ` +
        `(which themselves reach ${pct(sc.side_by_side_vs_np1)} of 2 × np=1 on ${os.cpus().length} cores)`,
    );
  }
  for (const f of t.failures) console.log(`FAILED: ${f}`);
}

// ---------------------------------------------------------------------------
// output files
// ---------------------------------------------------------------------------

function writeJson(file, obj) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(obj, roundReplacer, 1) + '\n');
}

function roundReplacer(_k, v) {
  if (typeof v === 'number' && !Number.isInteger(v)) return +v.toPrecision(6);
  return v;
}

function stamp(o) {
  return new Date().toISOString().slice(0, 10) + (o.quick ? '-quick' : '');
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`${TAG} ${e.message}`);
    return 2;
  }
  if (o.help) {
    console.log(usage());
    return 0;
  }
  const started = Date.now();
  setupMachine(o);
  const render = require(path.join(BENCH, 'render.js'));
  const machine = machineInfo();
  log(`${machine.cpu}, ${machine.cores} cores, ${machine.os}, kernel ${machine.kernel}, node ${machine.node}, ${machine.mpi}`);
  if (machine.loadavg_start[0] > 0.5) {
    log(`WARNING: load average ${machine.loadavg_start.join(' ')}: other processes are running, figures will be noisy`);
  }
  let allreduce = null;
  let memory = null;
  const written = [];

  if (o.parts.has('allreduce')) {
    log(`allreduce: configs ${o.configs.join(', ')}; ${o.rounds} rounds of C then hvd (auto, ring, mpi); ${o.quick ? 'sizes ×16' : 'sizes ×4'} from 4 B to 64 MiB; ~${o.targetS} s per size and variant`);
    const r = await runAllreduce(o, machine);
    allreduce = {
      date: new Date().toISOString(),
      machine,
      quick: o.quick,
      rounds: o.rounds,
      target_s: o.targetS,
      method:
        'per size: warm-up, then batches timed after a barrier on rank 0; sample = batch time / batch length; per run the median of the samples; reported: the median across rounds (C and hvd runs alternate within each round)',
      configs: r.configs,
      runs: r.runs,
      failures: r.failures,
      seconds: r.seconds,
    };
    printAllreduce(allreduce);
    for (const f of r.failures) console.log(`FAILED: ${f}`);
  }
  if (o.parts.has('memory')) {
    memory = await runMemory(o);
    memory.date = new Date().toISOString();
    memory.machine = machine;
    memory.quick = o.quick;
    printMemory(memory);
  }
  let targets = [];
  if (allreduce || memory) {
    targets = evaluateTargets(allreduce, memory);
    printTargets(targets);
  }
  machine.loadavg_end = os.loadavg().map((x) => +x.toFixed(2));

  if (o.write && allreduce) {
    allreduce.targets = targets.filter((t) => !t.id.startsWith('mem-'));
    allreduce.machine.loadavg_end = machine.loadavg_end;
    for (const f of [path.join(RESULTS, `allreduce-${stamp(o)}.json`), path.join(RESULTS, 'latest.json')]) {
      writeJson(f, allreduce);
      written.push(f);
    }
    const svg = await render.writeChart(render.allreduceSpec(allreduce), RESULTS, 'allreduce.svg', log);
    if (svg) written.push(svg);
  }
  if (o.write && memory) {
    memory.targets = targets.filter((t) => t.id.startsWith('mem-'));
    for (const f of [path.join(RESULTS, `memory-${stamp(o)}.json`), path.join(RESULTS, 'memory-latest.json')]) {
      writeJson(f, memory);
      written.push(f);
    }
    const svg = await render.writeChart(render.memorySpec(memory), RESULTS, 'memory.svg', log);
    if (svg) written.push(svg);
  }
  if (o.parts.has('train')) {
    log(`train: tfjs wasm MNIST MLP; plain, hvd np=1, 2, 4; ${o.quick ? 1 : o.rounds} round(s) ...`);
    const train = await runTrain(o, machine);
    printTrain(train);
    if (o.write) {
      for (const f of [path.join(RESULTS, `train-${stamp(o)}.json`), path.join(RESULTS, 'train-latest.json')]) {
        writeJson(f, train);
        written.push(f);
      }
      const svg = await render.writeChart(render.trainSpec(train), RESULTS, 'train.svg', log);
      if (svg) written.push(svg);
    }
  }
  if (o.parts.has('train-node')) {
    log('train: MLP and convnet on tfjs-node vs wasm vs cpu; hvd np=1, np=2 and two plain processes on tfjs-node ...');
    const node = await runTrainNode(o);
    printTrainNode(node);
    if (o.write && !node.skipped) {
      node.date = new Date().toISOString();
      node.machine = machine;
      for (const f of [path.join(RESULTS, `train-node-${stamp(o)}.json`), path.join(RESULTS, 'train-node-latest.json')]) {
        writeJson(f, node);
        written.push(f);
      }
    }
  }
  console.log('');
  for (const f of written) log(`wrote ${path.relative(ROOT, f)}`);
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(`${TAG} ERROR: ${(e && e.stack) || e}`);
    process.exitCode = 1;
  },
);
