// A process set: a subset of the job's ranks that runs collectives among
// themselves (model-parallel groups, per-host groups). Each set has its own
// data communicator, its own queue of pending work and its own negotiation
// (a Coordinator on rank 0, see MpiController). The global set, id 0, is
// one of them. Sets are added and removed by collectives on the global set
// (ops/process_set_op.cc), so every rank sees the same ids in the same order.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "mpi_communicator.h"
#include "tensor_queue.h"

namespace hvd::core {

struct ProcessSet {
  int32_t id = 0;
  std::vector<int> ranks;  // world ranks, ascending
  int rank = -1;           // this process's rank in the set; -1 when not a member
  MPI_Comm data = MPI_COMM_NULL;
  bool owns_data = false;  // freed on removal (the global set's belongs to MpiContext)
  std::unique_ptr<MpiCommunicator> comm;  // members only
  TensorQueue queue;
  // HVD_CHECK_DIVERGENCE: position and running hash of this set's submissions.
  uint64_t seq = 0;
  uint64_t hash = 1469598103934665603ull;
  bool included() const { return rank >= 0; }
};

}  // namespace hvd::core
