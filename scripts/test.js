#!/usr/bin/env node
'use strict';
// `npm test`: sets the machine up, builds, then runs the mocha suites
//   single process:        test/single/**/*.test.js + test/parallel/**/*.test.js (size 1)
//   mpirun -np 2 / 4 / 3:  test/parallel/**/*.test.js
//   native:                the GoogleTest suites (build/hvd_native_tests, and
//                          build/hvd_native_mpi_tests under mpirun -np 2 and 3)
// and prints one summary line "N passed, N failed" (", N skipped" when some
// were skipped), totalled over every run. Exits non-zero when anything failed,
// crashed or timed out.
//
// When @tensorflow/tfjs-node loads (npm run setup:tfjs-node), the test files
// that use tfjs run again on its 'tensorflow' backend:
//   node-single, node-np2, node-np3: those files with HVD_TEST_TFJS_BACKEND=tensorflow
// (HVD_TEST_REQUIRE_TFJS_NODE=1 makes "tfjs-node does not load" a failure).
//
// Options:
//   --only native|single|np2|np3|np4|node-single|node-np2|node-np3
//                               run only these runs (repeatable, or comma-separated)
//   --grep PATTERN              passed to mocha
//   -- ARGS...                  extra arguments passed to mocha
// Environment:
//   HVD_TEST_SKIP_SETUP=1       skip system-deps / npm ci / build
//   HVD_TEST_TIMEOUT_S=1200     hard limit per run; the process group is killed after it
//   HVD_TEST_LD_PRELOAD=LIB     LD_PRELOAD for the mpirun ranks (npm run test:asan)
//   HVD_TEST_REQUIRE_TFJS_NODE=1  fail when tfjs-node does not load (CI, after setup:tfjs-node)
//
// Each run gets a fresh HVD_TEST_RESULTS_DIR; test/support/reporter.js writes
// results-<rank>.json there. Under mpirun a test passes when it passed on every
// rank, and fails when it failed (or did not run) on any rank.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { mpiEnv, mpirunCommand, parseCommandLine, listOption, runProcess, interruptedBy, which, UsageError } = require('./lib/common');

const ROOT = path.resolve(__dirname, '..');
const TAG = '[hvd test]';
const REPORTER = path.join(ROOT, 'test', 'support', 'reporter.js');
const RUN_NAMES = ['native', 'single', 'np2', 'np4', 'np3', 'node-single', 'node-np2', 'node-np3'];
const MOCHA_TIMEOUT_MS = 60000;

function log(msg) {
  console.log(`${TAG} ${msg}`);
}

function usage() {
  return (
    'usage: node scripts/test.js [--only native|single|np2|np3|np4|node-single|node-np2|node-np3] [-g|--grep PATTERN] [-h|--help] [-- MOCHA_ARGS...]\n' +
    '  --only is repeatable or comma-separated; arguments after -- go to mocha.\n' +
    '  HVD_TEST_SKIP_SETUP=1 skips setup/build; HVD_TEST_TIMEOUT_S sets the per-run hard limit (1200).'
  );
}

function parseArgs(argv) {
  const { values, rest } = parseCommandLine(
    argv,
    { only: { type: 'string', multiple: true }, grep: { type: 'string', short: 'g' }, help: { type: 'boolean', short: 'h' } },
    { rest: true },
  );
  return {
    only: listOption('only', values.only, RUN_NAMES),
    grep: values.grep === undefined ? null : values.grep,
    mochaArgs: rest,
    help: Boolean(values.help),
  };
}

