#include "mpi_ops.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "../mpi_context.h"
#include "reduce.h"

namespace hvd::core {
namespace {

MPI_Datatype ToMpiType(DataType t) {
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
    case DataType::kFloat16: return MPI_DATATYPE_NULL;  // custom type, see below
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op ToMpiOp(DataType t, ReduceOp op) {
  if (t == DataType::kBool) {
    return (op == ReduceOp::kMin || op == ReduceOp::kProduct) ? MPI_LAND : MPI_LOR;
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

// MPI has no binary16 type: reduce through our own kernels.
template <ReduceOp kOp>
void HalfOp(void* in, void* inout, int* len, MPI_Datatype*) {
  ReduceInto(DataType::kFloat16, kOp, inout, in, *len);
}

// float32/float64 min/max with NaN winning (reduce.h); MPI passes the
// datatype, which is MPI_FLOAT or MPI_DOUBLE here.
template <ReduceOp kOp>
void NanFloatOp(void* in, void* inout, int* len, MPI_Datatype* type) {
  const DataType t = *type == MPI_DOUBLE ? DataType::kFloat64 : DataType::kFloat32;
  ReduceInto(t, kOp, inout, in, *len);
}

}  // namespace

MpiAllreduce::MpiAllreduce(MPI_Comm comm, int64_t max_chunk_bytes)
    : comm_(comm), max_chunk_bytes_(max_chunk_bytes) {
  MPI_Type_contiguous(2, MPI_BYTE, &half_type_);
  MPI_Type_commit(&half_type_);
  MPI_Op_create(&HalfOp<ReduceOp::kAverage>, 1, &half_ops_[0]);
  MPI_Op_create(&HalfOp<ReduceOp::kSum>, 1, &half_ops_[1]);
  MPI_Op_create(&HalfOp<ReduceOp::kMin>, 1, &half_ops_[2]);
  MPI_Op_create(&HalfOp<ReduceOp::kMax>, 1, &half_ops_[3]);
  MPI_Op_create(&HalfOp<ReduceOp::kProduct>, 1, &half_ops_[4]);
  MPI_Op_create(&NanFloatOp<ReduceOp::kMin>, 1, &nan_min_);
  MPI_Op_create(&NanFloatOp<ReduceOp::kMax>, 1, &nan_max_);
}

MpiAllreduce::~MpiAllreduce() {
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

Status MpiAllreduce::Run(const void* send, void* recv, int64_t count, DataType dtype,
                         ReduceOp op) {
  const bool half = dtype == DataType::kFloat16;
  MPI_Datatype type = half ? half_type_ : ToMpiType(dtype);
  MPI_Op mpi_op = half ? half_ops_[static_cast<int>(op)] : ToMpiOp(dtype, op);
  if (IsFloatingPoint(dtype) && !half) {
    if (op == ReduceOp::kMin) mpi_op = nan_min_;
    if (op == ReduceOp::kMax) mpi_op = nan_max_;
  }
  const size_t esize = DataTypeSize(dtype);
  const int64_t chunk = std::max<int64_t>(1, max_chunk_bytes_ / static_cast<int64_t>(esize));
  const bool in_place = send == recv || send == nullptr;
  for (int64_t off = 0; off < count; off += chunk) {
    int n = static_cast<int>(std::min(chunk, count - off));
    char* r = static_cast<char*>(recv) + off * esize;
    const void* s = in_place ? MPI_IN_PLACE : static_cast<const char*>(send) + off * esize;
    int rc = MPI_Allreduce(s, r, n, type, mpi_op, comm_);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Allreduce");
  }
  return Status::Ok();
}

MpiAllgather::MpiAllgather(MPI_Comm comm, int64_t max_chunk_bytes)
    : comm_(comm), max_chunk_bytes_(max_chunk_bytes) {}

Status MpiAllgather::Run(const void* send, void* recv,
                         const std::vector<int64_t>& bytes_per_rank) {
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
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
    int rc = MPI_Allgatherv(send, counts[rank], MPI_BYTE, recv, counts.data(),
                            displs.data(), MPI_BYTE, comm_);
    return MpiStatus(rc, "MPI_Allgatherv");
  }
  // Past the int limits: every rank broadcasts its own block, chunked.
  int64_t off = 0;
  for (size_t r = 0; r < bytes_per_rank.size(); ++r) {
    char* dst = static_cast<char*>(recv) + off;
    if (static_cast<int>(r) == rank && bytes_per_rank[r] > 0) {
      std::memcpy(dst, send, static_cast<size_t>(bytes_per_rank[r]));
    }
    Status s = MpiBroadcast(comm_, dst, bytes_per_rank[r], static_cast<int>(r), max_chunk_bytes_);
    if (!s.ok()) return s;
    off += bytes_per_rank[r];
  }
  return Status::Ok();
}

Status MpiBroadcast(MPI_Comm comm, void* buf, int64_t bytes, int root, int64_t max_chunk_bytes) {
  for (int64_t off = 0; off < bytes; off += max_chunk_bytes) {
    int n = static_cast<int>(std::min(max_chunk_bytes, bytes - off));
    int rc = MPI_Bcast(static_cast<char*>(buf) + off, n, MPI_BYTE, root, comm);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Bcast");
  }
  return Status::Ok();
}

Status MpiBarrier(MPI_Comm comm) { return MpiStatus(MPI_Barrier(comm), "MPI_Barrier"); }

}  // namespace hvd::core
