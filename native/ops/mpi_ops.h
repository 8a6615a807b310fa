// Collectives implemented with MPI calls on the data communicator. Every
// transfer larger than Config::max_chunk_bytes is split, so counts and
// displacements never overflow MPI's int arguments.
#pragma once

#include <mpi.h>

#include "collective_op.h"

namespace hvd::core {

class MpiAllreduce : public AllreduceAlgorithm {
 public:
  MpiAllreduce(MPI_Comm comm, int64_t max_chunk_bytes);
  ~MpiAllreduce() override;
  const char* name() const override { return "mpi"; }
  Status Run(const void* send, void* recv, int64_t count, DataType dtype,
             ReduceOp op) override;

 private:
  MPI_Comm comm_;
  int64_t max_chunk_bytes_;
  MPI_Datatype half_type_ = MPI_DATATYPE_NULL;
  MPI_Op half_ops_[5] = {MPI_OP_NULL, MPI_OP_NULL, MPI_OP_NULL, MPI_OP_NULL, MPI_OP_NULL};
  // float32/float64 min and max through our kernels: MPI_MIN/MPI_MAX keep
  // or drop a NaN depending on the order ranks are combined (reduce.h).
  MPI_Op nan_min_ = MPI_OP_NULL;
  MPI_Op nan_max_ = MPI_OP_NULL;
};

class MpiAllgather : public AllgatherAlgorithm {
 public:
  MpiAllgather(MPI_Comm comm, int64_t max_chunk_bytes);
  Status Run(const void* send, void* recv,
             const std::vector<int64_t>& bytes_per_rank) override;

 private:
  MPI_Comm comm_;
  int64_t max_chunk_bytes_;
};

Status MpiBroadcast(MPI_Comm comm, void* buf, int64_t bytes, int root, int64_t max_chunk_bytes);
Status MpiBarrier(MPI_Comm comm);

}  // namespace hvd::core
