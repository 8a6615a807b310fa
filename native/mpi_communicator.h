// The Communicator over an MPI communicator. Owns nothing but the fp16
// datatype and the reduce ops MPI lacks (fp16; NaN-wins float min/max); the MPI_Comm belongs to the process
// set. Transfers larger than max_chunk_bytes (HVD_MPI_MAX_CHUNK_BYTES) are
// split, so counts and displacements never overflow MPI's int arguments.
#pragma once

#include <mpi.h>

#include "communicator.h"

namespace hvd::core {

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, int64_t max_chunk_bytes);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  MPI_Comm comm() const { return comm_; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int64_t max_message_bytes() const override { return max_chunk_bytes_; }

  Status Isend(const void* buf, int64_t bytes, int dest, int tag, Handle* h) override;
  Status Irecv(void* buf, int64_t bytes, int source, int tag, Handle* h) override;
  Status Wait(Handle* h) override;
  Status WaitAll(std::vector<Handle>* hs) override;

  Status Allreduce(const void* send, void* recv, int64_t count, DataType dtype, ReduceOp op) override;
  Status Allgatherv(const void* send, void* recv, const std::vector<int64_t>& bytes_per_rank) override;
  Status Broadcast(void* buf, int64_t bytes, int root) override;
  Status Alltoallv(const void* send, const std::vector<int64_t>& send_bytes, void* recv,
                   const std::vector<int64_t>& recv_bytes) override;
  Status ReduceScatter(const void* send, void* recv, const std::vector<int64_t>& counts, DataType dtype,
                       ReduceOp op) override;
  Status Barrier() override;

 private:
  MPI_Datatype TypeOf(DataType t) const;
  MPI_Op OpOf(DataType t, ReduceOp op) const;

  MPI_Comm comm_;
  int64_t max_chunk_bytes_;
  int rank_ = 0, size_ = 1;
  MPI_Datatype half_type_ = MPI_DATATYPE_NULL;
  MPI_Op half_ops_[kNumReduceOps];
  // float32/float64 min and max through our kernels, so a NaN on any rank
  // wins whatever order MPI combines ranks in (ops/reduce.h).
  MPI_Op nan_min_ = MPI_OP_NULL;
  MPI_Op nan_max_ = MPI_OP_NULL;
};

}  // namespace hvd::core
