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
  if (dtype === 'float64') return v * f;
  if (BIG.has(dtype)) return BigInt(Math.trunc(Number(v) * f));
  return Math.trunc(v * f);
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

module.exports = { runMpi, ROOT, TYPED, FLOAT, BIG, valueFor, makeArray, expectedReduce, arraysEqual, runNode, tfCore };
