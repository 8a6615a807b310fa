// The only module that loads the compiled addon. Everything native is
// declared here once, as NativeBinding, and reached through loadNative().
import * as fs from 'fs';
import * as path from 'path';
import { HorovodError } from './errors';

/** Rank layout reported by the engine after init. */
export interface NativeTopology {
  rank: number;
  size: number;
  localRank: number;
  localSize: number;
  crossRank: number;
  crossSize: number;
  isHomogeneous: boolean;
  mpiThreadsSupported: boolean;
  mpiThreadLevel: 'single' | 'funneled' | 'serialized' | 'multiple';
}

/** Engine counters; they only grow. */
export interface EngineStats {
  /** Responses (units of negotiated work) executed. */
  responses: number;
  /** Tensors completed. */
  tensors: number;
  /** Allreduce responses that packed more than one tensor. */
  fusedResponses: number;
  /** Bytes copied into and out of the fusion buffer. */
  fusionCopyBytes: number;
  /** Allreduce data bytes per rank: handed to the allreduce algorithm, or sent with the requests (eager). */
  allreduceBytes: number;
  /** Negotiation rounds (response lists) seen by this rank. */
  negotiationLists: number;
  /** Allreduce responses executed with hvd's ring algorithm. */
  ringAllreduces: number;
  /**
   * Rank 0 only (empty elsewhere): the measured choice between hvd's ring
   * and MPI_Allreduce, per process set, size class [minBytes, maxBytes) and
   * what rank 0's calls wrote into: in place (`inPlace`), a result allocated
   * for the call (`freshOutput`: cold in the cache), or neither (an `out`
   * array used before), with HVD_RING_THRESHOLD_BYTES unset. `algorithm` is
   * null while the class is still being measured; usPerMiB holds each
   * candidate's best time.
   */
  algorithmChoices: Array<{
    processSet: number;
    minBytes: number;
    maxBytes: number;
    inPlace: boolean;
    freshOutput: boolean;
    algorithm: string | null;
    usPerMiB: Record<string, number>;
  }>;
  /** Allreduce responses the coordinator computed from the data the requests carried (calls of at most HVD_EAGER_BYTES): no collective ran. */
  eagerAllreduces: number;
  /** Of those, the ones this rank computed itself from every rank's data, which each rank sends to every other (the direct path, HVD_EAGER_DIRECT_MAX_RANKS): one message hop, no response from rank 0. */
  directAllreduces: number;
  /** Negotiation entries this rank sent as a response-cache reference instead of in full. */
  cacheHits: number;
  /** Bytes of negotiation messages this rank sent. */
  controlBytes: number;
  /** *Sync calls that ran the engine loop on the calling thread (HVD_INLINE_SYNC) instead of handing it to the engine thread. */
  inlineCalls: number;
  /** hvd's memory pool (hvd.alloc, collective outputs, the fusion buffer): bytes handed out and not yet freed. */
  poolInUseBytes: number;
  /** Pool bytes mapped but free, kept for reuse (in use + cached never exceeds poolMaxBytes). */
  poolCachedBytes: number;
  /** The pool's cap, HVD_POOL_MAX_BYTES (0: the pool is off). */
  poolMaxBytes: number;
  /** Pool allocations served from a cached (already faulted-in) block. */
  poolHits: number;
  /** Pool allocations that mapped new memory. */
  poolMisses: number;
  /** Allocations the pool refused because of its cap, served from ordinary memory instead. */
  poolFallbacks: number;
  /** Cached pool bytes given back to the system to stay under the cap. */
  poolReleasedBytes: number;
}

export interface NativeItem {
  name: string;
  input: ArrayBufferView | null;
  output?: ArrayBufferView | null;
  dtype: number;
  shape: number[];
  /** Kind-specific integers (alltoall: rows per destination rank). */
  splits?: number[];
}

export interface NativeOptions {
  op?: number;
  root?: number;
  prescale?: number;
  postscale?: number;
  group?: string;
  /** Process set id (0: global). */
  processSet?: number;
}

export type NativeResult = undefined | number | { buffer: ArrayBuffer; shape: number[]; ints?: Int32Array };

