'use strict';
// hvd.pinGpu(): one GPU per rank by local rank, set before tfjs-node-gpu loads.
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT } = require('../support/util');
const hvd = require('../..');

describe('pinGpu', function () {
  it('pins the GPU of the launcher\'s local rank (OMPI_COMM_WORLD_LOCAL_RANK) when hvd is not initialized', function () {
    // A fresh process: hvd.init() has not run, so the environment decides.
    const r = spawnSync(process.execPath, ['-e', `const hvd = require(${JSON.stringify(ROOT)});
      const p = hvd.pinGpu(); console.log(JSON.stringify({ p, cvd: process.env.CUDA_VISIBLE_DEVICES, again: hvd.pinGpu() }));`], {
      env: { ...process.env, OMPI_COMM_WORLD_LOCAL_RANK: '3', CUDA_VISIBLE_DEVICES: '' },
      encoding: 'utf8',
    });
    // CUDA_VISIBLE_DEVICES='' means "no GPU": that must be an error, not GPU 3.
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /RangeError: pinGpu: local rank 3 \(OMPI_COMM_WORLD_LOCAL_RANK\) has no GPU: CUDA_VISIBLE_DEVICES='' lists 0/);
    const env = { ...process.env, OMPI_COMM_WORLD_LOCAL_RANK: '3' };
    delete env.CUDA_VISIBLE_DEVICES;
    delete env.NVIDIA_VISIBLE_DEVICES;
    const ok = spawnSync(process.execPath, ['-e', `const hvd = require(${JSON.stringify(ROOT)});
      const p = hvd.pinGpu(); console.log(JSON.stringify({ p, cvd: process.env.CUDA_VISIBLE_DEVICES, again: hvd.pinGpu() }));`], { env, encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    const out = JSON.parse(ok.stdout);
    assert.deepEqual(out.p, { localRank: 3, device: '3', source: 'OMPI_COMM_WORLD_LOCAL_RANK' });
    assert.equal(out.cvd, '3');
    assert.deepEqual(out.again, out.p, 'a second call keeps the first pin');
  });

  it('uses hvd.localRank() after init (0 in a world of one)', function () {
    hvd.init();
    const env = { OMPI_COMM_WORLD_LOCAL_RANK: '5' };
    assert.deepEqual(hvd.pinGpu({ env }), { localRank: hvd.localRank(), device: String(hvd.localRank()), source: 'hvd' });
    assert.equal(env.CUDA_VISIBLE_DEVICES, '0');
  });

  it('indexes an existing CUDA_VISIBLE_DEVICES list by local rank', function () {
    const env = { CUDA_VISIBLE_DEVICES: '2, 5,GPU-7f3c' };
    assert.deepEqual(hvd.pinGpu({ env, localRank: 2 }), { localRank: 2, device: 'GPU-7f3c', source: 'option' });
    assert.equal(env.CUDA_VISIBLE_DEVICES, 'GPU-7f3c');
    const all = { CUDA_VISIBLE_DEVICES: 'all' };
    assert.equal(hvd.pinGpu({ env: all, localRank: 1 }).device, '1');
  });

  it('fails with a RangeError naming the local rank when the node has fewer GPUs than ranks', function () {
    assert.throws(() => hvd.pinGpu({ env: { CUDA_VISIBLE_DEVICES: '0,1' }, localRank: 2 }),
      (e) => e instanceof RangeError && /local rank 2 \(options.localRank\) has no GPU: CUDA_VISIBLE_DEVICES='0,1' lists 2/.test(e.message) && /nvidia.com\/gpu/.test(e.message));
    const env = { NVIDIA_VISIBLE_DEVICES: 'GPU-a,GPU-b' };
    assert.throws(() => hvd.pinGpu({ env, localRank: 2 }), /local rank 2 \(options.localRank\) has no GPU: this container has 2 \(NVIDIA_VISIBLE_DEVICES='GPU-a,GPU-b'\)/);
    assert.equal(env.CUDA_VISIBLE_DEVICES, undefined, 'nothing set on failure');
    assert.equal(hvd.pinGpu({ env, localRank: 1 }).device, '1');
  });

  it('rejects bad options with TypeError/RangeError naming them', function () {
    assert.throws(() => hvd.pinGpu(null), (e) => e instanceof TypeError && /pinGpu: options must be an object; got null/.test(e.message));
    for (const bad of [-1, 1.5, NaN, '1']) {
      assert.throws(() => hvd.pinGpu({ env: {}, localRank: bad }), (e) => e instanceof RangeError && /options.localRank must be a non-negative integer/.test(e.message));
    }
    // before init, a malformed launcher variable is an error, not GPU 0
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(ROOT)}).pinGpu({ env: { MPI_LOCALRANKID: 'x' } })`], { encoding: 'utf8' });
    assert.match(r.stderr, /RangeError: pinGpu: MPI_LOCALRANKID must be a non-negative integer; got 'x'/);
  });

  it('refuses to pin once tfjs-node-gpu is loaded (TensorFlow has chosen its GPUs)', function () {
    const fake = path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node-gpu', 'dist', 'index.js');
    require.cache[fake] = { id: fake, filename: fake, loaded: true, exports: {} };
    try {
      const env = {};
      assert.throws(() => hvd.pinGpu({ env, localRank: 0 }), /@tensorflow\/tfjs-node-gpu is already loaded.*call hvd.pinGpu\(\) before require/);
      assert.equal(env.CUDA_VISIBLE_DEVICES, undefined);
    } finally {
      delete require.cache[fake];
    }
  });
});
