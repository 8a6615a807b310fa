// The object collectives: any structured-clonable value (v8.serialize),
// carried by allgather.
import * as v8 from 'v8';
import { running } from '../basics';
import { HorovodError } from '../errors';
import { resolveSet, type ProcessSet } from '../process_sets';
import { allgather, allgatherSync } from './allgather';
import { nameOf, NameOptions } from './naming';
import { checkOptions, checkRoot } from './validation';


function serialize(value: unknown, fn: string): Uint8Array {
  let buf: Buffer;
  try {
    buf = v8.serialize(value);
  } catch (e) {
    throw new TypeError(`${fn}: value cannot be serialized with the structured clone algorithm: ${(e as Error).message}`);
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function deserialize(bytes: Uint8Array): unknown {
  return v8.deserialize(bytes);
}

function objectName(options: unknown, kind: string, fn: string): { name: string; processSet: ProcessSet } {
  const opts = checkOptions(options, ['name'], fn);
  return { name: nameOf(opts, kind, fn), processSet: resolveSet(opts.processSet, fn) };
}

/**
 * Sends any structured-clonable value from `rootRank` to every rank
 * (`v8.serialize`). The root gets its own value back unchanged. It travels
 * as one allgather in which every rank contributes a small header (its rank,
 * the root it names, the payload length) and only the root adds the payload,
 * so there is a single collective to negotiate and every rank sees every
 * rank's root: ranks that name different roots all fail with the same
 * `HVD_MISMATCH`, as {@link broadcast} does.
 *
 * @example
 * const config = await hvd.broadcastObject(hvd.rank() === 0 ? loadConfig() : null);
 */
export function broadcastObject<V>(value: V, rootRank = 0, options?: NameOptions): Promise<V> {
  running();
  const { name, processSet } = objectName(options, 'broadcastObject', 'broadcastObject');
  const root = checkRoot(rootRank, 'broadcastObject', processSet);
  const { bytes, error } = serializeAtRoot(value, root, processSet, 'broadcastObject');
  const p = allgather(bytes, { name, processSet });
  if (error) {
    // The empty payload tells the others; they fail instead of waiting.
    p.catch(() => {});
    throw error;
  }
  return p.then((data) => receivedObject(value, data, root, processSet, name));
}

/**
 * Blocking form of {@link broadcastObject}.
 *
 * @example
 * const epoch = hvd.broadcastObjectSync(resumeEpoch, 0);
 */
export function broadcastObjectSync<V>(value: V, rootRank = 0, options?: NameOptions): V {
  running();
  const { name, processSet } = objectName(options, 'broadcastObject', 'broadcastObjectSync');
  const root = checkRoot(rootRank, 'broadcastObjectSync', processSet);
  const { bytes, error } = serializeAtRoot(value, root, processSet, 'broadcastObjectSync');
  const data = allgatherSync(bytes, { name, processSet });
  if (error) throw error;
  return receivedObject(value, data, root, processSet, name);
}

// Each rank's contribution to a broadcastObject: three float64 (sender rank,
// the root it names, payload length) followed by the payload, which only the
// root sends (and sends empty when its value did not serialize).
const OBJECT_HEADER_BYTES = 24;

function objectHeader(bytes: Uint8Array, root: number, length: number, sender: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, OBJECT_HEADER_BYTES);
  view.setFloat64(0, sender, true);
  view.setFloat64(8, root, true);
  view.setFloat64(16, length, true);
}

function serializeAtRoot(value: unknown, root: number, set: ProcessSet, fn: string): { bytes: Uint8Array; error?: TypeError } {
  const headerOnly = (): Uint8Array => {
    const bytes = new Uint8Array(OBJECT_HEADER_BYTES);
    objectHeader(bytes, root, 0, set.rank());
    return bytes;
  };
  if (set.rank() !== root) return { bytes: headerOnly() };
  let buf: Buffer;
  try {
    // The header is reserved in front of the payload, so the payload is
    // written once and never copied.
    const ser = new v8.DefaultSerializer();
    ser.writeRawBytes(new Uint8Array(OBJECT_HEADER_BYTES));
    ser.writeHeader();
    ser.writeValue(value);
    buf = ser.releaseBuffer();
  } catch (e) {
    return {
      bytes: headerOnly(),
      error: new TypeError(`${fn}: value cannot be serialized with the structured clone algorithm: ${(e as Error).message}`),
    };
  }
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  objectHeader(bytes, root, bytes.length - OBJECT_HEADER_BYTES, set.rank());
  return { bytes };
}

function receivedObject<V>(value: V, data: Uint8Array, root: number, set: ProcessSet, name: string): V {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const roots = new Map<number, number[]>();
  let payload: Uint8Array | undefined;
  let rootSent = false;
  for (let off = 0; off + OBJECT_HEADER_BYTES <= data.length; ) {
    const sender = view.getFloat64(off, true);
    const named = view.getFloat64(off + 8, true);
    const length = view.getFloat64(off + 16, true);
    off += OBJECT_HEADER_BYTES;
    if (!roots.has(named)) roots.set(named, []);
    roots.get(named)!.push(sender);
    if (sender === named && named === root) {
      rootSent = true;
      if (length > 0) payload = data.subarray(off, off + length);
    }
    off += length;
  }
  // Every rank parses the same bytes, so every rank reaches the same verdict.
  if (roots.size > 1) {
    const groups = [...roots.entries()].sort((a, b) => a[1][0] - b[1][0]);
    const list = (ranks: number[]) => `${ranks.length === 1 ? 'rank' : 'ranks'} ${ranks.join(',')}`;
    throw new HorovodError(
      `Mismatched root ranks for broadcastObject '${name}': ` +
        groups.map(([r, ranks]) => `${list(ranks)} ${ranks.length === 1 ? 'has' : 'have'} ${r}`).join('; ') +
        '. Every rank must submit the same root ranks under one name.',
      'HVD_MISMATCH',
    );
  }
  if (!rootSent) {
    throw new HorovodError(
      `broadcastObject '${name}' cannot run: its root rank ${root} has already called hvd.join()`,
      'HVD_MISMATCH',
    );
  }
  if (set.rank() === root) return value;
  if (payload === undefined) {
    throw new HorovodError(
      `${name}: rank ${root} (the root) could not serialize its value, so there is nothing to receive; see the TypeError on rank ${root}`,
      'HVD_INVALID_ARGUMENT',
    );
  }
  return deserialize(payload) as V;
}

function splitObjects(lengths: Float64Array, data: Uint8Array): unknown[] {
  const out: unknown[] = [];
  let off = 0;
  for (const n of lengths) {
    out.push(deserialize(data.subarray(off, off + n)));
    off += n;
  }
  return out;
}

/**
 * Gathers one structured-clonable value from every rank; returns them in
 * rank order.
 *
 * @example
 * const hosts = await hvd.allgatherObject(os.hostname());
 */
export function allgatherObject<V>(value: V, options?: NameOptions): Promise<V[]> {
  running();
  const { name, processSet } = objectName(options, 'allgatherObject', 'allgatherObject');
  const mine = serialize(value, 'allgatherObject');
  // Both halves are submitted now; neither depends on the other's result.
  const lengths = allgather(new Float64Array([mine.length]), { name: `${name}.lengths`, processSet });
  const data = allgather(mine, { name: `${name}.data`, processSet });
  return Promise.all([lengths, data]).then(([l, d]) => splitObjects(l, d) as V[]);
}

/**
 * Blocking form of {@link allgatherObject}.
 *
 * @example
 * const counts = hvd.allgatherObjectSync({ rank: hvd.rank(), samples: n });
 */
export function allgatherObjectSync<V>(value: V, options?: NameOptions): V[] {
  running();
  const { name, processSet } = objectName(options, 'allgatherObject', 'allgatherObjectSync');
  const mine = serialize(value, 'allgatherObjectSync');
  const lengths = allgatherSync(new Float64Array([mine.length]), { name: `${name}.lengths`, processSet });
  const data = allgatherSync(mine, { name: `${name}.data`, processSet });
  return splitObjects(lengths, data) as V[];
}

