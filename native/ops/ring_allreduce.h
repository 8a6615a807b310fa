// hvd's own ring allreduce: reduce-scatter then allgather around a ring of
// ranks over MPI point-to-point. Each rank sends and receives 2(n-1)/n of
// the buffer in total, the bandwidth-optimal amount. Incoming data arrives
// in segments into a double buffer, so reducing one segment overlaps
// receiving the next. Works for every dtype and op (through ReduceInto),
// any rank count, and lengths not divisible by the rank count (the first
// count % n chunks are one element longer).
#pragma once

#include <mpi.h>

#include <vector>

#include "collective_op.h"

namespace hvd::core {

class RingAllreduce : public AllreduceAlgorithm {
 public:
  // segment_bytes: unit of pipelining; max_chunk_bytes: largest single MPI message.
  RingAllreduce(MPI_Comm comm, int64_t segment_bytes, int64_t max_chunk_bytes);
  const char* name() const override { return "ring"; }
  Status Run(const void* send, void* recv, int64_t count, DataType dtype, ReduceOp op) override;

 private:
  Status ReduceScatterStep(char* buf, int64_t send_off, int64_t send_len, int64_t recv_off,
                           int64_t recv_len, DataType dtype, ReduceOp op);
  Status AllgatherStep(char* buf, int64_t send_off, int64_t send_len, int64_t recv_off,
                       int64_t recv_len, size_t esize);

  MPI_Comm comm_;
  int64_t segment_bytes_;
  int64_t max_chunk_bytes_;
  int rank_ = 0, size_ = 1;
  std::vector<char> tmp_;
};

}  // namespace hvd::core
