'use strict';
// DistributedOptimizer's gradient pack: on a backend that copies tensor data
// when it makes a tensor (wasm), one pack is reused across steps instead of a
// fresh one per step (what made training RSS grow, issue 12), and training is
// bitwise what plain tfjs computes. On the cpu backend, whose tensors keep the
// array they were made from, every step gets a fresh pack, so a gradient
// tensor the optimizer kept never sees the next step's values.
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../..');

// Runs in a child: the wasm backend is process-wide.
const CHILD = `
const path = require('path');
const hvd = require(${JSON.stringify(ROOT)});
const { loadTfjsWasm } = require(${JSON.stringify(path.join(ROOT, 'bench', 'tfjs_wasm.js'))});
(async () => {
  const backend = process.argv[1];
  let tf;
  if (backend === 'wasm') tf = await loadTfjsWasm();
  else { tf = require('@tensorflow/tfjs'); await tf.setBackend('cpu'); }
  hvd.init();
  const STATE = Symbol.for('hvd.DistributedOptimizer.state');
  const init = [tf.randomNormal([64, 10], 0, 1, 'float32', 3), tf.randomNormal([10], 0, 1, 'float32', 4)];
  const make = () => init.map((t) => tf.variable(t.clone()));
  const x = tf.randomNormal([8, 64], 0, 1, 'float32', 5);
  const y = tf.randomNormal([8, 10], 0, 1, 'float32', 6);
  const loss = ([W, b]) => () => tf.losses.meanSquaredError(y, tf.add(tf.matMul(x, W), b));
  const plainVars = make();
  const plain = tf.train.adam(0.01);
  const hvdVars = make();
  // A predivide factor of 2 sends the step through the pack and the engine
  // at np=1, and scales by exact powers of two.
  const opt = hvd.DistributedOptimizer(tf.train.adam(0.01), { gradientPredivideFactor: 2 });
  const packs = [];
  for (let k = 0; k < 6; k++) {
    plain.minimize(loss(plainVars));
    opt.minimize(loss(hvdVars));
    packs.push(opt[STATE].pack);
  }
  const same = plainVars.every((v, i) => Buffer.from(v.dataSync().buffer).equals(Buffer.from(hvdVars[i].dataSync().buffer)));
  console.log(JSON.stringify({
    backend: tf.getBackend(),
    bitwise: same,
    reused: packs.every((p) => p instanceof Float32Array && p === packs[0]),
    kept: packs.some((p) => p instanceof Float32Array),
  }));
  hvd.shutdown();
})().catch((e) => { console.error(e); process.exit(1); });
`;

function run(backend) {
  const out = execFileSync(process.execPath, ['-e', CHILD, backend], { cwd: ROOT, encoding: 'utf8', timeout: 120000 });
  return JSON.parse(out.trim().split('\n').pop());
}

describe('DistributedOptimizer gradient pack', function () {
  this.timeout(180000);

  it('wasm: one pack is reused across steps, and training is bitwise plain tfjs', function () {
    const r = run('wasm');
    assert.equal(r.backend, 'wasm');
    assert.ok(r.reused, 'the pack should be the same array every step');
    assert.ok(r.bitwise, 'weights differ from plain tfjs');
  });

  it('cpu: no pack is kept between steps (its tensors keep the arrays they are made from)', function () {
    const r = run('cpu');
    assert.equal(r.backend, 'cpu');
    assert.equal(r.kept, false);
    assert.ok(r.bitwise, 'weights differ from plain tfjs');
  });
});
