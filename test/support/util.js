'use strict';
// Shared helpers for the mocha suites. Expected values are always computed
// locally from what every rank contributed, so results are checked exactly.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

const TYPED = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
};
const FLOAT = new Set(['float32', 'float64']);
const BIG = new Set(['int64', 'uint64']);

/** Small exact values: sums, products and averages stay exact and in range. */
function valueFor(dtype, rank, i) {
  const v = ((rank * 7 + i * 3) % 3) + 1; // 1..3
  return BIG.has(dtype) ? BigInt(v) : v;
}

function makeArray(dtype, n, rank) {
  const a = new TYPED[dtype](n);
  for (let i = 0; i < n; i++) a[i] = valueFor(dtype, rank, i);
  return a;
}

/** What allreduce must return on every rank, computed in the same precision. */
function expectedReduce(dtype, op, n, size, { prescale = 1, postscale = 1 } = {}) {
  const out = new TYPED[dtype](n);
  const post0 = op === 'average' ? postscale / size : postscale;
  if (!FLOAT.has(dtype) && (prescale !== 1 || post0 !== 1)) {
    // Integers with a scale factor: scaled in double, reduced, rounded once.
    const vals = [];
    for (let r = 0; r < size; r++) {
      const v = new TYPED[dtype](n);
      for (let i = 0; i < n; i++) v[i] = valueFor(dtype, r, i);
      vals.push(v);
    }
    return expectedScaledInt(dtype, op, vals, prescale, post0);
  }
  for (let i = 0; i < n; i++) {
    let acc;
    for (let r = 0; r < size; r++) {
      let v = valueFor(dtype, r, i);
      if (prescale !== 1) v = scale(dtype, v, prescale);
      if (acc === undefined) acc = v;
      else if (op === 'sum' || op === 'average') acc += v;
      else if (op === 'min') acc = v < acc ? v : acc;
      else if (op === 'max') acc = v > acc ? v : acc;
      else if (op === 'product') acc *= v;
      if (dtype === 'float32') acc = Math.fround(acc);
    }
    let post = postscale;
    if (op === 'average') post = post / size;
    if (post !== 1) acc = scale(dtype, acc, post);
    out[i] = acc;
  }
  return out;
}

function scale(dtype, v, f) {
  if (dtype === 'float32') return Math.fround(v * Math.fround(f));
  return v * f; // float64 (integers take expectedScaledInt)
}

/** Round to nearest, ties to even (the default IEEE rounding, C's nearbyint). */
function roundHalfEven(x) {
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return Math.round(x);
}

const INT_RANGE = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535],
  int32: [-2147483648, 2147483647], uint32: [0, 4294967295],
  int64: [-(2 ** 63), 2 ** 63], uint64: [0, 2 ** 64],
};

/**
 * hvd's rule for integer allreduce with prescale/postscale: every rank's
 * value times prescale in double, reduced in double, times postscale,
 * rounded once (ties to even) and saturated to the type's range.
 * perRank: one TypedArray per rank (index = rank).
 */
function expectedScaledInt(dtype, op, perRank, prescale, postscale) {
  const n = perRank[0].length;
  const out = new TYPED[dtype](n);
  const [lo, hi] = INT_RANGE[dtype];
  for (let i = 0; i < n; i++) {
    let acc;
    for (const a of perRank) {
      const v = Number(a[i]) * prescale;
      if (acc === undefined) acc = v;
      else if (op === 'sum' || op === 'average') acc += v;
      else if (op === 'min') acc = Math.min(acc, v);
      else if (op === 'max') acc = Math.max(acc, v);
      else if (op === 'product') acc *= v;
    }
    let v = roundHalfEven(acc * postscale);
    if (v <= lo) v = lo;
    if (v >= hi) v = hi;
    if (BIG.has(dtype)) {
      out[i] = v >= hi ? (dtype === 'int64' ? 2n ** 63n - 1n : 2n ** 64n - 1n) : BigInt(v);
    } else {
      out[i] = v;
    }
  }
  return out;
}

function arraysEqual(a, b) {
  if (a.length !== b.length || a.constructor !== b.constructor) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

/** Runs a node script in a child process (single-rank world) with a time limit. */
function runNode(code, { env = {}, timeout = 60000, args = [] } = {}) {
  const r = spawnSync(process.execPath, ['-e', code, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, error: r.error };
}

/** Runs `node -e code` under `mpirun -np <np>` with a time limit. */
function runMpi(np, code, { env = {}, timeout = 90000, tagOutput = false } = {}) {
  const args = ['--bind-to', 'none', '--oversubscribe', '-np', String(np)];
  if (tagOutput) args.push('--tag-output');
  if (process.getuid && process.getuid() === 0) args.unshift('--allow-run-as-root');
  for (const k of Object.keys(env)) args.push('-x', k);
  args.push(process.execPath, '-e', code);
  const started = Date.now();
  // OMPI_* from an enclosing mpirun would make this mpirun think it is a rank.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OMPI_') && !k.startsWith('PMIX_')));
  const r = spawnSync('mpirun', args, { cwd: ROOT, env: { ...clean, ...env }, encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, error: r.error, ms: Date.now() - started };
}

/** tfjs-core on the run's backend (see test/support/tf.js: cpu, or tensorflow = tfjs-node). */
function tfCore() {
  return require('./tf').loadTf();
}

/** global.gc when node runs with --expose-gc (scripts/test.js), else enabled at run time. */
function gcFunction() {
  if (typeof global.gc === 'function') return global.gc;
  require('node:v8').setFlagsFromString('--expose-gc');
  return require('node:vm').runInNewContext('gc');
}

module.exports = { gcFunction, runMpi, ROOT, TYPED, FLOAT, BIG, valueFor, makeArray, expectedReduce, expectedScaledInt, roundHalfEven, arraysEqual, runNode, tfCore };
