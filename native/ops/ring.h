// hvd's ring: reduce-scatter then allgather around a ring of ranks over
// the communicator's point-to-point transfers. Each rank sends and receives
// 2(n-1)/n of the buffer in total, the bandwidth-optimal amount. Incoming
// data arrives in segments into a double buffer, so reducing one segment
// overlaps receiving the next. Works for every dtype and op (through
// ReduceInto), any rank count, and any chunk sizes (zero included).
#pragma once

#include <cstdint>
#include <vector>

#include "../communicator.h"

namespace hvd::core {

// Allreduce: the buffer is cut into size() chunks (the first count % n one
// element longer), reduce-scattered, then allgathered.
Status RingAllreduce(Communicator& comm, int64_t segment_bytes, const void* send, void* recv, int64_t count,
                     DataType dtype, ReduceOp op);

// The reduce-scatter phase alone: `buf` holds counts[r] elements per rank
// r back to back (and is overwritten); the reduced chunk rank() is copied
// to `recv`.
Status RingReduceScatter(Communicator& comm, int64_t segment_bytes, void* buf, void* recv,
                         const std::vector<int64_t>& counts, DataType dtype, ReduceOp op);

}  // namespace hvd::core