/** test files under dir matching *.test.js, recursively, sorted. */
function findTests(dir) {
  const out = [];
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.test.js')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** The test files that use tfjs (they load it through test/support/tf.js or util.js's tfCore). */
function usesTfjs(file) {
  return /\b(loadTf|tfCore)\(|require\('@tensorflow\//.test(fs.readFileSync(file, 'utf8'));
}

/**
 * Whether @tensorflow/tfjs-node loads here: { ok, tensorflow, error }. Asked
 * in a child process (what setup:tfjs-node checks), so a broken addon cannot
 * take the runner down.
 */
function tfjsNodeStatus() {
  try {
    return require('./setup-tfjs-node').probe(ROOT);
  } catch (e) {
    return { ok: false, error: e.message };
  }
}

// ---------------------------------------------------------------------------
// Processes and mpirun (scripts/lib/common.js)
// ---------------------------------------------------------------------------

/** Runs argv (inherited stdio, its own process group, killed whole after timeoutS). */
function runWithTimeout(argv, env, timeoutS) {
  return runProcess(argv, { cwd: ROOT, env, timeoutS, onTimeout: (msg) => console.error(`${TAG} TIMEOUT: ${msg}`) });
}

/** Variables the ranks need beyond what hvdrun forwards (PATH, LD_LIBRARY_PATH, NODE_PATH, HVD_*, HOROVOD_*). */
const RANK_ENV = ['NODE_OPTIONS', 'FORCE_COLOR', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'OMPI_MCA_mca_base_component_disable_dlclose'];

/**
 * The mpirun line for np ranks of command, as hvdrun builds it, with
 * --oversubscribe at every size (CI machines have 2 cores).
 */
function mpirunArgv(np, env, command) {
  const exportEnv = [...RANK_ENV];
  // HVD_TEST_LD_PRELOAD (scripts/test-asan.js): LD_PRELOAD for the ranks only, not mpirun.
  if (env.HVD_TEST_LD_PRELOAD) exportEnv.push(`LD_PRELOAD=${env.HVD_TEST_LD_PRELOAD}`);
  return mpirunCommand(np, command, { env, exportEnv, mpiArgs: ['--oversubscribe'] });
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

function readResults(dir, ranks) {
  const out = [];
  for (let r = 0; r < ranks; r++) {
    const file = path.join(dir, `results-${r}.json`);
    try {
      out.push(JSON.parse(fs.readFileSync(file, 'utf8')));
    } catch {
      out.push(null);
    }
  }
  return out;
}

function readRunning(dir, ranks) {
  const out = [];
  for (let r = 0; r < ranks; r++) {
    try {
      out.push(fs.readFileSync(path.join(dir, `running-${r}.txt`), 'utf8'));
    } catch {
      out.push(null);
    }
  }
  return out;
}

function firstLine(s) {
  const line = String(s || '').split('\n').find((l) => l.trim()) || '';
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/**
 * Combines per-rank results: a test passes when it passed on every rank
 * (pending on some ranks is fine), fails when it failed on any rank or is
 * missing on some rank, and is skipped when pending on every rank.
 */
function aggregate(perRank, label) {
  const byTitle = new Map(); // title -> per rank {passed, pending, failed: []}
  const slot = (title, rank) => {
    if (!byTitle.has(title)) byTitle.set(title, perRank.map(() => ({ passed: 0, pending: 0, failed: [] })));
    return byTitle.get(title)[rank];
  };
  perRank.forEach((res, rank) => {
    if (!res) return;
    for (const t of res.passed || []) slot(t, rank).passed++;
    for (const t of res.pending || []) slot(t, rank).pending++;
    for (const f of res.failed || []) slot(f.title, rank).failed.push(f);
  });

  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = [];
  for (const [title, ranks] of byTitle) {
    const failedRanks = ranks.map((s, r) => (s.failed.length ? r : -1)).filter((r) => r >= 0);
    const ran = ranks.map((s) => s.passed + s.pending);
    const instances = Math.max(...ran);
    if (failedRanks.length) {
      const n = Math.max(...ranks.map((s) => s.failed.length));
      failed += n;
      const f = ranks[failedRanks[0]].failed[0];
      const where = perRank.length > 1 ? ` (rank ${failedRanks.join(', ')})` : '';
      failures.push(`${label}: ${title}${where}\n      ${firstLine(f.message)}`);
      continue;
    }
    const missing = ran.map((n, r) => (n < instances ? r : -1)).filter((r) => r >= 0);
    if (missing.length) {
      failed += instances;
      failures.push(`${label}: ${title}\n      did not run (or did not finish) on rank ${missing.join(', ')}`);
    } else if (ranks.every((s) => s.passed === 0)) {
      skipped += instances;
    } else {
      passed += instances;
    }
  }
  return { passed, failed, skipped, failures };
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

async function runSuite(run, opts, ctx) {
  const { label, np, files } = run;
  if (!files.length) {
    const msg = `${label}: no test files (${run.globs})`;
    log(`${msg} -> counted as 1 failure`);
    return { passed: 0, failed: 1, skipped: 0, failures: [msg] };
  }
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), `hvd-test-${run.name}-`));
  const env = mpiEnv(process.env, { ...(run.env || {}), HVD_TEST_RESULTS_DIR: resultsDir, HVD_TEST_NP: String(np || 1) });
  const mochaArgs = ['--reporter', REPORTER, '--timeout', String(MOCHA_TIMEOUT_MS)];
  if (opts.grep !== null) mochaArgs.push('--grep', opts.grep);
  if (process.env.CI) mochaArgs.push('--forbid-only');
  // Open MPI gives ranks a pty, so decide colours from our own stdout.
  mochaArgs.push(process.stdout.isTTY ? '--color' : '--no-color');
  mochaArgs.push(...opts.mochaArgs);
  // --expose-gc: test/parallel/memory.test.js measures RSS after a full GC.
  const command = [process.execPath, '--expose-gc', ctx.mochaBin, ...mochaArgs, ...files.map((f) => path.relative(ROOT, f))];
  const argv = np ? mpirunArgv(np, env, command) : command;

  console.log('');
  log(`=== ${label} (${files.length} file${files.length === 1 ? '' : 's'}) ===`);
  const r = await runWithTimeout(argv, env, ctx.timeoutS);
  const ranks = np || 1;
  const perRank = readResults(resultsDir, ranks);
  const runningAt = readRunning(resultsDir, ranks);
  fs.rmSync(resultsDir, { recursive: true, force: true });
  const agg = aggregate(perRank, label);

  // Anything abnormal makes the run count as at least one failure.
  const problems = [];
  if (r.error) problems.push(`could not start: ${r.error.message}`);
  if (interruptedBy()) {
    problems.push(`interrupted (${interruptedBy()})`);
  } else if (r.timedOut) {
    const allDone = perRank.every((x) => x && x.complete);
    problems.push(
      `timed out after ${ctx.timeoutS}s` +
        (allDone ? ' after all tests finished: a process did not exit (open handles? missing hvd.shutdown()?)' : ''),
    );
  } else if (r.signal) {
    problems.push(`killed by ${r.signal}`);
  }
  const noFile = perRank.map((x, i) => (x ? -1 : i)).filter((i) => i >= 0);
  if (noFile.length) {
    const why = r.timedOut || interruptedBy() || r.signal ? 'had not finished when killed' : 'crashed, or failed to load the tests';
    problems.push(`no results from rank ${noFile.join(', ')} (${why})`);
  }
  const partial = perRank.map((x, i) => (x && !x.complete ? i : -1)).filter((i) => i >= 0);
  if (partial.length) problems.push(`rank ${partial.join(', ')} exited before the end of the run`);
  // Where unfinished ranks were: the test or hook each last started.
  perRank.forEach((x, i) => {
    if ((!x || !x.complete) && runningAt[i]) problems.push(`rank ${i} was last in: ${runningAt[i]}`);
  });
  if (!interruptedBy() && !r.timedOut && !r.signal && r.code !== 0 && r.code !== null && agg.failed === 0) {
    problems.push(`exited with code ${r.code} although no test failed`);
  }
  for (const p of problems) {
    agg.failures.push(`${label}: ${p}`);
    log(`${label}: ERROR: ${p}`);
  }
  if (problems.length && agg.failed === 0) agg.failed = 1;

  log(`${label}: ${counts(agg)} (${r.seconds.toFixed(1)}s)`);
  return agg;
}

// ---------------------------------------------------------------------------
// Native unit tests (GoogleTest)
// ---------------------------------------------------------------------------

/** Reads gtest JSON reports: a test passes when it passed in every report. */
function gtestResults(files, label) {
  const byName = new Map();
  for (const f of files) {
    let report;
    try {
      report = JSON.parse(fs.readFileSync(f, 'utf8'));
    } catch {
      return null;
    }
    for (const suite of report.testsuites || []) {
      for (const t of suite.testsuite || []) {
        const name = `${suite.name}.${t.name}`;
        const failed = (t.failures || []).length > 0;
        const prev = byName.get(name) || { runs: 0, failed: null };
        prev.runs++;
        if (failed && !prev.failed) prev.failed = t.failures[0].failure;
        byName.set(name, prev);
      }
    }
  }
  const agg = { passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const [name, r] of byName) {
    if (r.failed || r.runs < files.length) {
      agg.failed++;
      agg.failures.push(`${label}: ${name}\n      ${firstLine(r.failed || 'did not run on every rank')}`);
    } else {
      agg.passed++;
    }
  }
  return agg;
}

async function runNative(ctx) {
  const total = { passed: 0, failed: 0, skipped: 0, failures: [] };
  const bins = ['hvd_native_tests', 'hvd_native_mpi_tests'].map((b) => path.join(ROOT, 'build', b));
  console.log('');
  log('=== native unit tests (GoogleTest) ===');
  const missing = bins.filter((b) => !fs.existsSync(b));
  if (missing.length) {
    const msg = `native: ${missing.map((m) => path.relative(ROOT, m)).join(', ')} not built (is libgtest-dev installed? node scripts/setup.js)`;
    log(msg);
    return { passed: 0, failed: 1, skipped: 0, failures: [msg] };
  }
  const env = mpiEnv();
  const runs = [
    { label: 'native', np: 0, bin: bins[0] },
    { label: 'native mpirun -np 2', np: 2, bin: bins[1] },
    { label: 'native mpirun -np 3', np: 3, bin: bins[1] },
  ];
  for (const run of runs) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-gtest-'));
    const ranks = run.np || 1;
    // Each rank writes its own report (the rank is only known inside the job).
    const command = run.np
      ? ['/bin/sh', '-c', `exec "${run.bin}" --gtest_output=json:"${dir}"/rank-$OMPI_COMM_WORLD_RANK.json`]
      : [run.bin, `--gtest_output=json:${path.join(dir, 'rank-0.json')}`];
    const argv = run.np ? mpirunArgv(run.np, env, command) : command;
    const r = await runWithTimeout(argv, env, Math.min(ctx.timeoutS, 300));
    const files = Array.from({ length: ranks }, (_, i) => path.join(dir, `rank-${i}.json`));
    const agg = gtestResults(files, run.label) || { passed: 0, failed: 1, skipped: 0, failures: [`${run.label}: no report from every rank (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}${r.timedOut ? ', timed out' : ''})`] };
    if (agg.failed === 0 && r.code !== 0) {
      agg.failed = 1;
      agg.failures.push(`${run.label}: exited with code ${r.code} although no test failed`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    log(`${run.label}: ${counts(agg)} (${r.seconds.toFixed(1)}s)`);
    total.passed += agg.passed;
    total.failed += agg.failed;
    total.failures.push(...agg.failures);
  }
  return total;
}

function counts({ passed, failed, skipped }) {
  return `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
}

function finish(total, failures) {
  if (failures.length) {
    console.log('');
    log('failures:');
    failures.forEach((f, i) => console.log(`  ${i + 1}) ${f}`));
  }
  console.log('');
  console.log(counts(total));
  process.exitCode = total.failed > 0 ? 1 : 0;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${TAG} ${e.message}\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    console.log(usage());
    return;
  }
  const total = { passed: 0, failed: 0, skipped: 0 };
  const failures = [];

  if (process.env.HVD_TEST_SKIP_SETUP !== '1') {
    const setup = require('./setup');
    try {
      setup.ensureSystemDeps();
      setup.ensureTestDeps();
      setup.ensureBuilt();
    } catch (e) {
      console.error(`${TAG} setup failed: ${e.message}`);
      total.failed = 1;
      finish(total, [`setup: ${firstLine(e.message)}`]);
      return;
    }
  }

  let mochaBin;
  try {
    mochaBin = require.resolve('mocha/bin/mocha.js', { paths: [ROOT] });
  } catch {
    console.error(`${TAG} mocha is not installed (run npm ci)`);
    total.failed = 1;
    finish(total, ['mocha is not installed']);
    return;
  }

  const single = findTests(path.join(ROOT, 'test', 'single'));
  const parallel = findTests(path.join(ROOT, 'test', 'parallel'));
  const runs = [
    { name: 'native', label: 'native unit tests', native: true },
    { name: 'single', label: 'single process', np: 0, files: [...single, ...parallel], globs: 'test/single/**/*.test.js, test/parallel/**/*.test.js' },
    { name: 'np2', label: 'mpirun -np 2', np: 2, files: parallel, globs: 'test/parallel/**/*.test.js' },
    // A lowered fusion threshold makes "larger than the threshold" cheap, and a
    // tiny MPI chunk size exercises the >2^31 splitting on every message.
    {
      name: 'np4', label: 'mpirun -np 4 (fusion 64 KiB, 4000-byte MPI chunks, cache of 3)', np: 4, files: parallel, globs: 'test/parallel/**/*.test.js',
      env: { HOROVOD_FUSION_THRESHOLD: '65536', HVD_MPI_MAX_CHUNK_BYTES: '4000', HOROVOD_CACHE_CAPACITY: '3' },
    },
    // The ring algorithm forced, at an odd rank count, with small segments;
    // no eager allreduces, so small tensors take the ring too.
    {
      name: 'np3', label: 'mpirun -np 3 (ring allreduce, no eager, fusion 64 KiB)', np: 3, files: parallel, globs: 'test/parallel/**/*.test.js',
      env: { HVD_ALLREDUCE_ALGORITHM: 'ring', HVD_RING_SEGMENT_BYTES: '1000', HOROVOD_FUSION_THRESHOLD: '65536', HVD_MPI_MAX_CHUNK_BYTES: '4000', HVD_EAGER_BYTES: '0' },
    },
  ];
  // The tfjs suites again on tfjs-node's 'tensorflow' backend, when it loads.
  const wantNode = !opts.only.length || opts.only.some((o) => o.startsWith('node-'));
  const node = wantNode ? tfjsNodeStatus() : null;
  if (node && node.ok) {
    const tfFiles = [...single, ...parallel].filter(usesTfjs);
    const tfParallel = parallel.filter(usesTfjs);
    const env = { HVD_TEST_TFJS_BACKEND: 'tensorflow', TF_CPP_MIN_LOG_LEVEL: '2' };
    const tag = `tfjs-node, TensorFlow ${node.tensorflow}`;
    const globs = 'test files that use tfjs';
    runs.push(
      { name: 'node-single', label: `single process (${tag})`, np: 0, files: tfFiles, globs, env },
      { name: 'node-np2', label: `mpirun -np 2 (${tag})`, np: 2, files: tfParallel, globs, env },
      { name: 'node-np3', label: `mpirun -np 3 (${tag})`, np: 3, files: tfParallel, globs, env },
    );
  } else if (node) {
    const msg = `tfjs-node does not load (${String(node.error).split('\n')[0]}): the tfjs suites ran on the cpu backend only; \`npm run setup:tfjs-node\` sets it up`;
    if (process.env.HVD_TEST_REQUIRE_TFJS_NODE === '1') {
      total.failed += 1;
      failures.push(`tfjs-node: ${msg}`);
    }
    log(msg);
  }
  const selected = runs.filter((r) => !opts.only.length || opts.only.includes(r.name));

  const timeoutS = Number(process.env.HVD_TEST_TIMEOUT_S) > 0 ? Number(process.env.HVD_TEST_TIMEOUT_S) : 1200;
  const ctx = { mochaBin, timeoutS };
  if (selected.some((r) => r.np || r.native)) {
    if (!which('mpirun')) {
      console.error(`${TAG} mpirun is not on PATH: run "node scripts/setup.js" (installs OpenMPI)`);
      total.failed += 1;
      failures.push('mpirun is not on PATH');
      finish(total, failures);
      return;
    }
  }

  const t0 = Date.now();
  const lines = [];
  for (const run of selected) {
    const agg = run.native ? await runNative(ctx) : await runSuite(run, opts, ctx);
    total.passed += agg.passed;
    total.failed += agg.failed;
    total.skipped += agg.skipped;
    failures.push(...agg.failures);
    lines.push(`${run.label}: ${counts(agg)}`);
    if (interruptedBy()) break;
  }
  console.log('');
  log(`summary (${((Date.now() - t0) / 1000).toFixed(1)}s):`);
  for (const l of lines) console.log(`  ${l}`);
  finish(total, failures);
  if (interruptedBy()) process.exitCode = 130;
}

main().catch((e) => {
  console.error(`${TAG} internal error: ${e && e.stack ? e.stack : e}`);
  console.log('');
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
