#!/usr/bin/env node
'use strict';
// `npm run setup:tfjs-node`: makes require('@tensorflow/tfjs-node') load, with
// the tfjs-node release that matches the repo's @tensorflow/tfjs.
//
//   node scripts/setup-tfjs-node.js [--route auto|download|wheel] [--tf-version X.Y.Z] [--force] [--check]
//
// tfjs-node's own install downloads libtensorflow 2.9.1 and a prebuilt addon
// from storage.googleapis.com. Where that works (route "download") nothing
// else is needed. Where it cannot (no route to that host), route "wheel"
// takes TensorFlow's C library from the tensorflow-cpu manylinux wheel on PyPI
// instead: `pip download --no-deps` (nothing is installed into Python), the
// wheel's libtensorflow_cc.so.2 (which exports the TF_* and TFE_* C APIs) and
// libtensorflow_framework.so.2 plus the C headers go into tfjs-node's deps/,
// and its addon is compiled against them with node-gyp and the local Node
// headers. "auto" (the default) tries download first, then the wheel.
//
// Everything is staged under .cache/tfjs-node/ (gitignored; the wheel, the
// extracted library and a private npm install), then the finished package is
// placed at node_modules/@tensorflow/tfjs-node with its own dependencies
// nested inside it, so it shares the root's @tensorflow/tfjs (one tfjs
// instance) and nothing in package.json or package-lock.json changes. `npm ci`
// removes it again; re-running this script puts it back in seconds from the
// cache. When tfjs-node already loads, the script only reports and exits.
//
// Environment: HVD_TFJS_NODE_ROUTE (as --route), HVD_TF_WHEEL_VERSION (as
// --tf-version), HVD_TFJS_NODE_CACHE (cache folder, default .cache/tfjs-node),
// HVD_PYTHON (python with pip, default python3).
//
// Exit status: 0 when tfjs-node loads at the end, 1 otherwise (with the reason).

const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { quoteArgv: fmt, tailLines: tail, makeLog, parseCommandLine, UsageError } = require('./lib/common');

const ROOT = path.resolve(__dirname, '..');
const TAG = '[hvd setup:tfjs-node]';
const PKG = '@tensorflow/tfjs-node';

/**
 * The TensorFlow wheel used by the wheel route (manylinux2014: glibc 2.17).
 * 2.15.1 is the default: see the README's tfjs-node section for the versions
 * tried. Its sha256 is pinned below.
 */
const DEFAULT_TF_VERSION = '2.15.1';
const WHEEL_PYTHON = '311'; // the C libraries are the same for every Python tag
const WHEEL_PLATFORM = 'manylinux2014_x86_64';
const PINNED_SHA256 = {
  'tensorflow_cpu-2.15.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl':
    '54660c074d7241a503e81edfd9f5ef5af88f64051b72e2945f26318c790f2d26',
};
// What the binding's sources include (tensorflow/c/c_api.h, eager/c_api.h and
// what they pull in; tsl/ moved under xla/tsl/ in 2.18); the wheel's other
// 170 MB of headers are not needed.
const HEADER_PREFIXES = ['tensorflow/c/', 'tensorflow/core/platform/', 'tsl/c/', 'tsl/platform/', 'xla/tsl/c/', 'xla/tsl/platform/'];

class SetupError extends Error {}

const log = makeLog(TAG);

function usage() {
  return (
    'usage: node scripts/setup-tfjs-node.js [--route auto|download|wheel] [--tf-version X.Y.Z] [--force] [--check]\n' +
    '  --route      auto (default): tfjs-node\'s own download, else the tensorflow-cpu wheel from PyPI\n' +
    '  --tf-version TensorFlow release whose wheel the wheel route uses (default ' + DEFAULT_TF_VERSION + ')\n' +
    '  --force      rebuild even when tfjs-node already loads\n' +
    '  --check      only report whether tfjs-node loads (exit 0 if it does)'
  );
}