export interface NativeBinding {
  init(timeoutMs?: number): void;
  /** With timeoutMs: waits that long for the other ranks, then ends the process with exitCode. */
  shutdown(timeoutMs?: number, exitCode?: number): void;
  isInitialized(): boolean;
  topology(): NativeTopology;
  buildInfo(): { mpiLibraryVersion: string; mpiVendor: string; ncclBuilt: boolean; ncclAvailable: boolean };
  stats(): EngineStats;
  abort(reason: string): void;
  /** Native errors are constructed with this (HorovodError), once set. */
  setErrorConstructor(ctor: new (message: string, code: string) => Error): void;
  /** The codes table as compiled into the addon (native/codes.h). */
  codes(): {
    dtypes: Record<string, number>;
    dtypeBytes: Record<string, number>;
    reduceOps: Record<string, number>;
    kinds: Record<string, number>;
    statusCodes: Record<string, number>;
  };
  enqueue(kind: number, items: NativeItem[], options: NativeOptions, blocking: true): NativeResult[];
  enqueue(kind: number, items: NativeItem[], options: NativeOptions, blocking: false): Promise<NativeResult[]>;
  /** enqueue of one item, passed positionally (no property reads in the addon: the small-call path). */
  enqueueOne(
    kind: number, blocking: true, name: string, input: ArrayBufferView | null, output: ArrayBufferView | null | undefined,
    dtype: number, shape: number[] | number, splits: number[] | undefined, op: number | undefined, root: number | undefined,
    prescale: number | undefined, postscale: number | undefined, processSet: number | undefined, group: string | undefined,
  ): NativeResult[];
  enqueueOne(
    kind: number, blocking: false, name: string, input: ArrayBufferView | null, output: ArrayBufferView | null | undefined,
    dtype: number, shape: number[] | number, splits: number[] | undefined, op: number | undefined, root: number | undefined,
    prescale: number | undefined, postscale: number | undefined, processSet: number | undefined, group: string | undefined,
  ): Promise<NativeResult[]>;
  /** An ArrayBuffer on hvd's pool (zero-filled when `zero`), or an ordinary one when the pool has no room. */
  allocBuffer(bytes: number, zero: boolean): ArrayBuffer;
  float32ToFloat16(src: Float32Array): Uint16Array;
  float16ToFloat32(src: Uint16Array): Float32Array;
}

let loaded: { binding: NativeBinding; path: string } | undefined;

function candidates(): string[] {
  const root = path.resolve(__dirname, '..');
  const list: string[] = [];
  if (process.env.HVD_NATIVE_PATH) list.push(path.resolve(process.env.HVD_NATIVE_PATH));
  list.push(path.join(root, 'build', 'Release', 'hvd.node'));
  list.push(path.join(root, 'build', 'Debug', 'hvd.node'));
  return list;
}

/**
 * Loads the addon once. On failure the error lists every path tried, why
 * each failed, and what to do about it.
 */
export function loadNative(): NativeBinding {
  if (loaded) return loaded.binding;
  const failures: string[] = [];
  for (const file of candidates()) {
    if (!fs.existsSync(file)) {
      failures.push(`  ${file}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const binding = require(file) as NativeBinding;
      // Errors from the engine arrive as HorovodError directly.
      binding.setErrorConstructor(HorovodError as unknown as new (message: string, code: string) => Error);
      loaded = { binding, path: file };
      return binding;
    } catch (e) {
      failures.push(`  ${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new HorovodError(
    [
      'Could not load the hvd native addon.',
      'Tried:',
      ...failures,
      'Possible solutions:',
      '- Build it: `npm run build` in the hvd package (needs cmake, a C++17 compiler and OpenMPI).',
      '- Install OpenMPI: `sudo apt-get install -y openmpi-bin libopenmpi-dev` (Debian/Ubuntu), then rebuild.',
      '- "undefined symbol: ompi_mpi_..." or "libmpi.so: cannot open": the addon was built against another MPI; rebuild it on this machine.',
      '- Point HVD_NATIVE_PATH at a hvd.node you built elsewhere.',
    ].join('\n'),
    'HVD_LOAD_ERROR',
  );
}

/** Absolute path of the loaded addon (loads it if needed). */
export function nativePath(): string {
  loadNative();
  return loaded!.path;
}
