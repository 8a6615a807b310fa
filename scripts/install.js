#!/usr/bin/env node
'use strict';
// npm "install" lifecycle hook: builds the native addon (build/Release/hvd.node)
// with cmake-js. Runs when a consumer installs hvd from a path or tarball, and
// during `npm ci` / `npm install` in this repository.
//
// Environment:
//   HVD_SKIP_BUILD=1        do nothing (e.g. you ship your own hvd.node)
//   HVD_NATIVE_PATH=<file>  a prebuilt hvd.node; when the file exists the build is skipped
//   HVD_BUILD_VERBOSE=1     show the full cmake-js/compiler output

const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const TAG = '[hvd install]';
const setup = require('./setup');

function log(msg) {
  console.log(`${TAG} ${msg}`);
}

function solutions() {
  return [
    `${TAG} Possible solutions:`,
    `  1. Install OpenMPI (runtime + headers):`,
    `       sudo apt-get update && sudo apt-get install -y openmpi-bin libopenmpi-dev`,
    `  2. Install the build tools:`,
    `       sudo apt-get install -y cmake g++ make`,
    `  3. Use a prebuilt addon instead of building: set HVD_NATIVE_PATH=/abs/path/to/hvd.node`,
    `     (and HVD_SKIP_BUILD=1 to skip this step), then reinstall.`,
    `  In the hvd repository, "node scripts/setup.js" does 1 and 2 for you (as root or with sudo).`,
    `  Re-run with HVD_BUILD_VERBOSE=1 for the full build log.`,
  ].join('\n');
}

function tail(text, lines) {
  const all = text.split('\n');
  return all.length > lines ? ['...', ...all.slice(-lines)].join('\n') : text;
}

function main() {
  if (process.env.HVD_SKIP_BUILD === '1') {
    log('HVD_SKIP_BUILD=1: skipping the native build');
    return 0;
  }
  const prebuilt = process.env.HVD_NATIVE_PATH;
  if (prebuilt && fs.existsSync(prebuilt)) {
    log(`HVD_NATIVE_PATH=${prebuilt} exists: skipping the native build`);
    return 0;
  }

  const d = setup.detect();
  if (d.missing.length) {
    const mpiMissing = !d.mpi.mpirun || !d.mpi.mpicc || !d.mpi.header;
    console.error(
      `${TAG} ERROR: cannot build the hvd native addon:` +
        (mpiMissing ? ' MPI (OpenMPI) is not installed.' : ''),
    );
    for (const m of d.missing) console.error(`${TAG}   - ${m}`);
    console.error(solutions());
    return 1;
  }

  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [ROOT] });
  } catch {
    console.error(`${TAG} ERROR: cmake-js is not installed (it is a dependency of hvd; run npm install).`);
    return 1;
  }

  const verbose = process.env.HVD_BUILD_VERBOSE === '1';
  // A consumer's install builds the addon only: no benchmark, no unit tests.
  const args = [cmakeJs, 'compile', '--directory', ROOT, '--log-level', verbose ? 'info' : 'warn', '--CDHVD_BUILD_TESTS=OFF'];
  const t0 = Date.now();
  log(`building the native addon with cmake-js (MPI: ${d.mpi.header}) ...`);
  // stdout and stderr go to one temp file so the log keeps its order.
  const logFile = path.join(os.tmpdir(), `hvd-install-${process.pid}.log`);
  const fd = verbose ? null : fs.openSync(logFile, 'w');
  let r;
  try {
    r = childProcess.spawnSync(process.execPath, args, {
      cwd: ROOT,
      env: setup.buildEnv(),
      stdio: verbose ? 'inherit' : ['ignore', fd, fd],
    });
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
  let output = '';
  if (!verbose) {
    output = fs.readFileSync(logFile, 'utf8');
    fs.rmSync(logFile, { force: true });
  }
  const addon = path.join(ROOT, 'build', 'Release', 'hvd.node');
  if (r.error || r.status !== 0 || !fs.existsSync(addon)) {
    if (output.trim()) console.error(tail(output.trim(), 200));
    const why = r.error
      ? r.error.message
      : r.status !== 0
        ? r.signal
          ? `killed by ${r.signal}`
          : `exit code ${r.status}`
        : `${addon} was not produced`;
    console.error(`${TAG} ERROR: building the hvd native addon failed (${why}).`);
    console.error(solutions());
    return 1;
  }
  log(`built ${path.relative(ROOT, addon)} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  return 0;
}

process.exitCode = main();
