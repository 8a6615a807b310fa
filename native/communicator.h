// What an algorithm may ask of the ranks it runs on: its place in the
// group, point-to-point transfers, and the few library collectives the
// algorithms build on. Algorithms (ops/algorithm.h) take a Communicator and
// nothing else of the transport, as Gloo's algorithms take a context, so a
// later shared-memory or NCCL backend is one more implementation of this
// class. The MPI implementation is mpi_communicator.h; every process set
// owns one over its own MPI communicator.
//
// All byte and element counts are 64-bit: implementations split transfers
// that their library cannot express in one call.
#pragma once

#include <cstdint>
#include <vector>

#include "common.h"

namespace hvd::core {

class Communicator {
 public:
  // An outstanding point-to-point transfer.
  struct Handle {
    intptr_t impl = 0;
    bool active = false;
  };

  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The most bytes one transfer may carry; larger ones must be split by the
  // caller of Isend/Irecv (the collectives below split on their own).
  virtual int64_t max_message_bytes() const = 0;

  // Point to point, asynchronous; `tag` separates concurrent streams.
  virtual Status Isend(const void* buf, int64_t bytes, int dest, int tag, Handle* h) = 0;
  virtual Status Irecv(void* buf, int64_t bytes, int source, int tag, Handle* h) = 0;
  virtual Status Wait(Handle* h) = 0;
  virtual Status WaitAll(std::vector<Handle>* hs) = 0;

  // Library collectives. Average reduces as sum (the op applies scaling).
  // send == recv (or send == nullptr) means in place.
  virtual Status Allreduce(const void* send, void* recv, int64_t count, DataType dtype, ReduceOp op) = 0;
  // Rank r contributes bytes_per_rank[r] bytes; recv holds all blocks in rank order.
  virtual Status Allgatherv(const void* send, void* recv, const std::vector<int64_t>& bytes_per_rank) = 0;
  virtual Status Broadcast(void* buf, int64_t bytes, int root) = 0;
  // send_bytes[j] bytes from send (blocks back to back, in rank order) go
  // to rank j; recv_bytes[i] bytes arrive from rank i, back to back.
  virtual Status Alltoallv(const void* send, const std::vector<int64_t>& send_bytes, void* recv,
                           const std::vector<int64_t>& recv_bytes) = 0;
  // Reduces `send` (the concatenation of every rank's block, counts[r]
  // elements for rank r) and leaves block rank() in recv.
  virtual Status ReduceScatter(const void* send, void* recv, const std::vector<int64_t>& counts,
                               DataType dtype, ReduceOp op) = 0;
  virtual Status Barrier() = 0;
};

}  // namespace hvd::core
