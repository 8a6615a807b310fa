// allgather: every rank's tensor concatenated along the first dimension in
// rank order. The first dimension may differ per rank, the rest must match;
// joined ranks contribute no rows.
#include "../stats.h"
#include "op.h"

namespace hvd::core {
namespace {

class Allgather : public Op {
 public:
  bool Agrees(const Request& a, const Request& b) const override { return RowsAgree(a, b); }
  std::string Disagreement(const Disagree& d) const override { return RowsDisagreement(d); }
  void Build(const Submissions& s, Response* r) const override {
    const Request& first = s.first();
    int64_t row = 1;
    for (size_t i = 1; i < first.shape.size(); ++i) row *= first.shape[i];
    r->counts = {row};
    for (int rk = 0; rk < s.size; ++rk) {
      r->first_dims.push_back(s.have[rk] && !s.by_rank[rk].shape.empty() ? s.by_rank[rk].shape[0] : 0);
    }
  }

  void Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
               const std::vector<bool>& have) const override {
    const size_t esize = DataTypeSize(r.dtype);
    const int64_t row_bytes = r.counts[0] * static_cast<int64_t>(esize);
    std::vector<int64_t> bytes_per_rank(r.first_dims.size());
    int64_t total_rows = 0;
    for (size_t k = 0; k < r.first_dims.size(); ++k) {
      bytes_per_rank[k] = r.first_dims[k] * row_bytes;
      total_rows += r.first_dims[k];
    }
    CollectiveResult res;
    void* recv = AllocateResult(have[0] ? &entries[0] : nullptr, static_cast<size_t>(total_rows * row_bytes), &res);
    const void* send = nullptr;
    if (have[0]) {
      send = entries[0].input;
    } else {
      ctx.scratch.assign(static_cast<size_t>(bytes_per_rank[ctx.comm.rank()]), 0);
      send = ctx.scratch.data();
    }
    auto t0 = std::chrono::steady_clock::now();
    Status st = ctx.comm.Allgatherv(send, recv, bytes_per_rank);
    if (ctx.tracing) ctx.trace(r.names, "ALLGATHER", t0, OpArgs("mpi", total_rows * row_bytes, 1));
    if (!have[0]) return;
    res.shape = entries[0].request.shape;
    if (res.shape.empty()) res.shape.push_back(total_rows);
    else res.shape[0] = total_rows;
    Complete(ctx, entries[0], st, std::move(res));
  }
};

}  // namespace

const Op& AllgatherOp() {
  static const Allgather op;
  return op;
}

}  // namespace hvd::core
