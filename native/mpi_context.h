// MPI lifetime and communicators. Owned by the engine thread: every call
// here except LibraryVersion() must run on that thread.
#pragma once

#include <mpi.h>

#include <string>

#include "common.h"

namespace hvd::core {

class MpiContext {
 public:
  // Initializes MPI (unless the host program already did: then it is
  // adopted and never finalized by us), duplicates the world communicator
  // for negotiation and for data, and derives the local (same host) and
  // cross (same local rank) communicators.
  Status Initialize(bool request_multiple_threads);
  // Frees the communicators; finalizes MPI only if Initialize started it.
  void Finalize();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  int cross_rank() const { return cross_rank_; }
  int cross_size() const { return cross_size_; }
  int thread_level() const { return thread_level_; }
  bool is_homogeneous() const { return homogeneous_; }

  MPI_Comm control_comm() const { return control_; }
  MPI_Comm data_comm() const { return data_; }
  // The ranks on this host (MPI_COMM_NULL before Initialize).
  MPI_Comm local_comm() const { return local_; }

  // MPI_Get_library_version; callable before Initialize, from any thread.
  static std::string LibraryVersion();

 private:
  bool owns_mpi_ = false;
  int rank_ = 0, size_ = 1;
  int local_rank_ = 0, local_size_ = 1;
  int cross_rank_ = 0, cross_size_ = 1;
  int thread_level_ = MPI_THREAD_SINGLE;
  bool homogeneous_ = true;
  MPI_Comm control_ = MPI_COMM_NULL;
  MPI_Comm data_ = MPI_COMM_NULL;
  MPI_Comm local_ = MPI_COMM_NULL;
  MPI_Comm cross_ = MPI_COMM_NULL;
};

// Turns an MPI return code into a Status naming the call that failed.
Status MpiStatus(int rc, const char* what);

}  // namespace hvd::core
