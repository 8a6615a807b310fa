// hvd's one tfjs loader. tfjs is an optional peer dependency: it is loaded on
// first use, from the application's own install, so hvd's classes and the
// Tensors collectives return belong to the same tfjs instance the
// application uses (tfjs-layers checks callbacks with a real instanceof, so a
// second copy would silently break them). Everything in hvd that needs tfjs
// (result tensors in src/tensor.ts, callbacks, broadcast, the optimizer)
// calls tfjs() here, so useTfjs() reaches all of it.
import type * as tfTypes from '@tensorflow/tfjs';

export type Tf = typeof tfTypes;
let cached: Tf | undefined;

const CANDIDATES = ['@tensorflow/tfjs', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

function alreadyLoaded(names: readonly string[]): Tf | undefined {
  for (const name of names) {
    try {
      const resolved = require.resolve(name);
      if (require.cache[resolved]) return require.cache[resolved]!.exports as Tf;
    } catch {
      /* not installed */
    }
  }
  return undefined;
}

/**
 * The application's tfjs: whichever of @tensorflow/tfjs, tfjs-node or
 * tfjs-node-gpu it has already loaded, else the first that can be loaded.
 * (tfjs-node re-exports @tensorflow/tfjs, so classes are shared either way.)
 */
export function tfjs(): Tf {
  if (cached) return cached;
  cached = alreadyLoaded(CANDIDATES);
  if (cached) return cached;
  const errors: string[] = [];
  for (const name of CANDIDATES) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      cached = require(name) as Tf;
      return cached;
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    `hvd's TensorFlow.js integration needs @tensorflow/tfjs (or @tensorflow/tfjs-node) installed next to hvd:\n  ${errors.join('\n  ')}`,
  );
}

/** What building result Tensors needs. */
export type TensorFactory = Pick<Tf, 'tensor'>;
let core: TensorFactory | undefined;

/**
 * The tfjs that builds the Tensors collectives return: the one given to
 * useTfjs() or found by tfjs(), when there is one already; otherwise just
 * tfjs-core, which a Tensor input means is loaded, so that an application
 * using tfjs-core and a backend does not pay for loading all of tfjs (the
 * same tfjs-core instance that @tensorflow/tfjs re-exports).
 */
export function tfjsForTensors(): TensorFactory {
  if (cached) return cached;
  const full = alreadyLoaded(CANDIDATES);
  if (full) return (cached = full);
  if (!core) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      core = require('@tensorflow/tfjs-core') as TensorFactory;
    } catch {
      return tfjs();
    }
  }
  return core;
}

/**
 * Hands hvd the tfjs instance to use everywhere: the Tensors collectives
 * return, the callbacks' base class, broadcastModel and DistributedOptimizer.
 * Call it before those are first used when the application loads a specific
 * tfjs build (tfjs-node, a bundled copy); otherwise hvd finds the one the
 * application already loaded.
 *
 * @example
 * const tf = require('@tensorflow/tfjs-node');
 * hvd.useTfjs(tf);
 */
export function useTfjs(tf: Tf): void {
  if (typeof tf !== 'object' || tf === null || typeof (tf as { tensor?: unknown }).tensor !== 'function') {
    throw new TypeError('useTfjs: tf must be a tfjs module (something with tensor())');
  }
  cached = tf;
}

interface WasmBackendLike {
  dataIdMap?: { get(id: object): { memoryOffset?: number | null; dtype?: string } | undefined };
  wasm?: { HEAPU8?: Uint8Array };
}

/**
 * A float32 tensor's data as a view into the wasm backend's heap, for
 * copying out at once (no allocation, where dataSync() allocates a copy per
 * call); null on any other backend or when the tensor is not laid out as
 * expected (then read it with dataSync). The view is valid only until the
 * next tfjs operation: the heap may grow or the tensor be disposed.
 * @internal
 */
export function wasmHeapView(tf: Tf, tensor: tfTypes.Tensor): Float32Array | null {
  if (tf.getBackend() !== 'wasm' || tensor.dtype !== 'float32') return null;
  const backend = tf.backend() as unknown as WasmBackendLike;
  const heap = backend.wasm?.HEAPU8;
  const info = backend.dataIdMap?.get((tensor as unknown as { dataId: object }).dataId);
  const offset = info?.memoryOffset;
  if (!heap || !info || info.dtype !== 'float32' || typeof offset !== 'number' || offset % 4 !== 0) return null;
  if (offset + tensor.size * 4 > heap.byteLength) return null;
  return new Float32Array(heap.buffer, heap.byteOffset + offset, tensor.size);
}
