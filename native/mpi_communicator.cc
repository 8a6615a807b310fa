#include "mpi_communicator.h"

#include <algorithm>
#include <cstring>

#include "copy.h"
#include "mpi_context.h"
#include "ops/reduce.h"

namespace hvd::core {
namespace {

static_assert(sizeof(MPI_Request) <= sizeof(intptr_t), "MPI_Request must fit a Handle");

MPI_Request ToMpi(const Communicator::Handle& h) {
  MPI_Request r;
  std::memcpy(&r, &h.impl, sizeof(r));
  return r;
}

void FromMpi(MPI_Request r, Communicator::Handle* h) {
  h->impl = 0;
  std::memcpy(&h->impl, &r, sizeof(r));
  h->active = r != MPI_REQUEST_NULL;
}

// MPI has no binary16 type: reduce through our own kernels.
template <ReduceOp kOp>
void HalfOp(void* in, void* inout, int* len, MPI_Datatype*) {
  ReduceInto(DataType::kFloat16, kOp, inout, in, *len);
}

// float32/float64 min/max with NaN winning (reduce.h): MPI_MIN/MPI_MAX keep
// or drop a NaN depending on the order ranks are combined in. MPI passes the
// datatype, which is MPI_FLOAT or MPI_DOUBLE here.
template <ReduceOp kOp>
void NanFloatOp(void* in, void* inout, int* len, MPI_Datatype* type) {
  const DataType t = *type == MPI_DOUBLE ? DataType::kFloat64 : DataType::kFloat32;
  ReduceInto(t, kOp, inout, in, *len);
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, int64_t max_chunk_bytes)
    : comm_(comm), max_chunk_bytes_(std::max<int64_t>(1, max_chunk_bytes)) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  MPI_Type_contiguous(2, MPI_BYTE, &half_type_);
  MPI_Type_commit(&half_type_);
#define HVD_X(e, v, n) MPI_Op_create(&HalfOp<ReduceOp::e>, 1, &half_ops_[v]);
  HVD_REDUCE_OPS(HVD_X)
#undef HVD_X
  MPI_Op_create(&NanFloatOp<ReduceOp::kMin>, 1, &nan_min_);
  MPI_Op_create(&NanFloatOp<ReduceOp::kMax>, 1, &nan_max_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (MPI_Op& op : half_ops_) {
    if (op != MPI_OP_NULL) MPI_Op_free(&op);
  }
  if (nan_min_ != MPI_OP_NULL) MPI_Op_free(&nan_min_);
  if (nan_max_ != MPI_OP_NULL) MPI_Op_free(&nan_max_);
  if (half_type_ != MPI_DATATYPE_NULL) MPI_Type_free(&half_type_);
}

MPI_Datatype MpiCommunicator::TypeOf(DataType t) const {
  switch (t) {
    case DataType::kUint8: return MPI_UINT8_T;
    case DataType::kInt8: return MPI_INT8_T;
    case DataType::kUint16: return MPI_UINT16_T;
    case DataType::kInt16: return MPI_INT16_T;
    case DataType::kInt32: return MPI_INT32_T;
    case DataType::kUint32: return MPI_UINT32_T;
    case DataType::kInt64: return MPI_INT64_T;
    case DataType::kUint64: return MPI_UINT64_T;
    case DataType::kFloat32: return MPI_FLOAT;
    case DataType::kFloat64: return MPI_DOUBLE;
    case DataType::kBool: return MPI_UINT8_T;
    case DataType::kFloat16: return half_type_;
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op MpiCommunicator::OpOf(DataType t, ReduceOp op) const {
  if (t == DataType::kFloat16) return half_ops_[static_cast<int>(op)];
  if (t == DataType::kBool) return (op == ReduceOp::kMin || op == ReduceOp::kProduct) ? MPI_LAND : MPI_LOR;
  if (t == DataType::kFloat32 || t == DataType::kFloat64) {
    // Allreduce and reduce-scatter alike: NaN wins (reduce.h).
    if (op == ReduceOp::kMin) return nan_min_;
    if (op == ReduceOp::kMax) return nan_max_;
  }
  switch (op) {
    case ReduceOp::kAverage:
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kMin: return MPI_MIN;
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kProduct: return MPI_PROD;
  }
  return MPI_SUM;
}

Status MpiCommunicator::Isend(const void* buf, int64_t bytes, int dest, int tag, Handle* h) {
  HVD_ENFORCE(bytes <= max_chunk_bytes_ || bytes <= INT32_MAX, "message too large: " << bytes);
  MPI_Request r = MPI_REQUEST_NULL;
  int rc = MPI_Isend(buf, static_cast<int>(bytes), MPI_BYTE, dest, tag, comm_, &r);
  FromMpi(r, h);
  return MpiStatus(rc, "MPI_Isend");
}

Status MpiCommunicator::Irecv(void* buf, int64_t bytes, int source, int tag, Handle* h) {
  HVD_ENFORCE(bytes <= max_chunk_bytes_ || bytes <= INT32_MAX, "message too large: " << bytes);
  MPI_Request r = MPI_REQUEST_NULL;
  int rc = MPI_Irecv(buf, static_cast<int>(bytes), MPI_BYTE, source, tag, comm_, &r);
  FromMpi(r, h);
  return MpiStatus(rc, "MPI_Irecv");
}

Status MpiCommunicator::Wait(Handle* h) {
  if (!h->active) return Status::Ok();
  MPI_Request r = ToMpi(*h);
  int rc = MPI_Wait(&r, MPI_STATUS_IGNORE);
  FromMpi(r, h);
  h->active = false;
  return MpiStatus(rc, "MPI_Wait");
}

Status MpiCommunicator::WaitAll(std::vector<Handle>* hs) {
  std::vector<MPI_Request> rs;
  rs.reserve(hs->size());
  for (const Handle& h : *hs) rs.push_back(h.active ? ToMpi(h) : MPI_REQUEST_NULL);
  int rc = MPI_Waitall(static_cast<int>(rs.size()), rs.data(), MPI_STATUSES_IGNORE);
  hs->clear();
  return MpiStatus(rc, "MPI_Waitall");
}

Status MpiCommunicator::Allreduce(const void* send, void* recv, int64_t count, DataType dtype, ReduceOp op) {
  MPI_Datatype type = TypeOf(dtype);
  MPI_Op mpi_op = OpOf(dtype, op);
  const size_t esize = DataTypeSize(dtype);
  const int64_t chunk = std::max<int64_t>(1, max_chunk_bytes_ / static_cast<int64_t>(esize));
  bool in_place = send == recv || send == nullptr;
  // MPI copies send into recv with memcpy: where that is glibc's slow case
  // (copy.h), copy here and reduce in place.
  if (!in_place && CopyIsAliased(recv, send, static_cast<size_t>(count) * esize)) {
    CopyBytes(recv, send, static_cast<size_t>(count) * esize);
    in_place = true;
  }
  for (int64_t off = 0; off < count; off += chunk) {
    int n = static_cast<int>(std::min(chunk, count - off));
    char* r = static_cast<char*>(recv) + off * esize;
    const void* s = in_place ? MPI_IN_PLACE : static_cast<const char*>(send) + off * esize;
    int rc = MPI_Allreduce(s, r, n, type, mpi_op, comm_);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Allreduce");
  }
  return Status::Ok();
}

Status MpiCommunicator::Allgatherv(const void* send, void* recv, const std::vector<int64_t>& bytes_per_rank) {
  int64_t total = 0;
  for (int64_t b : bytes_per_rank) total += b;
  if (total <= max_chunk_bytes_) {
    std::vector<int> counts(bytes_per_rank.size()), displs(bytes_per_rank.size());
    int64_t off = 0;
    for (size_t r = 0; r < bytes_per_rank.size(); ++r) {
      counts[r] = static_cast<int>(bytes_per_rank[r]);
      displs[r] = static_cast<int>(off);
      off += bytes_per_rank[r];
    }
    int rc = MPI_Allgatherv(send, counts[rank_], MPI_BYTE, recv, counts.data(), displs.data(), MPI_BYTE, comm_);
    return MpiStatus(rc, "MPI_Allgatherv");
  }
  // Past the int limits: every rank broadcasts its own block, chunked.
  int64_t off = 0;
  for (size_t r = 0; r < bytes_per_rank.size(); ++r) {
    char* dst = static_cast<char*>(recv) + off;
    if (static_cast<int>(r) == rank_ && bytes_per_rank[r] > 0) {
      CopyBytes(dst, send, static_cast<size_t>(bytes_per_rank[r]));
    }
    Status s = Broadcast(dst, bytes_per_rank[r], static_cast<int>(r));
    if (!s.ok()) return s;
    off += bytes_per_rank[r];
  }
  return Status::Ok();
}

Status MpiCommunicator::Broadcast(void* buf, int64_t bytes, int root) {
  for (int64_t off = 0; off < bytes; off += max_chunk_bytes_) {
    int n = static_cast<int>(std::min(max_chunk_bytes_, bytes - off));
    int rc = MPI_Bcast(static_cast<char*>(buf) + off, n, MPI_BYTE, root, comm_);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Bcast");
  }
  return Status::Ok();
}

Status MpiCommunicator::Alltoallv(const void* send, const std::vector<int64_t>& send_bytes, void* recv,
                                  const std::vector<int64_t>& recv_bytes) {
  int64_t send_total = 0, recv_total = 0;
  for (int64_t b : send_bytes) send_total += b;
  for (int64_t b : recv_bytes) recv_total += b;
  const auto* s = static_cast<const char*>(send);
  auto* r = static_cast<char*>(recv);
  if (send_total <= max_chunk_bytes_ && recv_total <= max_chunk_bytes_) {
    std::vector<int> sc(size_), sd(size_), rcnt(size_), rd(size_);
    int64_t so = 0, ro = 0;
    for (int i = 0; i < size_; ++i) {
      sc[i] = static_cast<int>(send_bytes[i]);
      sd[i] = static_cast<int>(so);
      rcnt[i] = static_cast<int>(recv_bytes[i]);
      rd[i] = static_cast<int>(ro);
      so += send_bytes[i];
      ro += recv_bytes[i];
    }
    int rc = MPI_Alltoallv(s, sc.data(), sd.data(), MPI_BYTE, r, rcnt.data(), rd.data(), MPI_BYTE, comm_);
    return MpiStatus(rc, "MPI_Alltoallv");
  }
  // Past the int limits: pairwise transfers in pieces.
  constexpr int kTag = 7201;
  std::vector<Handle> hs;
  int64_t so = 0, ro = 0;
  for (int i = 0; i < size_; ++i) {
    for (int64_t done = 0; done < recv_bytes[i]; done += max_chunk_bytes_) {
      hs.emplace_back();
      Status st = Irecv(r + ro + done, std::min(max_chunk_bytes_, recv_bytes[i] - done), i, kTag, &hs.back());
      if (!st.ok()) return st;
    }
    ro += recv_bytes[i];
  }
  for (int j = 0; j < size_; ++j) {
    for (int64_t done = 0; done < send_bytes[j]; done += max_chunk_bytes_) {
      hs.emplace_back();
      Status st = Isend(s + so + done, std::min(max_chunk_bytes_, send_bytes[j] - done), j, kTag, &hs.back());
      if (!st.ok()) return st;
    }
    so += send_bytes[j];
  }
  return WaitAll(&hs);
}

Status MpiCommunicator::ReduceScatter(const void* send, void* recv, const std::vector<int64_t>& counts,
                                      DataType dtype, ReduceOp op) {
  MPI_Datatype type = TypeOf(dtype);
  MPI_Op mpi_op = OpOf(dtype, op);
  const int64_t esize = static_cast<int64_t>(DataTypeSize(dtype));
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  if (total == 0) return Status::Ok();
  if (total * esize <= max_chunk_bytes_) {
    std::vector<int> ic(counts.begin(), counts.end());
    int rc = MPI_Reduce_scatter(send, recv, ic.data(), type, mpi_op, comm_);
    return MpiStatus(rc, "MPI_Reduce_scatter");
  }
  // Past the int limits: rounds in which every rank's block advances by at
  // most an equal share of one message, packed back to back.
  const int64_t share = std::max<int64_t>(1, max_chunk_bytes_ / esize / size_);
  std::vector<int64_t> start(size_ + 1, 0);
  for (int i = 0; i < size_; ++i) start[i + 1] = start[i] + counts[i];
  std::vector<int64_t> done(size_, 0);
  std::vector<char> packed;
  for (;;) {
    std::vector<int> piece(size_);
    int64_t round = 0;
    for (int i = 0; i < size_; ++i) {
      piece[i] = static_cast<int>(std::min(share, counts[i] - done[i]));
      round += piece[i];
    }
    if (round == 0) return Status::Ok();
    packed.resize(static_cast<size_t>(round * esize));
    int64_t off = 0;
    for (int i = 0; i < size_; ++i) {
      if (piece[i] > 0) {
        CopyBytes(packed.data() + off * esize, static_cast<const char*>(send) + (start[i] + done[i]) * esize,
                    static_cast<size_t>(piece[i] * esize));
      }
      off += piece[i];
    }
    int rc = MPI_Reduce_scatter(packed.data(), static_cast<char*>(recv) + done[rank_] * esize, piece.data(), type,
                                mpi_op, comm_);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Reduce_scatter");
    for (int i = 0; i < size_; ++i) done[i] += piece[i];
  }
}

Status MpiCommunicator::Barrier() { return MpiStatus(MPI_Barrier(comm_), "MPI_Barrier"); }

}  // namespace hvd::core
