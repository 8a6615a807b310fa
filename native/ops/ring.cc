#include "ring.h"

#include <algorithm>
#include <cstring>

#include "reduce.h"
#include "../copy.h"

namespace hvd::core {
namespace {

constexpr int kRingTag = 7101;

int Mod(int a, int n) { return ((a % n) + n) % n; }

// One reduce-scatter step: send chunk [send_off, +send_len) to the right,
// receive the left's contribution to [recv_off, +recv_len) and reduce it in.
// The chunk sent this step is not written this step, so every segment can
// be in flight at once; receives are double-buffered.
// Out of place (`src` != buf): the chunk sent comes from `send_base` (the
// input at the first step, `buf` after), and each received segment is
// reduced with the input's copy of it, taken segment by segment while it is
// in cache: no whole-buffer copy up front.
Status ReduceScatterStep(Communicator& comm, int64_t seg, std::vector<char>& tmp, char* buf, const char* src,
                         const char* send_base, int64_t send_off, int64_t send_len, int64_t recv_off,
                         int64_t recv_len, DataType dtype, ReduceOp op) {
  const size_t esize = DataTypeSize(dtype);
  const int n = comm.size(), rank = comm.rank();
  const int right = (rank + 1) % n, left = (rank - 1 + n) % n;
  const int64_t nsend = (send_len + seg - 1) / seg, nrecv = (recv_len + seg - 1) / seg;
  std::vector<Communicator::Handle> sends(static_cast<size_t>(nsend));
  for (int64_t k = 0; k < nsend; ++k) {
    int64_t e = std::min(seg, send_len - k * seg);
    Status st = comm.Isend(send_base + (send_off + k * seg) * esize, e * static_cast<int64_t>(esize), right, kRingTag,
                           &sends[static_cast<size_t>(k)]);
    if (!st.ok()) return st;
  }
  Communicator::Handle pending;
  auto post = [&](int64_t k) {
    int64_t e = std::min(seg, recv_len - k * seg);
    return comm.Irecv(tmp.data() + (k % 2) * seg * esize, e * static_cast<int64_t>(esize), left, kRingTag, &pending);
  };
  if (nrecv > 0) {
    Status st = post(0);
    if (!st.ok()) return st;
  }
  for (int64_t k = 0; k < nrecv; ++k) {
    Status st = comm.Wait(&pending);
    if (!st.ok()) return st;
    if (k + 1 < nrecv) {
      st = post(k + 1);
      if (!st.ok()) return st;
    }
    int64_t e = std::min(seg, recv_len - k * seg);
    char* dst = buf + (recv_off + k * seg) * esize;
    if (src != buf) CopyBytes(dst, src + (recv_off + k * seg) * esize, static_cast<size_t>(e) * esize);
    ReduceInto(dtype, op, dst, tmp.data() + (k % 2) * seg * esize, e);
  }
  return comm.WaitAll(&sends);
}

Status AllgatherStep(Communicator& comm, char* buf, int64_t send_off, int64_t send_len, int64_t recv_off,
                     int64_t recv_len, size_t esize) {
  const int n = comm.size(), rank = comm.rank();
  const int right = (rank + 1) % n, left = (rank - 1 + n) % n;
  // Received data goes straight into place; only message limits force pieces.
  const int64_t piece = std::max<int64_t>(1, comm.max_message_bytes() / static_cast<int64_t>(esize));
  // Sends and receives are posted independently: the two chunks may differ
  // in length, so they can need different numbers of pieces.
  std::vector<Communicator::Handle> hs;
  for (int64_t got = 0; got < recv_len; got += piece) {
    int64_t e = std::min(piece, recv_len - got);
    hs.emplace_back();
    Status st = comm.Irecv(buf + (recv_off + got) * esize, e * static_cast<int64_t>(esize), left, kRingTag + 1,
                           &hs.back());
    if (!st.ok()) return st;
  }
  for (int64_t sent = 0; sent < send_len; sent += piece) {
    int64_t e = std::min(piece, send_len - sent);
    hs.emplace_back();
    Status st = comm.Isend(buf + (send_off + sent) * esize, e * static_cast<int64_t>(esize), right, kRingTag + 1,
                           &hs.back());
    if (!st.ok()) return st;
  }
  return comm.WaitAll(&hs);
}

// After it, rank r holds the fully reduced chunk r (chunk i spans
// [off[i], off[i+1])). At step s a rank sends chunk r-s-1 and reduces the
// left's copy of chunk r-s-2 into its own, so the chunk it finishes with at
// step n-2 is chunk r.
// `src` is the input (buf itself when in place); out of place every chunk
// of buf this rank reduces is written from it (ReduceScatterStep), and the
// one it only sends (chunk r-1) is left for the allgather to fill.
Status ReduceScatterPhase(Communicator& comm, int64_t segment_bytes, char* buf, const char* src,
                          const std::vector<int64_t>& off, DataType dtype, ReduceOp op) {
  const int n = comm.size(), rank = comm.rank();
  const size_t esize = DataTypeSize(dtype);
  const int64_t max_seg = std::min(segment_bytes, comm.max_message_bytes());
  const int64_t seg = std::max<int64_t>(1, max_seg / static_cast<int64_t>(esize));
  std::vector<char> tmp(static_cast<size_t>(2 * seg) * esize);
  auto len = [&](int i) { return off[i + 1] - off[i]; };
  for (int s = 0; s < n - 1; ++s) {
    int si = Mod(rank - s - 1, n);
    int ri = Mod(rank - s - 2, n);
    Status st = ReduceScatterStep(comm, seg, tmp, buf, src, s == 0 ? src : buf, off[si], len(si), off[ri], len(ri),
                                  dtype, op);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace

Status RingAllreduce(Communicator& comm, int64_t segment_bytes, const void* send, void* recv, int64_t count,
                     DataType dtype, ReduceOp op) {
  const size_t esize = DataTypeSize(dtype);
  char* buf = static_cast<char*>(recv);
  const char* src = send != nullptr ? static_cast<const char*>(send) : buf;
  const int n = comm.size(), rank = comm.rank();
  if (count == 0) return Status::Ok();
  if (n == 1) {
    if (src != buf) CopyBytes(buf, src, static_cast<size_t>(count) * esize);
    return Status::Ok();
  }
  std::vector<int64_t> off(n + 1, 0);
  const int64_t base = count / n, rem = count % n;
  for (int i = 0; i < n; ++i) off[i + 1] = off[i] + base + (i < rem ? 1 : 0);
  Status st = ReduceScatterPhase(comm, segment_bytes, buf, src, off, dtype, op);
  if (!st.ok()) return st;
  // Rank r starts the allgather holding chunk r and passes on at step s the
  // chunk it received at step s-1.
  for (int s = 0; s < n - 1; ++s) {
    int si = Mod(rank - s, n);
    int ri = Mod(rank - s - 1, n);
    st = AllgatherStep(comm, buf, off[si], off[si + 1] - off[si], off[ri], off[ri + 1] - off[ri], esize);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

Status RingReduceScatter(Communicator& comm, int64_t segment_bytes, void* buf, void* recv,
                         const std::vector<int64_t>& counts, DataType dtype, ReduceOp op) {
  const size_t esize = DataTypeSize(dtype);
  const int n = comm.size(), rank = comm.rank();
  std::vector<int64_t> off(n + 1, 0);
  for (int i = 0; i < n; ++i) off[i + 1] = off[i] + counts[i];
  char* b = static_cast<char*>(buf);
  if (n > 1) {
    Status st = ReduceScatterPhase(comm, segment_bytes, b, b, off, dtype, op);
    if (!st.ok()) return st;
  }
  if (counts[rank] > 0 && recv != b + off[rank] * esize) {
    MoveBytes(recv, b + off[rank] * esize, static_cast<size_t>(counts[rank]) * esize);
  }
  return Status::Ok();
}

}  // namespace hvd::core