/** The command line; throws a UsageError naming a bad argument. */
function parseArgs(argv) {
  const { values } = parseCommandLine(argv, {
    route: { type: 'string' },
    'tf-version': { type: 'string' },
    force: { type: 'boolean' },
    check: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const opts = {
    route: values.route ?? (process.env.HVD_TFJS_NODE_ROUTE || 'auto'),
    tfVersion: values['tf-version'] ?? (process.env.HVD_TF_WHEEL_VERSION || DEFAULT_TF_VERSION),
    force: Boolean(values.force),
    check: Boolean(values.check),
    help: Boolean(values.help),
  };
  if (!['auto', 'download', 'wheel'].includes(opts.route)) {
    throw new UsageError(`--route must be auto, download or wheel; got '${opts.route}'`);
  }
  if (!/^\d+\.\d+\.\d+$/.test(opts.tfVersion)) {
    throw new UsageError(`--tf-version must look like 2.15.1; got '${opts.tfVersion}'`);
  }
  return opts;
}

/** Runs argv with inherited stdio; returns the exit code (throws when it cannot start). */
function run(argv, { cwd, env, timeoutS = 900, quiet = false, show } = {}) {
  log(`$ ${show || fmt(argv)}${cwd && cwd !== ROOT ? `   (in ${path.relative(ROOT, cwd) || '.'})` : ''}`);
  const r = childProcess.spawnSync(argv[0], argv.slice(1), {
    cwd: cwd || ROOT,
    env: env || process.env,
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    killSignal: 'SIGKILL',
  });
  if (r.error && r.error.code !== 'ETIMEDOUT') throw new SetupError(`could not run ${argv[0]}: ${r.error.message}`);
  const out = quiet ? `${r.stdout || ''}${r.stderr || ''}` : '';
  if (r.error) return { code: 124, out: `${out}\n(timed out after ${timeoutS}s)` };
  return { code: r.status === null ? 128 : r.status, out };
}

function mustRun(argv, opts) {
  const r = run(argv, opts);
  if (r.code !== 0) {
    throw new SetupError(`command failed (exit code ${r.code}): ${fmt(argv)}${r.out ? `\n${tail(r.out, 25)}` : ''}`);
  }
  return r;
}

function npmArgv() {
  const execpath = process.env.npm_execpath;
  if (execpath && /npm-cli\.js$/.test(execpath) && fs.existsSync(execpath)) return [process.execPath, execpath];
  return ['npm'];
}

/** Node headers for node-gyp: the local install when it has them (no download). */
function buildEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  if (!env.npm_config_nodedir) {
    const prefix = path.dirname(path.dirname(process.execPath));
    if (fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) env.npm_config_nodedir = prefix;
  }
  return env;
}

// ---------------------------------------------------------------------------
// Probing: does tfjs-node load from a folder? (in a child: a bad addon can abort)
// ---------------------------------------------------------------------------

const PROBE = `
const out = {};
try {
  const tf = require('@tensorflow/tfjs-node');
  out.backend = tf.getBackend();
  out.tfjsNode = tf.version['tfjs-node'];
  out.tfjs = tf.version.tfjs;
  out.tensorflow = tf.backend().binding.TF_Version;
  // The application's tfjs must see tfjs-node's backend (one tfjs instance).
  out.sharedTfjs = require('@tensorflow/tfjs').getBackend() === 'tensorflow';
  const a = tf.tensor2d([[1, 2], [3, 4]]);
  out.matmul = Array.from(tf.matMul(a, a).dataSync());
  const g = tf.grad((x) => tf.conv2d(x, tf.ones([3, 3, 1, 2]), 1, 'valid').sum())(tf.ones([1, 4, 4, 1]));
  out.convGradSum = g.sum().dataSync()[0];
  out.path = require.resolve('@tensorflow/tfjs-node');
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = String(e && e.message || e).split('\\n').slice(0, 4).join(' | ');
}
process.stdout.write('\\n@@PROBE ' + JSON.stringify(out) + '\\n');
`;

function probe(cwd) {
  const r = childProcess.spawnSync(process.execPath, ['-e', PROBE], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
    timeout: 120000,
  });
  const line = String(r.stdout || '').split('\n').find((l) => l.startsWith('@@PROBE '));
  if (!line) {
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
    return { ok: false, error: `the probe crashed (${why}): ${tail(r.stderr || '', 3)}` };
  }
  const res = JSON.parse(line.slice('@@PROBE '.length));
  if (res.ok) {
    // 2x2 matmul, and the gradient of a 3x3 valid convolution's sum over a
    // 4x4 input: 4 windows x 9 pixels x 2 output channels = 72.
    const good = res.matmul.join(',') === '7,10,15,22' && res.convGradSum === 72;
    if (!good) return { ...res, ok: false, error: `tfjs-node loads but computes wrong results (matmul ${res.matmul}, conv grad ${res.convGradSum})` };
    if (res.backend !== 'tensorflow') return { ...res, ok: false, error: `tfjs-node loads but the backend is '${res.backend}'` };
    if (!res.sharedTfjs) return { ...res, ok: false, error: "tfjs-node loads but @tensorflow/tfjs does not see its backend (two tfjs instances)" };
  }
  return res;
}

