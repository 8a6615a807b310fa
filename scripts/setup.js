#!/usr/bin/env node
'use strict';
// Prepares a machine to build and test hvd. Node built-ins only: this file
// runs before node_modules exists (and ships in the package for consumers).
//
//   node scripts/setup.js               system deps + npm ci (when needed) + build
//   node scripts/setup.js --deps-only   system deps + npm ci, no build
//
// Environment:
//   HVD_SETUP_DRY_RUN=1   print the commands that would change the machine
//                         (apt-get, npm ci, build) instead of running them.

const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { which, isRoot, quoteArgv: fmt, makeLog, parseCommandLine, UsageError } = require('./lib/common');

const ROOT = path.resolve(__dirname, '..');
const TAG = '[hvd setup]';
const APT_PACKAGES_MPI = ['openmpi-bin', 'libopenmpi-dev'];

class SetupError extends Error {
  constructor(message) {
    super(message);
    this.name = 'SetupError';
  }
}

const log = makeLog(TAG);

function dryRun() {
  return process.env.HVD_SETUP_DRY_RUN === '1';
}

/** stdout of a command, or null when it cannot run or exits non-zero. */
function capture(cmd, args) {
  try {
    const r = childProcess.spawnSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30000,
    });
    if (r.error || r.status !== 0) return null;
    return r.stdout;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------

/** Include dirs reported by the MPI compiler wrapper (Open MPI or MPICH). */
function mpiIncludeDirsFromWrapper() {
  const mpicc = which('mpicc');
  if (!mpicc) return [];
  const ompi = capture(mpicc, ['--showme:incdirs']); // Open MPI
  if (ompi !== null) return ompi.split(/\s+/).filter(Boolean);
  const show = capture(mpicc, ['-show']); // MPICH / Intel MPI
  if (show !== null) {
    return show
      .split(/\s+/)
      .filter((t) => t.startsWith('-I'))
      .map((t) => t.slice(2));
  }
  return [];
}

/** Well-known locations of mpi.h for distro packages. */
function wellKnownMpiHeaders() {
  const out = ['/usr/include/mpi.h', '/usr/local/include/mpi.h', '/usr/include/openmpi/mpi.h'];
  // Debian/Ubuntu multiarch: /usr/lib/<triplet>/openmpi/include, /usr/include/<triplet>/mpich
  for (const base of ['/usr/lib', '/usr/include']) {
    let entries = [];
    try {
      entries = fs.readdirSync(base);
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!/-linux-gnu/.test(e)) continue;
      out.push(path.join(base, e, 'openmpi', 'include', 'mpi.h'));
      out.push(path.join(base, e, 'mpich', 'mpi.h'));
      out.push(path.join(base, e, 'openmpi', 'mpi.h'));
    }
  }
  // Fedora/RHEL: /usr/include/openmpi-x86_64/mpi.h
  try {
    for (const e of fs.readdirSync('/usr/include')) {
      if (/^(openmpi|mpich)/.test(e)) out.push(path.join('/usr/include', e, 'mpi.h'));
    }
  } catch {
    /* ignore */
  }
  return out;
}

/** Path of mpi.h, or null when the MPI development headers are missing. */
function findMpiHeader() {
  for (const dir of mpiIncludeDirsFromWrapper()) {
    const p = path.join(dir, 'mpi.h');
    if (fs.existsSync(p)) return p;
  }
  for (const p of wellKnownMpiHeaders()) {
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function findCxxCompiler() {
  if (process.env.CXX) {
    const first = process.env.CXX.trim().split(/\s+/)[0];
    const p = which(first);
    if (p) return p;
  }
  return which('c++') || which('g++') || which('clang++');
}

function cmakeVersion(cmake) {
  const out = capture(cmake, ['--version']);
  const m = out && /cmake version (\d+)\.(\d+)(?:\.(\d+))?/.exec(out);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] || 0)] : null;
}

/**
 * What is missing for an MPI + CMake build. Returns
 * { mpi: {mpirun, mpicc, header}, cmake, cmakeVersion, cxx, make, missing: [reasons] }.
 */
function detect() {
  const mpirun = which('mpirun') || which('mpiexec');
  const mpicc = which('mpicc');
  const header = findMpiHeader();
  const cmake = which('cmake');
  const cxx = findCxxCompiler();
  const make = which('make') || which('ninja');
  const missing = [];
  if (!mpirun) missing.push('mpirun (OpenMPI runtime) is not on PATH');
  if (!mpicc) missing.push('mpicc (OpenMPI compiler wrapper) is not on PATH');
  if (!header) missing.push('the MPI development headers (mpi.h) were not found');
  if (!cmake) missing.push('cmake is not on PATH');
  if (!cxx) missing.push('no C++ compiler (c++/g++/clang++) is on PATH');
  if (!make) missing.push('neither make nor ninja is on PATH');
  return {
    mpi: { mpirun, mpicc, header },
    cmake,
    cmakeVersion: cmake ? cmakeVersion(cmake) : null,
    cxx,
    make,
    missing,
  };
}

