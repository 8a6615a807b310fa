// alltoall: rank i sends splits[j] first-dimension rows of its tensor to
// rank j, and receives, in rank order, the rows every rank sent it. Ranks
// agree on dtype and on every dimension but the first; each rank's splits
// must have one entry per rank and add up to its first dimension (checked
// here so that every rank fails alike). A joined rank sends no rows and
// drops what it is sent.
#include "../stats.h"
#include "op.h"

namespace hvd::core {
namespace {

class Alltoall : public Op {
 public:
  std::string Describe(const Request& r) const override { return " splits=" + ShapeToString(r.splits); }

  bool Agrees(const Request& a, const Request& b) const override { return RowsAgree(a, b); }
  std::string Disagreement(const Disagree& d) const override { return RowsDisagreement(d); }
  std::string Precondition(const Submissions& s) const override {
    for (int rk : s.submitted) {
      const Request& q = s.by_rank[rk];
      int64_t sum = 0;
      for (int64_t x : q.splits) sum += x;
      if (static_cast<int>(q.splits.size()) != s.size || q.shape.empty() || sum != q.shape[0]) {
        return "Mismatched splits for alltoall tensor '" + s.name + "': rank " + std::to_string(rk) + " has splits " +
               ShapeToString(q.splits) + " (" + std::to_string(q.splits.size()) + " entries adding up to " +
               std::to_string(sum) + ") for a tensor of shape " + ShapeToString(q.shape) +
               "; splits need one entry per rank (" + std::to_string(s.size) +
               ") adding up to the first dimension.";
      }
    }
    return "";
  }
  void Build(const Submissions& s, Response* r) const override {
    const Request& first = s.first();
    int64_t row = 1;
    for (size_t i = 1; i < first.shape.size(); ++i) row *= first.shape[i];
    r->counts = {row};
    r->first_dims.assign(static_cast<size_t>(s.size) * s.size, 0);
    for (int i : s.submitted) {
      for (int j = 0; j < s.size; ++j) r->first_dims[static_cast<size_t>(i) * s.size + j] = s.by_rank[i].splits[j];
    }
  }

  void Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
               const std::vector<bool>& have) const override {
    const int n = ctx.comm.size(), me = ctx.comm.rank();
    const int64_t row_bytes = r.counts[0] * static_cast<int64_t>(DataTypeSize(r.dtype));
    std::vector<int64_t> send_bytes(n), recv_bytes(n);
    int64_t recv_rows = 0;
    CollectiveResult res;
    res.ints.resize(n);
    for (int k = 0; k < n; ++k) {
      send_bytes[k] = r.first_dims[static_cast<size_t>(me) * n + k] * row_bytes;
      int64_t rows = r.first_dims[static_cast<size_t>(k) * n + me];
      recv_bytes[k] = rows * row_bytes;
      res.ints[k] = static_cast<int32_t>(rows);
      recv_rows += rows;
    }
    void* recv = AllocateResult(have[0] ? &entries[0] : nullptr, static_cast<size_t>(recv_rows * row_bytes), &res);
    const void* send = have[0] ? entries[0].input : nullptr;
    auto t0 = std::chrono::steady_clock::now();
    Status st = ctx.comm.Alltoallv(send, send_bytes, recv, recv_bytes);
    if (ctx.tracing) ctx.trace(r.names, "ALLTOALL", t0, OpArgs("mpi", recv_rows * row_bytes, 1));
    if (!have[0]) return;
    res.shape = entries[0].request.shape;
    res.shape[0] = recv_rows;
    Complete(ctx, entries[0], st, std::move(res));
  }
};

}  // namespace

const Op& AlltoallOp() {
  static const Alltoall op;
  return op;
}

}  // namespace hvd::core
