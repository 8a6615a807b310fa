'use strict';
// The MNIST example end to end under mpirun -np 2, on a slice of the real
// data so it stays quick: a smoke run, a checkpoint/resume, and a job killed
// mid-epoch that resumes from its last checkpoint.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { runMpi, ROOT } = require('../support/util');

const MNIST = path.join(ROOT, 'dist', 'mnist.js');
// These tests pin the MLP on wasm (the default without tfjs-node); the
// tfjs-node block below trains the convnet, the default when tfjs-node loads.
const WASM = ['--backend', 'wasm'];
const withBackend = (args) => (args.includes('--backend') ? args : [...WASM, ...args]);
const script = (args) => `process.argv.splice(1, 0, ${JSON.stringify(MNIST)}, ...${JSON.stringify(withBackend(args))}); require(${JSON.stringify(MNIST)});`;

function jsonLines(stdout) {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

describe('MNIST example (mpirun -np 2)', function () {
  this.timeout(300000);
  let dir;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-mnist-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('trains a few hundred steps, reports JSON, and ends with consistent weights', function () {
    const r = runMpi(2, script(['--epochs', '1', '--train-samples', '12800', '--json', '--seed', '1']), { timeout: 240000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const lines = jsonLines(r.stdout);
    const final = lines.find((l) => l.final);
    assert.ok(final, r.stdout);
    assert.equal(final.ranks, 2);
    assert.equal(final.weights_consistent, true);
    assert.ok(final.test_accuracy > 0.85, `test accuracy ${final.test_accuracy}`);
    assert.equal(lines.filter((l) => l.epoch).length, 1);
  });

  it('prints a plain line per epoch and the consistency line without --json', function () {
    const r = runMpi(2, script(['--epochs', '1', '--train-samples', '2560']), { timeout: 240000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /model mlp, backend wasm/);
    assert.match(r.stdout, /epoch 1: loss [\d.]+, accuracy [\d.]+/);
    assert.match(r.stdout, /weights consistent across 2 ranks/);
    assert.match(r.stdout, /test accuracy [\d.]+% \(10000 images\)/);
  });

  it('checkpoints every epoch; --resume continues from the next epoch', function () {
    const first = runMpi(2, script(['--epochs', '1', '--train-samples', '6400', '--json', '--checkpoint-dir', dir]), { timeout: 240000 });
    assert.equal(first.status, 0, first.stderr);
    assert.ok(fs.existsSync(path.join(dir, 'mnist.hvdckpt')));
    assert.deepEqual(fs.readdirSync(dir), ['mnist.hvdckpt'], 'no temporary files left behind');
    const acc1 = jsonLines(first.stdout).find((l) => l.final).test_accuracy;
    const second = runMpi(2, script(['--epochs', '2', '--train-samples', '6400', '--json', '--checkpoint-dir', dir, '--resume']), { timeout: 240000 });
    assert.equal(second.status, 0, second.stderr);
    const lines = jsonLines(second.stdout);
    assert.deepEqual(lines.filter((l) => l.epoch).map((l) => l.epoch), [2], 'only epoch 2 runs');
    const final = lines.find((l) => l.final);
    assert.equal(final.weights_consistent, true);
    assert.ok(final.test_accuracy >= acc1 - 0.02, `resumed accuracy ${final.test_accuracy} vs ${acc1} after epoch 1`);
  });

  it('a job killed mid-epoch resumes from its last checkpoint and lands in the same accuracy band', async function () {
    const args = ['--epochs', '3', '--train-samples', '6400', '--batch-size', '32', '--json', '--checkpoint-dir', dir];
    const mpiArgs = ['--bind-to', 'none', '--oversubscribe', '-np', '2'];
    if (process.getuid() === 0) mpiArgs.unshift('--allow-run-as-root');
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OMPI_') && !k.startsWith('PMIX_')));
    const child = spawn('mpirun', [...mpiArgs, process.execPath, MNIST, ...withBackend(args)], { env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // Kill as soon as epoch 1 has been reported (its checkpoint is written right after).
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('epoch 1 never finished: ' + out)), 200000);
      const poll = setInterval(() => {
        if (/"epoch":1/.test(out) && fs.existsSync(path.join(dir, 'mnist.hvdckpt'))) {
          clearInterval(poll);
          clearTimeout(timer);
          setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, 500); // now inside epoch 2
        }
      }, 50);
    });
    await new Promise((r) => child.on('exit', r));
    assert.doesNotMatch(out, /"final"/, 'the first job must not have finished');
    const r = runMpi(2, script([...args, '--resume']), { timeout: 240000 });
    assert.equal(r.status, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    const epochs = lines.filter((l) => l.epoch).map((l) => l.epoch);
    assert.ok(epochs[0] >= 2, `resumed at epoch ${epochs[0]}`);
    assert.equal(epochs[epochs.length - 1], 3);
    const final = lines.find((l) => l.final);
    assert.ok(final.test_accuracy > 0.86, `accuracy after resume ${final.test_accuracy}`);
    assert.equal(final.weights_consistent, true);
  });

  it('--allow-uneven: ranks with different numbers of steps finish, join, and end consistent', function () {
    // 6401 samples: rank 0 gets 3201 (101 batches of 32), rank 1 gets 3200 (100 batches).
    const r = runMpi(2, script(['--epochs', '2', '--train-samples', '6401', '--batch-size', '32', '--allow-uneven', '--json']), { timeout: 240000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const final = jsonLines(r.stdout).find((l) => l.final);
    assert.equal(final.weights_consistent, true);
    assert.ok(final.test_accuracy > 0.86, `accuracy ${final.test_accuracy}`);
  });

  it('a job killed while rank 0 writes a checkpoint keeps the previous one, and --resume works from it', async function () {
    const args = ['--epochs', '3', '--train-samples', '3200', '--batch-size', '32', '--json', '--checkpoint-dir', dir];
    const mpiArgs = ['--bind-to', 'none', '--oversubscribe', '-np', '2', '-x', 'HVD_CHECKPOINT_TEST_DELAY_MS'];
    if (process.getuid() === 0) mpiArgs.unshift('--allow-run-as-root');
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OMPI_') && !k.startsWith('PMIX_')));
    const child = spawn('mpirun', [...mpiArgs, process.execPath, MNIST, ...withBackend(args)], {
      env: { ...clean, HVD_CHECKPOINT_TEST_DELAY_MS: '1500' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const final = path.join(dir, 'mnist.hvdckpt');
    let firstCheckpoint;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('never caught the second checkpoint write: ' + out)), 200000);
      const poll = setInterval(() => {
        const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
        if (!firstCheckpoint && files.includes('mnist.hvdckpt') && !files.some((f) => f.includes('.tmp-'))) {
          firstCheckpoint = fs.readFileSync(final);
        }
        // The second save is in progress: its temporary file exists next to the first checkpoint.
        if (firstCheckpoint && files.some((f) => f.includes('.tmp-'))) {
          clearInterval(poll);
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
    });
    await new Promise((r) => child.on('exit', r));
    assert.ok(Buffer.compare(fs.readFileSync(final), firstCheckpoint) === 0, 'the previous checkpoint is intact');
    const r = runMpi(2, script([...args, '--resume']), { timeout: 240000 });
    assert.equal(r.status, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    assert.deepEqual(lines.filter((l) => l.epoch).map((l) => l.epoch), [2, 3], 'resumed after epoch 1');
    assert.equal(lines.find((l) => l.final).weights_consistent, true);
  });

  it('the custom training loop example converges and stays consistent', function () {
    const loop = path.join(ROOT, 'dist', 'custom_loop.js');
    const r = runMpi(2, `require(${JSON.stringify(loop)})`, { timeout: 120000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /w = 3\.0+, b = -1\.0+/);
    assert.match(r.stdout, /weights consistent across 2 ranks/);
  });
});

describe('MNIST example on tfjs-node (mpirun -np 2)', function () {
  this.timeout(300000);
  let dir;
  before(function () {
    const node = require('../../scripts/setup-tfjs-node').probe(ROOT);
    if (!node.ok) this.skip(); // npm run setup:tfjs-node
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-mnist-node-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("defaults to Horovod's convnet on TensorFlow; warmup, checkpoint and --resume work as on wasm", function () {
    const args = ['--epochs', '1', '--train-samples', '3200', '--warmup-epochs', '1', '--checkpoint-dir', dir, '--seed', '3'];
    const env = { TF_CPP_MIN_LOG_LEVEL: '2' };
    const plain = runMpi(2, `process.argv.splice(1, 0, ${JSON.stringify(MNIST)}, ...${JSON.stringify(args)}); require(${JSON.stringify(MNIST)});`, { timeout: 240000, env });
    assert.equal(plain.status, 0, plain.stderr + plain.stdout);
    assert.match(plain.stdout, /model cnn, backend tensorflow \(TensorFlow \d+\.\d+\.\d+\)/);
    assert.match(plain.stdout, /weights consistent across 2 ranks/);
    const acc1 = Number(/test accuracy ([\d.]+)%/.exec(plain.stdout)[1]) / 100;
    assert.ok(acc1 > 0.8, `convnet test accuracy after 1600 images/rank: ${acc1}`);
    assert.deepEqual(fs.readdirSync(dir), ['mnist.hvdckpt']);
    const ckpt1 = fs.readFileSync(path.join(dir, 'mnist.hvdckpt'));
    assert.match(ckpt1.toString('utf8', 12, 12 + ckpt1.readUInt32LE(8)), /"model":"cnn","backend":"tensorflow"/);

    const resumed = runMpi(2, script(['--backend', 'node', '--epochs', '2', '--train-samples', '3200', '--warmup-epochs', '1', '--checkpoint-dir', dir, '--seed', '3', '--resume', '--json']), { timeout: 240000, env });
    assert.equal(resumed.status, 0, resumed.stderr + resumed.stdout);
    const lines = jsonLines(resumed.stdout);
    const epochs = lines.filter((l) => l.epoch);
    assert.deepEqual(epochs.map((l) => l.epoch), [2], 'only epoch 2 runs');
    assert.ok(epochs[0].lr > 0.0019 && epochs[0].lr < 0.0021, `after warmup the lr is 0.001 x 2 ranks; got ${epochs[0].lr}`);
    const final = lines.find((l) => l.final);
    assert.equal(final.backend, 'tensorflow');
    assert.equal(final.model, 'cnn');
    assert.equal(final.weights_consistent, true);
    assert.ok(final.test_accuracy >= acc1 - 0.02, `resumed accuracy ${final.test_accuracy} vs ${acc1} after epoch 1`);
  });
});
