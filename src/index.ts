/**
 * hvd: Horovod for TypeScript. MPI collectives for Node.js and data-parallel
 * TensorFlow.js training.
 *
 * @example
 * import * as hvd from 'hvd';
 * hvd.init();
 * const avg = hvd.allreduceSync(new Float32Array([hvd.rank()]));
 * hvd.shutdown();
 *
 * @packageDocumentation
 */
export {
  init,
  shutdown,
  isInitialized,
  size,
  rank,
  localRank,
  localSize,
  crossRank,
  crossSize,
  isHomogeneous,
  mpiThreadsSupported,
  engineStats,
} from './basics';
export * from './collectives';
export { alloc } from './alloc';
export type { DType, AllocTypes } from './alloc';
export { ProcessSet, addProcessSet, removeProcessSet, globalProcessSet } from './process_sets';
export { HorovodError } from './errors';
export type { HorovodErrorCode } from './errors';
export type { EngineStats } from './native';
export type { TensorInput, TensorLike, HvdTypedArray } from './tensor';
export { buildInfo } from './build_info';
export { interactiveOutput, plainOutputUnlessWatched, underMpiLaunch } from './output';
export type { BuildInfo, MpiThreadLevel } from './build_info';

// --- TensorFlow.js integration (tfjs is an optional peer, loaded on first use) ---
export { DistributedOptimizer, isDistributed } from './tfjs/optimizer';
export type { DistributedOptimizerOptions } from './tfjs/optimizer';
export { Compression } from './tfjs/compression';
export type { Compressor } from './tfjs/compression';
export { broadcastVariables, broadcastVariablesSync, broadcastModel, broadcastOptimizerState } from './tfjs/broadcast';
export { callbacks, setLearningRate } from './tfjs/callbacks';
export type { CallbackClasses, LearningRateWarmupArgs, LearningRateScheduleArgs } from './tfjs/callbacks';
export { useTfjs } from './tfjs/tf';
export { pinGpu, type PinnedGpu, type PinGpuOptions } from './gpu';
/** Sharding helpers: equal-length, disjoint shares of a dataset per rank. */
export * as data from './data';