/** apt packages that would fix what detect() reports. */
function aptPackagesFor(d) {
  const pkgs = [];
  if (!d.mpi.mpirun || !d.mpi.mpicc || !d.mpi.header) pkgs.push(...APT_PACKAGES_MPI);
  if (!d.cmake) pkgs.push('cmake');
  if (!d.cxx) pkgs.push('g++');
  if (!d.make) pkgs.push('make');
  return pkgs;
}

function isMpiAvailable() {
  const d = detect();
  return Boolean(d.mpi.mpirun && d.mpi.mpicc && d.mpi.header);
}

// ---------------------------------------------------------------------------
// Installation
// ---------------------------------------------------------------------------

/** [] (root), ['sudo', '-n'] (passwordless sudo) or null (no way to get root). */
function privilegePrefix() {
  if (isRoot()) return [];
  const sudo = which('sudo');
  if (!sudo) return null;
  const r = childProcess.spawnSync(sudo, ['-n', 'true'], { stdio: 'ignore', timeout: 15000 });
  return r.status === 0 ? ['sudo', '-n'] : null;
}

/** Run a command with inherited stdio; throws SetupError on failure. */
function run(argv, { env, cwd } = {}) {
  if (dryRun()) {
    log(`(dry run) would run: ${fmt(argv)}`);
    return;
  }
  log(`$ ${fmt(argv)}`);
  const r = childProcess.spawnSync(argv[0], argv.slice(1), {
    stdio: 'inherit',
    env: env || process.env,
    cwd: cwd || ROOT,
  });
  if (r.error) throw new SetupError(`could not run ${argv[0]}: ${r.error.message}`);
  if (r.status !== 0) {
    const why = r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
    throw new SetupError(`command failed (${why}): ${fmt(argv)}`);
  }
}

function manualInstructions(pkgs) {
  const lines = [
    `Install them, then re-run:`,
    `    sudo apt-get update && sudo apt-get install -y ${pkgs.join(' ')}`,
  ];
  if (process.platform === 'darwin') {
    lines.push(`  macOS:         brew install open-mpi cmake`);
  } else {
    lines.push(`  Fedora/RHEL:   sudo dnf install -y openmpi openmpi-devel cmake gcc-c++ make` +
      ` && module load mpi/openmpi-$(uname -m)`);
  }
  return lines.join('\n');
}