function wantedVersion() {
  let v;
  try {
    v = require(require.resolve('@tensorflow/tfjs/package.json', { paths: [ROOT] })).version;
  } catch {
    throw new SetupError('@tensorflow/tfjs is not installed in node_modules: run `npm ci` (or `node scripts/setup.js --deps-only`) first');
  }
  return v;
}

// ---------------------------------------------------------------------------
// Staging: a private npm project with tfjs-node installed, scripts not run
// ---------------------------------------------------------------------------

function cacheDir() {
  return path.resolve(process.env.HVD_TFJS_NODE_CACHE || path.join(ROOT, '.cache', 'tfjs-node'));
}

function stagePackage(version) {
  const stage = path.join(cacheDir(), `stage-${version}`);
  const pkgDir = path.join(stage, 'node_modules', ...PKG.split('/'));
  let have = null;
  try {
    have = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  } catch {
    /* not staged yet */
  }
  if (have !== version) {
    fs.mkdirSync(stage, { recursive: true });
    fs.writeFileSync(
      path.join(stage, 'package.json'),
      JSON.stringify({ name: 'hvd-tfjs-node-stage', private: true, description: 'written by hvd scripts/setup-tfjs-node.js', dependencies: { [PKG]: version } }, null, 2) + '\n',
    );
    mustRun([...npmArgv(), 'install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: stage });
  }
  return { stage, pkgDir };
}

/** Removes what a previous build or download left in the staged package. */
function cleanBuild(pkgDir) {
  for (const d of ['deps', 'lib', 'build', 'scripts/custom-binary.json']) fs.rmSync(path.join(pkgDir, d), { recursive: true, force: true });
  for (const e of fs.readdirSync(pkgDir)) {
    if (e.startsWith('build-tmp-')) fs.rmSync(path.join(pkgDir, e), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Route "download": tfjs-node's own install script
// ---------------------------------------------------------------------------

function routeDownload(stage, pkgDir) {
  log('route download: tfjs-node\'s own install (libtensorflow 2.9.1 and its addon from storage.googleapis.com)');
  cleanBuild(pkgDir);
  const r = run([...npmArgv(), 'rebuild', PKG, '--foreground-scripts'], { cwd: stage, env: buildEnv(), timeoutS: 900, quiet: true });
  if (r.code !== 0) {
    const why = (r.out.match(/(getaddrinfo \w+[^\n]*|ENOTFOUND[^\n]*|ECONNREFUSED[^\n]*|ETIMEDOUT[^\n]*|HTTP[^\n]*40\d[^\n]*)/) || [])[0];
    return { ok: false, error: `npm rebuild ${PKG} failed (exit code ${r.code})${why ? `: ${why.trim()}` : ''}\n${tail(r.out, 6)}` };
  }
  return probe(stage);
}

// ---------------------------------------------------------------------------
// Route "wheel": TensorFlow's C library from the tensorflow-cpu wheel
// ---------------------------------------------------------------------------

function sha256(file) {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 22);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function python() {
  const py = process.env.HVD_PYTHON || 'python3';
  const r = childProcess.spawnSync(py, ['-m', 'pip', '--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new SetupError(
      `the wheel route needs Python with pip to download the tensorflow-cpu wheel (tried '${py} -m pip'):\n` +
        '    sudo apt-get install -y python3-pip      (or set HVD_PYTHON to a python that has pip)',
    );
  }
  return py;
}

function findWheel(dir, tfVersion) {
  if (!fs.existsSync(dir)) return null;
  const name = fs.readdirSync(dir).find((f) => f.startsWith(`tensorflow_cpu-${tfVersion}-`) && f.endsWith('.whl'));
  return name ? path.join(dir, name) : null;
}

function ensureWheel(tfVersion) {
  if (process.arch !== 'x64' || process.platform !== 'linux') {
    throw new SetupError(`the wheel route is for Linux x86_64 (this is ${process.platform}-${process.arch})`);
  }
  const dir = path.join(cacheDir(), 'wheels');
  let whl = findWheel(dir, tfVersion);
  if (!whl) {
    const py = python();
    fs.mkdirSync(dir, { recursive: true });
    mustRun(
      [py, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--python-version', WHEEL_PYTHON,
        '--platform', WHEEL_PLATFORM, '--dest', dir, '--progress-bar', 'off', `tensorflow-cpu==${tfVersion}`],
      { timeoutS: 1800 },
    );
    whl = findWheel(dir, tfVersion);
    if (!whl) throw new SetupError(`pip reported success but no tensorflow_cpu-${tfVersion}-*.whl is in ${dir}`);
  }
  const pinned = PINNED_SHA256[path.basename(whl)];
  const got = sha256(whl);
  if (pinned && got !== pinned) {
    fs.rmSync(whl, { force: true });
    throw new SetupError(`${path.basename(whl)}: sha256 ${got} is not the pinned ${pinned}; deleted it, run again`);
  }
  log(`wheel ${path.basename(whl)} (sha256 ${got.slice(0, 16)}...${pinned ? ', pinned' : ', not pinned: a non-default version'})`);
  return whl;
}

// Unpacks the two libraries and the C headers; python's zipfile reads the
// wheel without loading it whole (the libraries are 600 MB unpacked).
const UNPACK_PY = `
import os, sys, zipfile, shutil
whl, dest, prefixes = sys.argv[1], sys.argv[2], sys.argv[3].split(',')
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
found = set()
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        n = info.filename
        if n in libs:
            out = os.path.join(dest, 'lib', os.path.basename(n)); found.add(n)
        elif n.startswith('tensorflow/include/') and not n.endswith('/') and any(n[len('tensorflow/include/'):].startswith(p) for p in prefixes):
            out = os.path.join(dest, 'include', n[len('tensorflow/include/'):])
        elif n.endswith('.dist-info/LICENSE') or n.endswith('.dist-info/METADATA'):
            out = os.path.join(dest, os.path.basename(n))
        else:
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out + '.part', 'wb') as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
        os.replace(out + '.part', out)
        if n in libs: os.chmod(out, 0o755)
missing = libs - found
if missing: sys.exit('not in the wheel: ' + ', '.join(sorted(missing)))
`;

function ensureLibrary(tfVersion) {
  const dest = path.join(cacheDir(), `libtensorflow-${tfVersion}`);
  const done = path.join(dest, '.complete');
  const stampText = `headers: ${HEADER_PREFIXES.join(',')}`;
  if (fs.existsSync(done) && fs.readFileSync(done, 'utf8').includes(stampText)) return dest;
  const whl = ensureWheel(tfVersion);
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  log(`unpacking libtensorflow_cc.so.2, libtensorflow_framework.so.2 and the C headers into ${path.relative(ROOT, dest)}`);
  const py = python();
  mustRun([py, '-c', UNPACK_PY, whl, dest, HEADER_PREFIXES.join(',')], { quiet: true, show: `${py} -c <unpack> ${path.basename(whl)}` });
  for (const h of ['tensorflow/c/c_api.h', 'tensorflow/c/eager/c_api.h']) {
    if (!fs.existsSync(path.join(dest, 'include', h))) throw new SetupError(`the wheel has no ${h}`);
  }
  checkExports(path.join(dest, 'lib', 'libtensorflow_cc.so.2'));
  fs.writeFileSync(done, `${new Date().toISOString()} ${path.basename(whl)}\n${stampText}\n`);
  return dest;
}

/** The C and eager C entry points the tfjs-node binding calls must be exported. */
function checkExports(lib) {
  const r = childProcess.spawnSync('nm', ['-D', '--defined-only', lib], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error || r.status !== 0) {
    log('nm is not available: skipping the export check (the build or the load will tell)');
    return;
  }
  // "0000000008474780 T TF_Version@@tensorflow": the name without its version tag.
  const names = new Set(r.stdout.split('\n').map((l) => (l.trim().split(/\s+/).pop() || '').split('@')[0]));
  const needed = ['TF_Version', 'TF_NewTensor', 'TF_TensorData', 'TFE_NewContext', 'TFE_NewOp', 'TFE_Execute', 'TFE_NewTensorHandle', 'TFE_TensorHandleResolve', 'TFE_OpSetAttrType'];
  const missing = needed.filter((s) => !names.has(s));
  if (missing.length) throw new SetupError(`${path.basename(lib)} does not export ${missing.join(', ')}: this TensorFlow wheel cannot back tfjs-node`);
  const tf = [...names].filter((s) => /^TFE?_/.test(s)).length;
  log(`${path.basename(lib)} exports ${tf} TF_/TFE_ symbols (checked ${needed.length} the binding needs)`);
}

/**
 * Copies a tree; files of 1 MiB and more (the libraries) are hard-linked when
 * on the same file system, so the cache, the stage and node_modules share one
 * copy. Small files are copied: tfjs-node's install script rewrites its
 * package.json in place. Symlinks are recreated.
 */
function linkTree(src, dst) {
  const st = fs.lstatSync(src);
  if (st.isDirectory()) {
    fs.mkdirSync(dst, { recursive: true });
    for (const e of fs.readdirSync(src)) linkTree(path.join(src, e), path.join(dst, e));
  } else if (st.isSymbolicLink()) {
    fs.rmSync(dst, { force: true });
    fs.symlinkSync(fs.readlinkSync(src), dst);
  } else {
    fs.rmSync(dst, { force: true });
    try {
      if (st.size < 1 << 20) throw new Error('small: copy');
      fs.linkSync(src, dst);
    } catch {
      fs.copyFileSync(src, dst);
      fs.chmodSync(dst, st.mode);
    }
  }
}

/**
 * tfjs-node's binding.gyp links -ltensorflow -ltensorflow_framework from
 * deps/lib with rpath $ORIGIN/../../deps/lib, and its install script treats
 * deps/lib/libtensorflow.so.<2.9.1> as "library present". The addon records
 * the libraries' sonames (libtensorflow_cc.so.2, libtensorflow_framework.so.2),
 * so those are the real files and the rest are symlinks to them.
 */
function populateDeps(pkgDir, libDir) {
  const deps = path.join(pkgDir, 'deps');
  linkTree(path.join(libDir, 'include'), path.join(deps, 'include'));
  const lib = path.join(deps, 'lib');
  fs.mkdirSync(lib, { recursive: true });
  linkTree(path.join(libDir, 'lib', 'libtensorflow_cc.so.2'), path.join(lib, 'libtensorflow_cc.so.2'));
  linkTree(path.join(libDir, 'lib', 'libtensorflow_framework.so.2'), path.join(lib, 'libtensorflow_framework.so.2'));
  const constants = require(path.join(pkgDir, 'scripts', 'deps-constants.js'));
  const links = {
    'libtensorflow.so': 'libtensorflow_cc.so.2',
    'libtensorflow.so.2': 'libtensorflow_cc.so.2',
    [constants.depsLibTensorFlowName]: 'libtensorflow_cc.so.2',
    'libtensorflow_framework.so': 'libtensorflow_framework.so.2',
    [constants.depsLibTensorFlowFrameworkName]: 'libtensorflow_framework.so.2',
  };
  for (const [name, target] of Object.entries(links)) {
    fs.rmSync(path.join(lib, name), { force: true });
    fs.symlinkSync(target, path.join(lib, name));
  }
  for (const f of ['LICENSE', 'METADATA']) {
    if (fs.existsSync(path.join(libDir, f))) linkTree(path.join(libDir, f), path.join(deps, `tensorflow-wheel-${f}`));
  }
  // A "tf-lib" entry makes tfjs-node's install script build the addon from
  // source instead of fetching its prebuilt one (made for libtensorflow 2.9.1).
  fs.writeFileSync(path.join(pkgDir, 'scripts', 'custom-binary.json'), JSON.stringify({ 'tf-lib': `file://${libDir} (set up by hvd scripts/setup-tfjs-node.js)` }) + '\n');
}

function routeWheel(stage, pkgDir, tfVersion) {
  log(`route wheel: TensorFlow ${tfVersion}'s C library from the tensorflow-cpu wheel on PyPI`);
  const libDir = ensureLibrary(tfVersion);
  cleanBuild(pkgDir);
  populateDeps(pkgDir, libDir);
  // With deps/lib in place tfjs-node's install script skips its library
  // download and (custom-binary.json) compiles the binding with node-gyp.
  const env = buildEnv();
  log(`building the tfjs-node addon against TensorFlow ${tfVersion} (node-gyp${env.npm_config_nodedir ? `, Node headers from ${env.npm_config_nodedir}/include/node` : ''})`);
  const r = run([...npmArgv(), 'rebuild', PKG, '--foreground-scripts'], { cwd: stage, env, timeoutS: 1200, quiet: true });
  if (r.code !== 0) {
    return { ok: false, error: `building the addon failed (npm rebuild ${PKG}, exit code ${r.code}):\n${tail(r.out, 30)}` };
  }
  return probe(stage);
}

// ---------------------------------------------------------------------------
// Installing the staged package into the repo's node_modules
// ---------------------------------------------------------------------------

function install(stage, pkgDir) {
  const dst = path.join(ROOT, 'node_modules', ...PKG.split('/'));
  const tmp = `${dst}.hvd-tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  linkTree(pkgDir, tmp);
  // Its dependencies go inside it, except @tensorflow/*: those resolve to the
  // root's, so tfjs-node registers its backend with the application's tfjs.
  const nm = path.join(stage, 'node_modules');
  const nested = path.join(tmp, 'node_modules');
  for (const e of fs.readdirSync(nm)) {
    if (e === '@tensorflow' || e === '.bin' || e.startsWith('.')) continue;
    if (e.startsWith('@')) {
      for (const s of fs.readdirSync(path.join(nm, e))) {
        if (!fs.existsSync(path.join(nested, e, s))) linkTree(path.join(nm, e, s), path.join(nested, e, s));
      }
    } else if (!fs.existsSync(path.join(nested, e))) {
      linkTree(path.join(nm, e), path.join(nested, e));
    }
  }
  fs.rmSync(dst, { recursive: true, force: true });
  fs.renameSync(tmp, dst);
  log(`installed ${path.relative(ROOT, dst)} (its dependencies nested; @tensorflow/tfjs from the root)`);
}

function describe(res) {
  return `tfjs-node ${res.tfjsNode} on TensorFlow ${res.tensorflow} (backend '${res.backend}', tfjs ${res.tfjs})`;
}

function main(argv) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${TAG} ${e.message}\n${usage()}`);
    return 2;
  }
  if (opts.help) {
    console.log(usage());
    return 0;
  }
  try {
    const version = wantedVersion();
    const now = probe(ROOT);
    if (now.ok && now.tfjsNode === version && !opts.force) {
      log(`already set up: ${describe(now)}`);
      return 0;
    }
    if (opts.check) {
      log(now.ok ? `tfjs-node ${now.tfjsNode} loads but the repo's tfjs is ${version}` : `tfjs-node does not load: ${now.error}`);
      return 1;
    }
    if (now.ok) log(opts.force ? `--force: rebuilding (now ${describe(now)})` : `tfjs-node ${now.tfjsNode} loads but tfjs is ${version}: replacing it`);
    else if (fs.existsSync(path.join(ROOT, 'node_modules', ...PKG.split('/')))) log(`tfjs-node is installed but does not load: ${now.error}`);
    const { stage, pkgDir } = stagePackage(version);

    let res = null;
    const errors = [];
    // A finished build in the cache (e.g. after `npm ci` emptied node_modules).
    if (!opts.force) {
      const staged = probe(stage);
      if (staged.ok) {
        log(`reusing the build cached in ${path.relative(ROOT, stage)}`);
        res = staged;
      }
    }
    if (!res && opts.route !== 'wheel') {
      res = routeDownload(stage, pkgDir);
      if (!res.ok) {
        errors.push(`download route: ${res.error}`);
        log(`download route failed: ${res.error.split('\n')[0]}`);
      }
    }
    if ((!res || !res.ok) && opts.route !== 'download') {
      res = routeWheel(stage, pkgDir, opts.tfVersion);
      if (!res.ok) errors.push(`wheel route (TensorFlow ${opts.tfVersion}): ${res.error}`);
    }
    if (!res || !res.ok) throw new SetupError(`tfjs-node could not be set up:\n  ${errors.join('\n  ')}`);
    log(`built: ${describe(res)}`);
    install(stage, pkgDir);
    const after = probe(ROOT);
    if (!after.ok) throw new SetupError(`tfjs-node was installed into node_modules but does not load there: ${after.error}`);
    log(`ready: ${describe(after)}`);
    return 0;
  } catch (e) {
    if (!(e instanceof SetupError)) throw e;
    console.error(`${TAG} ERROR: ${e.message}`);
    return 1;
  }
}

module.exports = { probe, parseArgs, DEFAULT_TF_VERSION };

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
