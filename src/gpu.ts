// GPU pinning: one GPU per rank, chosen by local rank, before TensorFlow loads.
// Horovod's examples do `visible_device_list = str(hvd.local_rank())`; with
// tfjs-node-gpu the only handle is CUDA_VISIBLE_DEVICES, which TensorFlow
// reads once, when its library is loaded. So this runs before
// `require('@tensorflow/tfjs-node-gpu')` and refuses to run after it.
import { isInitialized, localRank } from './basics';

/** What {@link pinGpu} decided. */
export interface PinnedGpu {
  /** The local rank the GPU was chosen by. */
  localRank: number;
  /** The value CUDA_VISIBLE_DEVICES now has: the one device this rank sees (as GPU 0). */
  device: string;
  /** Where the local rank came from: `option`, `hvd` (after init) or an environment variable's name; `none` outside MPI. */
  source: string;
}

export interface PinGpuOptions {
  /** Use this local rank instead of asking hvd or the MPI launcher's environment. */
  localRank?: number;
  /** The environment to read and change (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** Local-rank variables set by MPI launchers, in order of preference. */
const LOCAL_RANK_VARS = ['OMPI_COMM_WORLD_LOCAL_RANK', 'MPI_LOCALRANKID', 'MV2_COMM_WORLD_LOCAL_RANK', 'SLURM_LOCALID'];
const TF_GPU_MODULE = '@tensorflow/tfjs-node-gpu';

let pinned: { env: NodeJS.ProcessEnv; result: PinnedGpu } | undefined;

function tfGpuLoaded(): boolean {
  const sep = /[\\/]/.source;
  const re = new RegExp(`${sep}node_modules${sep}@tensorflow${sep}tfjs-node-gpu${sep}`);
  return Object.keys(require.cache).some((k) => re.test(k));
}

function localRankFrom(env: NodeJS.ProcessEnv, option: number | undefined): { rank: number; source: string } {
  if (option !== undefined) {
    if (typeof option !== 'number' || !Number.isInteger(option) || option < 0) {
      throw new RangeError(`pinGpu: options.localRank must be a non-negative integer; got ${String(option)}`);
    }
    return { rank: option, source: 'option' };
  }
  if (isInitialized()) return { rank: localRank(), source: 'hvd' };
  for (const name of LOCAL_RANK_VARS) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`pinGpu: ${name} must be a non-negative integer; got '${v}'`);
    return { rank: n, source: name };
  }
  return { rank: 0, source: 'none' };
}

/** The GPUs this process may use, as a list, when the environment says. */
function visibleList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '' || v === 'none' || v === 'void' || v === 'NoDevFiles') return [];
  if (v === 'all') return undefined;
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * Pins this process to the GPU of its local rank by setting
 * `CUDA_VISIBLE_DEVICES`, so that `@tensorflow/tfjs-node-gpu` sees that one
 * GPU (as its GPU 0). Call it before tfjs-node-gpu is loaded; `hvd.init()`
 * may come before or after. Idempotent within a process.
 *
 * The local rank comes from `hvd.localRank()` after `hvd.init()`, else from
 * the launcher's environment (`OMPI_COMM_WORLD_LOCAL_RANK`, `MPI_LOCALRANKID`,
 * ...), else 0 (not under MPI). When `CUDA_VISIBLE_DEVICES` is already set
 * (a scheduler gave this process several GPUs), the local rank indexes that
 * list; when only `NVIDIA_VISIBLE_DEVICES` (the container runtime's list) is
 * set, it must have a GPU for this local rank.
 *
 * @throws Error when tfjs-node-gpu is already loaded (too late to pin).
 * @throws RangeError when this local rank has no GPU (more ranks per node
 *   than GPUs: request `nvidia.com/gpu` equal to the slots per worker).
 * @example
 * import * as hvd from 'hvd';
 * hvd.init();
 * hvd.pinGpu();                       // before tfjs-node-gpu loads
 * const tf = require('@tensorflow/tfjs-node-gpu');
 */
export function pinGpu(options: PinGpuOptions = {}): PinnedGpu {
  if (options === null || typeof options !== 'object') throw new TypeError(`pinGpu: options must be an object; got ${options === null ? 'null' : typeof options}`);
  const env = options.env ?? process.env;
  if (pinned && pinned.env === env && options.localRank === undefined) return { ...pinned.result };
  if (tfGpuLoaded()) {
    throw new Error(`pinGpu: ${TF_GPU_MODULE} is already loaded, so TensorFlow has already chosen its GPUs; call hvd.pinGpu() before require('${TF_GPU_MODULE}')`);
  }
  const { rank, source } = localRankFrom(env, options.localRank);
  const from = source === 'option' ? 'options.localRank' : source === 'hvd' ? 'hvd.localRank()' : source;
  const cuda = visibleList(env.CUDA_VISIBLE_DEVICES);
  let device: string;
  if (cuda !== undefined) {
    if (rank >= cuda.length) {
      throw new RangeError(
        `pinGpu: local rank ${rank} (${from}) has no GPU: CUDA_VISIBLE_DEVICES='${env.CUDA_VISIBLE_DEVICES}' lists ${cuda.length}; ` +
          'run at most as many ranks per node as it has GPUs (slots per worker = nvidia.com/gpu per worker)',
      );
    }
    device = cuda[rank];
  } else {
    const nvidia = visibleList(env.NVIDIA_VISIBLE_DEVICES);
    if (nvidia !== undefined && rank >= nvidia.length) {
      throw new RangeError(
        `pinGpu: local rank ${rank} (${from}) has no GPU: this container has ${nvidia.length} (NVIDIA_VISIBLE_DEVICES='${env.NVIDIA_VISIBLE_DEVICES}'); ` +
          'run at most as many ranks per node as it has GPUs (slots per worker = nvidia.com/gpu per worker)',
      );
    }
    device = String(rank);
  }
  env.CUDA_VISIBLE_DEVICES = device;
  const result: PinnedGpu = { localRank: rank, device, source };
  pinned = { env, result };
  return { ...result };
}
