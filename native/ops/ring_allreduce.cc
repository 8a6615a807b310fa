#include "ring_allreduce.h"

#include <algorithm>
#include <cstring>

#include "../mpi_context.h"
#include "reduce.h"

namespace hvd::core {
namespace {
constexpr int kRingTag = 7101;
}

RingAllreduce::RingAllreduce(MPI_Comm comm, int64_t segment_bytes, int64_t max_chunk_bytes)
    : comm_(comm), segment_bytes_(segment_bytes), max_chunk_bytes_(max_chunk_bytes) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

Status RingAllreduce::Run(const void* send, void* recv, int64_t count, DataType dtype, ReduceOp op) {
  const size_t esize = DataTypeSize(dtype);
  char* buf = static_cast<char*>(recv);
  if (send != nullptr && send != recv && count > 0) std::memcpy(buf, send, static_cast<size_t>(count) * esize);
  if (size_ == 1 || count == 0) return Status::Ok();

  const int n = size_;
  std::vector<int64_t> off(n + 1, 0);
  const int64_t base = count / n, rem = count % n;
  for (int i = 0; i < n; ++i) off[i + 1] = off[i] + base + (i < rem ? 1 : 0);
  auto len = [&](int i) { return off[i + 1] - off[i]; };

  // Segments are whole elements, at most segment_bytes_ each.
  const int64_t seg_elems = std::max<int64_t>(1, segment_bytes_ / static_cast<int64_t>(esize));
  tmp_.resize(static_cast<size_t>(2 * seg_elems) * esize);

  for (int s = 0; s < n - 1; ++s) {
    int si = ((rank_ - s) % n + n) % n;
    int ri = ((rank_ - s - 1) % n + n) % n;
    Status st = ReduceScatterStep(buf, off[si], len(si), off[ri], len(ri), dtype, op);
    if (!st.ok()) return st;
  }
  for (int s = 0; s < n - 1; ++s) {
    int si = ((rank_ - s + 1) % n + n) % n;
    int ri = ((rank_ - s) % n + n) % n;
    Status st = AllgatherStep(buf, off[si], len(si), off[ri], len(ri), esize);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

Status RingAllreduce::ReduceScatterStep(char* buf, int64_t send_off, int64_t send_len,
                                        int64_t recv_off, int64_t recv_len, DataType dtype,
                                        ReduceOp op) {
  const size_t esize = DataTypeSize(dtype);
  const int64_t seg = std::max<int64_t>(1, segment_bytes_ / static_cast<int64_t>(esize));
  const int right = (rank_ + 1) % size_, left = (rank_ - 1 + size_) % size_;
  const int64_t nsend = (send_len + seg - 1) / seg, nrecv = (recv_len + seg - 1) / seg;

  // The chunk we send this step is not written this step, so every segment
  // can be in flight at once; receives are double-buffered.
  std::vector<MPI_Request> sends(static_cast<size_t>(nsend), MPI_REQUEST_NULL);
  for (int64_t k = 0; k < nsend; ++k) {
    int64_t e = std::min(seg, send_len - k * seg);
    int rc = MPI_Isend(buf + (send_off + k * seg) * esize, static_cast<int>(e * esize), MPI_BYTE, right,
                       kRingTag, comm_, &sends[static_cast<size_t>(k)]);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Isend (ring)");
  }
  MPI_Request pending = MPI_REQUEST_NULL;
  auto post = [&](int64_t k) -> Status {
    int64_t e = std::min(seg, recv_len - k * seg);
    int rc = MPI_Irecv(tmp_.data() + (k % 2) * seg * esize, static_cast<int>(e * esize), MPI_BYTE, left,
                       kRingTag, comm_, &pending);
    return MpiStatus(rc, "MPI_Irecv (ring)");
  };
  if (nrecv > 0) {
    Status st = post(0);
    if (!st.ok()) return st;
  }
  for (int64_t k = 0; k < nrecv; ++k) {
    int rc = MPI_Wait(&pending, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Wait (ring)");
    if (k + 1 < nrecv) {
      Status st = post(k + 1);
      if (!st.ok()) return st;
    }
    int64_t e = std::min(seg, recv_len - k * seg);
    ReduceInto(dtype, op, buf + (recv_off + k * seg) * esize, tmp_.data() + (k % 2) * seg * esize, e);
  }
  int rc = MPI_Waitall(static_cast<int>(sends.size()), sends.data(), MPI_STATUSES_IGNORE);
  return MpiStatus(rc, "MPI_Waitall (ring)");
}

Status RingAllreduce::AllgatherStep(char* buf, int64_t send_off, int64_t send_len, int64_t recv_off,
                                    int64_t recv_len, size_t esize) {
  const int right = (rank_ + 1) % size_, left = (rank_ - 1 + size_) % size_;
  // Received data goes straight into place; only MPI's int limits force pieces.
  const int64_t piece = std::max<int64_t>(1, max_chunk_bytes_ / static_cast<int64_t>(esize));
  // Sends and receives are posted independently: the two chunks may differ
  // by one element, so they can need different numbers of pieces.
  std::vector<MPI_Request> reqs;
  for (int64_t got = 0; got < recv_len; got += piece) {
    int64_t e = std::min(piece, recv_len - got);
    reqs.emplace_back();
    int rc = MPI_Irecv(buf + (recv_off + got) * esize, static_cast<int>(e * esize), MPI_BYTE, left,
                       kRingTag + 1, comm_, &reqs.back());
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Irecv (ring)");
  }
  for (int64_t sent = 0; sent < send_len; sent += piece) {
    int64_t e = std::min(piece, send_len - sent);
    reqs.emplace_back();
    int rc = MPI_Isend(buf + (send_off + sent) * esize, static_cast<int>(e * esize), MPI_BYTE, right,
                       kRingTag + 1, comm_, &reqs.back());
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Isend (ring)");
  }
  int rc = MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
  return MpiStatus(rc, "MPI_Waitall (ring)");
}

}  // namespace hvd::core
