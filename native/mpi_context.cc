#include "mpi_context.h"

#include <cstdlib>
#include <vector>

namespace hvd::core {

Status MpiStatus(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return Status::Ok();
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, buf, &len);
  return Status::Error(StatusType::kMpiError,
                       std::string(what) + " failed: " + std::string(buf, len));
}

#define HVD_MPI_CHECK(call)                           \
  do {                                                \
    Status hvd_mpi_s_ = MpiStatus((call), #call);     \
    if (!hvd_mpi_s_.ok()) return hvd_mpi_s_;          \
  } while (0)

Status MpiContext::Initialize(bool request_multiple_threads) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int required = request_multiple_threads ? MPI_THREAD_MULTIPLE : MPI_THREAD_SINGLE;
#if defined(OPEN_MPI)
    // An eager call's request carries up to HVD_EAGER_BYTES (4 KiB) of data
    // plus its header: past Open MPI's shared-memory eager limit (4 KiB,
    // header included) every such message took a rendezvous round trip.
    // Raised for this process's MPI only, and only when neither the
    // environment nor mpirun's --mca sets it; the environment is restored.
    const bool set_vader = std::getenv("OMPI_MCA_btl_vader_eager_limit") == nullptr;
    if (set_vader) setenv("OMPI_MCA_btl_vader_eager_limit", "8192", 0);
#endif
    int rc = MPI_Init_thread(nullptr, nullptr, required, &thread_level_);
#if defined(OPEN_MPI)
    if (set_vader) unsetenv("OMPI_MCA_btl_vader_eager_limit");
#endif
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Init_thread");
    owns_mpi_ = true;
  } else {
    MPI_Query_thread(&thread_level_);
  }
  // Errors must come back as codes so they can fail requests instead of
  // aborting the process from inside the engine thread.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  HVD_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &control_));
  HVD_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &data_));
  MPI_Comm_set_errhandler(control_, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(data_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);

  HVD_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_,
                                    MPI_INFO_NULL, &local_));
  MPI_Comm_rank(local_, &local_rank_);
  MPI_Comm_size(local_, &local_size_);
  HVD_MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, local_rank_, rank_, &cross_));
  MPI_Comm_rank(cross_, &cross_rank_);
  MPI_Comm_size(cross_, &cross_size_);

  std::vector<int> local_sizes(size_);
  HVD_MPI_CHECK(MPI_Allgather(&local_size_, 1, MPI_INT, local_sizes.data(), 1, MPI_INT,
                              control_));
  homogeneous_ = true;
  for (int s : local_sizes) homogeneous_ = homogeneous_ && s == local_size_;
  return Status::Ok();
}

void MpiContext::Finalize() {
  for (MPI_Comm* c : {&cross_, &local_, &data_, &control_}) {
    if (*c != MPI_COMM_NULL) MPI_Comm_free(c);
  }
  if (owns_mpi_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
    owns_mpi_ = false;
  }
}

std::string MpiContext::LibraryVersion() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, len);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace hvd::core
