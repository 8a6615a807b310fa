// Atomic training checkpoints: model weights, optimizer state and the epoch
// in one file, written to a temporary name, fsync'ed and renamed over the
// previous checkpoint. A crash at any moment leaves either the old
// checkpoint or the new one, never a torn file.
import * as fs from 'fs';
import * as path from 'path';

export const CHECKPOINT_FILE = 'mnist.hvdckpt';
const MAGIC = 'HVDCKPT1';

export interface TensorRecord {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface Checkpoint {
  /** Last completed epoch (0-based). */
  epoch: number;
  weights: TensorRecord[];
  optimizer: TensorRecord[];
  meta: Record<string, unknown>;
}

/** Writes `ckpt` into `dir` atomically (temp file + fsync + rename + directory fsync). */
export function saveCheckpoint(dir: string, ckpt: Checkpoint): string {
  fs.mkdirSync(dir, { recursive: true });
  const records = [...ckpt.weights, ...ckpt.optimizer];
  const header = {
    epoch: ckpt.epoch,
    meta: ckpt.meta,
    weights: ckpt.weights.map((r) => ({ name: r.name, dtype: r.dtype, shape: r.shape, bytes: r.data.byteLength })),
    optimizer: ckpt.optimizer.map((r) => ({ name: r.name, dtype: r.dtype, shape: r.shape, bytes: r.data.byteLength })),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(headerBytes.length, 0);
  const final = path.join(dir, CHECKPOINT_FILE);
  const tmp = `${final}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, Buffer.from(MAGIC, 'ascii'));
    fs.writeSync(fd, len);
    fs.writeSync(fd, headerBytes);
    slowWriteForTests();
    for (const r of records) fs.writeSync(fd, new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, final);
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
  return final;
}

/**
 * HVD_CHECKPOINT_TEST_DELAY_MS stretches the write (between header and data)
 * so the checkpoint-safety test can kill the job in the middle of it.
 */
function slowWriteForTests(): void {
  const ms = Number(process.env.HVD_CHECKPOINT_TEST_DELAY_MS);
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Reads the checkpoint in `dir`, or returns null if there is none. Throws on a corrupt file. */
export function loadCheckpoint(dir: string): Checkpoint | null {
  const file = path.join(dir, CHECKPOINT_FILE);
  if (!fs.existsSync(file)) return null;
  const buf = fs.readFileSync(file);
  if (buf.length < 12 || buf.toString('ascii', 0, 8) !== MAGIC) throw new Error(`${file} is not an hvd checkpoint`);
  const hlen = buf.readUInt32LE(8);
  const header = JSON.parse(buf.toString('utf8', 12, 12 + hlen));
  let off = 12 + hlen;
  const read = (h: { name: string; dtype: 'float32' | 'int32'; shape: number[]; bytes: number }): TensorRecord => {
    if (off + h.bytes > buf.length) throw new Error(`${file} is truncated`);
    const copy = new Uint8Array(h.bytes);
    copy.set(buf.subarray(off, off + h.bytes));
    off += h.bytes;
    const data = h.dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
    return { name: h.name, dtype: h.dtype, shape: h.shape, data };
  };
  const weights = header.weights.map(read);
  const optimizer = header.optimizer.map(read);
  if (off !== buf.length) throw new Error(`${file} has ${buf.length - off} unexpected trailing bytes`);
  return { epoch: header.epoch, meta: header.meta, weights, optimizer };
}