function aptInstall(pkgs) {
  const apt = which('apt-get');
  if (!apt) {
    throw new SetupError(
      `missing system packages and apt-get is not available on this machine.\n` +
        manualInstructions(pkgs),
    );
  }
  const prefix = privilegePrefix();
  if (prefix === null) {
    throw new SetupError(
      `installing system packages needs root (not root, and passwordless sudo is not available).\n` +
        `Run this, then re-run:\n` +
        `    sudo apt-get update && sudo apt-get install -y ${pkgs.join(' ')}`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // sudo resets the environment; pass DEBIAN_FRONTEND through explicitly.
  const sudoEnv = prefix.length ? ['env', 'DEBIAN_FRONTEND=noninteractive'] : [];
  log(`installing system packages: ${pkgs.join(' ')}`);
  run([...prefix, ...sudoEnv, 'apt-get', 'update'], { env });
  run([...prefix, ...sudoEnv, 'apt-get', 'install', '-y', ...pkgs], { env });
}

function npmCommand() {
  // Prefer the npm that is running us (npm test / npm run ...), else PATH.
  const execpath = process.env.npm_execpath;
  if (execpath && /npm-cli\.js$/.test(execpath) && fs.existsSync(execpath)) {
    return [process.execPath, execpath];
  }
  const npm = which('npm');
  if (!npm) throw new SetupError('npm is not on PATH');
  return [npm];
}

function needsNpmCi() {
  const nm = path.join(ROOT, 'node_modules');
  const lock = path.join(ROOT, 'package-lock.json');
  const installedLock = path.join(nm, '.package-lock.json');
  if (!fs.existsSync(nm)) return 'node_modules is missing';
  if (!fs.existsSync(lock)) return null;
  if (!fs.existsSync(installedLock)) return 'node_modules/.package-lock.json is missing';
  if (fs.statSync(lock).mtimeMs > fs.statSync(installedLock).mtimeMs) {
    return 'package-lock.json is newer than node_modules';
  }
  return null;
}

/**
 * Environment for builds: points cmake-js / node-gyp at the local Node headers
 * (no download) and builds in parallel.
 */
function buildEnv(base = process.env) {
  const env = { ...base };
  if (!env.npm_config_nodedir) {
    const prefix = path.dirname(path.dirname(process.execPath));
    if (fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) {
      env.npm_config_nodedir = prefix;
    }
  }
  if (!env.CMAKE_BUILD_PARALLEL_LEVEL) {
    const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    env.CMAKE_BUILD_PARALLEL_LEVEL = String(Math.max(1, n));
  }
  return env;
}

/**
 * Makes sure OpenMPI (runtime + headers), cmake, a C++ compiler and make are
 * installed (apt-get, as root or with passwordless sudo) and that node_modules
 * is in sync with package-lock.json (npm ci). Throws SetupError with an
 * actionable message when it cannot fix things itself.
 */
function ensureSystemDeps() {
  let d = detect();
  if (d.missing.length) {
    for (const m of d.missing) log(`missing: ${m}`);
    const pkgs = aptPackagesFor(d);
    aptInstall(pkgs);
    if (!dryRun()) {
      d = detect();
      if (d.missing.length) {
        throw new SetupError(
          `still missing after installing ${pkgs.join(' ')}:\n` +
            d.missing.map((m) => `    - ${m}`).join('\n') +
            `\nCheck that the installed tools are on PATH (PATH=${process.env.PATH}).`,
        );
      }
    }
  } else {
    log(`found MPI (${d.mpi.mpirun}, ${d.mpi.header}), cmake, ${path.basename(d.cxx)}`);
  }
  if (d.cmakeVersion) {
    const [maj, min] = d.cmakeVersion;
    if (maj < 3 || (maj === 3 && min < 15)) {
      throw new SetupError(
        `cmake ${d.cmakeVersion.join('.')} is too old; hvd needs cmake >= 3.15.\n` +
          `    sudo apt-get install -y cmake   (or: pip install cmake)`,
      );
    }
  }

  const why = needsNpmCi();
  const nm = path.join(ROOT, 'node_modules');
  if (why && fs.existsSync(nm) && fs.lstatSync(nm).isSymbolicLink()) {
    // npm ci would empty the symlink's target (someone else's node_modules).
    log(`WARNING: ${why}, but node_modules is a symlink; not running npm ci (run it where it points)`);
  } else if (why) {
    log(`running npm ci (${why})`);
    run([...npmCommand(), 'ci'], { env: buildEnv() });
  }
}

/**
 * Builds the native addon (cmake-js, incremental) and the TypeScript (tsc):
 * `npm run build`. With quiet, the build output is shown only on failure.
 */
function ensureBuilt({ quiet = false } = {}) {
  const argv = [...npmCommand(), 'run', 'build'];
  if (dryRun()) {
    log(`(dry run) would run: ${fmt(argv)}`);
    return;
  }
  const t0 = Date.now();
  log(`building (${quiet ? 'quiet' : 'npm run build'}) ...`);
  const r = childProcess.spawnSync(argv[0], argv.slice(1), {
    cwd: ROOT,
    env: buildEnv(),
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw new SetupError(`could not run npm: ${r.error.message}`);
  if (r.status !== 0) {
    if (quiet) {
      process.stdout.write(r.stdout || '');
      process.stderr.write(r.stderr || '');
    }
    throw new SetupError(
      `build failed (npm run build, exit code ${r.status}).\n` +
        `Possible solutions:\n` +
        `  - run "node scripts/setup.js" to install OpenMPI, cmake and g++\n` +
        `  - remove build/ and retry if the CMake cache is stale (rm -rf build)`,
    );
  }
  log(`build ok (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

/**
 * The native unit tests (npm test) need GoogleTest: Debian's libgtest-dev,
 * installed with apt-get when its headers are missing. Only the test runner
 * calls this; images and consumer installs build without the tests.
 */
function ensureTestDeps() {
  const have = ['/usr/include/gtest/gtest.h', '/usr/local/include/gtest/gtest.h'].some((f) => fs.existsSync(f));
  if (!have) {
    log('missing: GoogleTest (the native unit tests)');
    aptInstall(['libgtest-dev']);
  }
  // `npm ci` built the addon with HVD_BUILD_TESTS=OFF (scripts/install.js),
  // and CMake keeps that in its cache: turn the tests on in the existing
  // build folder, so the next build (ensureBuilt) compiles them too.
  const cache = path.join(ROOT, 'build', 'CMakeCache.txt');
  const cmake = which('cmake');
  if (cmake && fs.existsSync(cache) && /^HVD_BUILD_TESTS:BOOL=OFF$/m.test(fs.readFileSync(cache, 'utf8'))) {
    log('enabling the native unit tests in build/ (HVD_BUILD_TESTS=ON)');
    run([cmake, '-DHVD_BUILD_TESTS=ON', path.join(ROOT, 'build')], { env: buildEnv() });
  }
}

const USAGE =
  'usage: node scripts/setup.js [--deps-only] [-h|--help]\n' +
  '  Installs OpenMPI/cmake/g++ (apt-get) if missing, runs npm ci if needed, builds hvd.\n' +
  '  --deps-only   system deps and npm ci, no build\n' +
  '  HVD_SETUP_DRY_RUN=1 prints the commands instead of running them.';

function main(argv) {
  let values;
  try {
    ({ values } = parseCommandLine(argv, { 'deps-only': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${TAG} ${e.message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const depsOnly = Boolean(values['deps-only']);
  try {
    ensureSystemDeps();
    if (!depsOnly) ensureBuilt();
    log('done');
    return 0;
  } catch (e) {
    if (e instanceof SetupError) {
      console.error(`${TAG} ERROR: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

module.exports = {
  aptInstall,
  ensureSystemDeps,
  ensureTestDeps,
  ensureBuilt,
  detect,
  isMpiAvailable,
  findMpiHeader,
  buildEnv,
  SetupError,
};

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
