// The collectives' public surface. Each collective (or family) lives in its
// own file under src/collectives/, with its Promise form (`allreduce`) and
// its blocking form (`allreduceSync`), like tfjs's data()/dataSync(); what
// they share is there too:
//   naming.ts      default names (`<kind>.noname.<n>`, counted per process set)
//   validation.ts  argument checks (options, op, scale factors, roots)
//   reduce_op.ts   ReduceOp, its constants and wire codes, ReductionOptions
//   packing.ts     many tensors as one buffer per dtype (groups, tfjs, optimizer)
//   buffers.ts     the memory hvd allocates for outputs and packs
//   submit.ts      the one path to the engine, Sync and Promise
// src/index.ts re-exports everything exported here, so this list is the
// public API of the collectives.
export { Average, Sum, Min, Max, Product } from './collectives/reduce_op';
export type { ReduceOp } from './collectives/reduce_op';
export type { NameOptions } from './collectives/naming';
export { allreduce, allreduceSync, groupedAllreduce, groupedAllreduceSync } from './collectives/allreduce';
export type { AllreduceOptions, GroupedAllreduceOptions } from './collectives/allreduce';
export { allgather, allgatherSync, groupedAllgather, groupedAllgatherSync } from './collectives/allgather';
export type { AllgatherOptions, GroupedAllgatherOptions } from './collectives/allgather';
export { alltoall, alltoallSync } from './collectives/alltoall';
export type { AlltoallOptions, AlltoallResult } from './collectives/alltoall';
export { reducescatter, reducescatterSync, groupedReducescatter, groupedReducescatterSync } from './collectives/reducescatter';
export type { ReducescatterOptions, GroupedReducescatterOptions } from './collectives/reducescatter';
export { broadcast, broadcastSync } from './collectives/broadcast';
export type { BroadcastOptions } from './collectives/broadcast';
export { barrier, barrierSync, join, joinSync } from './collectives/barrier_join';
export type { JoinOptions } from './collectives/barrier_join';
export { allgatherObject, allgatherObjectSync, broadcastObject, broadcastObjectSync } from './collectives/objects';
