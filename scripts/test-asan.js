#!/usr/bin/env node
'use strict';
// `npm run test:asan`: the core parallel suite (test/parallel) at mpirun -np 2
// against an addon built with -fsanitize=address,undefined.
//
//   1. Makes sure gcc's sanitizer runtimes are installed (apt-get install
//      libasan8 libubsan1 when missing; nothing when present).
//   2. Builds the addon into build-asan/ (never build/: the normal addon is
//      untouched) with cmake-js, RelWithDebInfo, -fno-omit-frame-pointer.
//   3. Runs `node scripts/test.js --only np2` with HVD_NATIVE_PATH pointing at
//      that addon and libasan preloaded into every rank (Node itself is not
//      instrumented, so the ASan runtime must come first in the process).
//   4. Fails when any rank wrote a sanitizer report (logs are collected per
//      process under a temporary folder and printed), or the suite failed.
//
// Excluded, and why:
//   * test/parallel/memory.test.js: ASan's quarantine keeps freed memory
//     out of reuse (hundreds of MiB), so RSS bounds mean nothing here.
// LeakSanitizer runs at each rank's exit with scripts/lsan.supp, which names
// only Open MPI's libraries (they keep allocations past MPI_Finalize). For
// those frames to be seen, Open MPI keeps its plugins loaded
// (mca_base_component_disable_dlclose) and ASan unwinds malloc stacks fully
// (fast_unwind_on_malloc=0: Open MPI has no frame pointers); that full unwind
// is most of this run's time. Nothing from hvd, Node or V8 is suppressed.
// ASan (heap/stack overflows, use after free, double free) and UBSan
// (undefined behaviour, misaligned access, overflow) are fully on.
//
// Environment: HVD_ASAN_SKIP_BUILD=1 reuses build-asan/ as it is.

const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const setup = require('./setup');
const { makeLog, parseCommandLine, UsageError } = require('./lib/common');

const ROOT = path.resolve(__dirname, '..');
const TAG = '[hvd asan]';
const OUT = path.join(ROOT, 'build-asan');
const ADDON = path.join(OUT, 'Release', 'hvd.node');

const log = makeLog(TAG);

/** Path of a gcc runtime library (libasan.so), or null when not installed. */
function gccRuntime(name) {
  const r = childProcess.spawnSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' });
  const p = (r.stdout || '').trim();
  // gcc echoes the bare name when it cannot find the file.
  if (r.status !== 0 || !p || p === name || !fs.existsSync(p)) return null;
  return fs.realpathSync(p);
}

function ensureRuntimes() {
  if (gccRuntime('libasan.so') && gccRuntime('libubsan.so')) return;
  log('gcc sanitizer runtimes missing: installing libasan8 libubsan1');
  setup.aptInstall(['libasan8', 'libubsan1']);
  if (!gccRuntime('libasan.so')) throw new Error('libasan.so still not found after installing libasan8');
}

function build() {
  // CMakeLists.txt's HVD_SANITIZE adds the flags to every target (cmake-js
  // overwrites CMAKE_CXX_FLAGS, so they cannot be passed that way).
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [ROOT] });
  const argv = [
    process.execPath, cmakeJs, 'compile', '--log-level', 'warn', '-O', OUT,
    '--CDCMAKE_BUILD_TYPE=RelWithDebInfo',
    '--CDHVD_SANITIZE=address,undefined',
    '--CDHVD_BUILD_BENCH=OFF',
  ];
  log(`building the sanitizer addon into ${path.relative(ROOT, OUT)}/`);
  const r = childProcess.spawnSync(argv[0], argv.slice(1), { cwd: ROOT, env: setup.buildEnv(), stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`sanitizer build failed (exit ${r.status})`);
  // cmake-js names the build type folder after CMAKE_BUILD_TYPE on some versions.
  if (!fs.existsSync(ADDON)) {
    const alt = path.join(OUT, 'RelWithDebInfo', 'hvd.node');
    if (fs.existsSync(alt)) return alt;
    throw new Error(`the sanitizer build produced no ${ADDON}`);
  }
  return ADDON;
}

function reports(dir) {
  const out = [];
  for (const f of fs.readdirSync(dir)) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    if (text.trim()) out.push({ file: f, text });
  }
  return out;
}

function main() {
  const t0 = Date.now();
  if (process.env.HVD_TEST_SKIP_SETUP !== '1') {
    setup.ensureSystemDeps();
    setup.ensureBuilt({ quiet: true }); // dist/ (the TS layer) and the normal addon
  }
  ensureRuntimes();
  const addon = process.env.HVD_ASAN_SKIP_BUILD === '1' && fs.existsSync(ADDON) ? ADDON : build();
  const tBuilt = Date.now();
  const logs = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-asan-'));
  const env = {
    ...process.env,
    HVD_TEST_SKIP_SETUP: '1',
    HVD_NATIVE_PATH: addon,
    // test.js passes this to the ranks as LD_PRELOAD (not to mpirun itself).
    HVD_TEST_LD_PRELOAD: gccRuntime('libasan.so'),
    ASAN_OPTIONS: `detect_leaks=1:fast_unwind_on_malloc=0:halt_on_error=1:log_path=${logs}/asan`,
    LSAN_OPTIONS: `suppressions=${path.join(__dirname, 'lsan.supp')}:print_suppressions=0`,
    UBSAN_OPTIONS: `print_stacktrace=1:halt_on_error=0:log_path=${logs}/ubsan`,
    OMPI_MCA_mca_base_component_disable_dlclose: '1',
  };
  log(`running test/parallel at mpirun -np 2 under ASan+UBSan (reports go to ${logs})`);
  const r = childProcess.spawnSync(
    process.execPath,
    [path.join(__dirname, 'test.js'), '--only', 'np2', '--grep', '^memory: ', '--', '--invert'],
    { cwd: ROOT, env, stdio: 'inherit' },
  );
  const found = reports(logs);
  for (const { file, text } of found) {
    console.log(`\n${TAG} ==== ${file} ====\n${text}`);
  }
  const secs = (ms) => (ms / 1000).toFixed(0);
  log(`build ${secs(tBuilt - t0)} s, tests ${secs(Date.now() - tBuilt)} s, total ${secs(Date.now() - t0)} s`);
  if (found.length) {
    log(`FAILED: ${found.length} sanitizer report file(s) (printed above)`);
    process.exitCode = 1;
  } else if (r.status !== 0) {
    log(`FAILED: the suite failed under the sanitizers (exit ${r.status})`);
    process.exitCode = 1;
  } else {
    log('passed: no sanitizer reports');
    fs.rmSync(logs, { recursive: true, force: true });
  }
}

const USAGE =
  'usage: node scripts/test-asan.js [-h|--help]   (npm run test:asan)\n' +
  '  test/parallel at mpirun -np 2 against an ASan+UBSan build in build-asan/.\n' +
  '  HVD_ASAN_SKIP_BUILD=1 reuses build-asan/; HVD_TEST_SKIP_SETUP=1 skips the normal build.';

try {
  const { values } = parseCommandLine(process.argv.slice(2), { help: { type: 'boolean', short: 'h' } });
  if (values.help) console.log(USAGE);
  else main();
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`${TAG} ${e.message}\n${USAGE}`);
    process.exitCode = 2;
  } else {
    console.error(`${TAG} ERROR: ${e.message}`);
    process.exitCode = 1;
  }
}
