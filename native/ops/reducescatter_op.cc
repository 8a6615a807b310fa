// reducescatter: reduces every rank's tensor as allreduce does and leaves
// each rank its share of the first dimension: dim0 / size rows, one more on
// the first dim0 % size ranks (as Horovod splits). Ranks agree on shape, op
// and scale factors. The algorithm comes from the reduce registry
// (ops/algorithm.h), so when the ring is chosen only its reduce-scatter
// phase runs. Joined ranks contribute zeros; an average divides by the
// ranks that contributed.
#include <algorithm>
#include <cstring>

#include "../stats.h"
#include "op.h"
#include "reduce.h"

namespace hvd::core {
namespace {

class Reducescatter : public Op {
 public:
  std::string Describe(const Request& r) const override { return std::string(" op=") + ReduceOpName(r.op); }

  bool Agrees(const Request& a, const Request& b) const override { return ReductionAgrees(a, b); }
  std::string Disagreement(const Disagree& d) const override { return ReductionDisagreement(d); }
  std::string Precondition(const Submissions& s) const override {
    if (!s.first().shape.empty()) return "";
    return s.first().Signature() + " cannot run: a scalar has no first dimension to scatter";
  }
  void Build(const Submissions& s, Response* r) const override {
    const Request& first = s.first();
    int64_t row = 1;
    for (size_t i = 1; i < first.shape.size(); ++i) row *= first.shape[i];
    r->counts = {row};
    const int64_t dim0 = first.shape[0];
    for (int rk = 0; rk < s.size; ++rk) r->first_dims.push_back(dim0 / s.size + (rk < dim0 % s.size ? 1 : 0));
  }
  int64_t PayloadBytes(const Response& r) const override {
    int64_t rows = 0;
    for (int64_t d : r.first_dims) rows += d;
    return rows * r.counts[0] * static_cast<int64_t>(DataTypeSize(r.dtype));
  }
  void Finish(Response* r, const AlgorithmQuery& q) const override { r->algorithm = ChooseReduceAlgorithm(q); }

  void Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
               const std::vector<bool>& have) const override {
    const int n = ctx.comm.size(), me = ctx.comm.rank();
    const size_t esize = DataTypeSize(r.dtype);
    std::vector<int64_t> counts(n);
    int64_t total = 0;
    for (int k = 0; k < n; ++k) {
      counts[k] = r.first_dims[k] * r.counts[0];
      total += counts[k];
    }
    const int contributors = n - static_cast<int>(r.joined.size());
    double post = r.postscale;
    if (r.op == ReduceOp::kAverage) post /= contributors;
    CollectiveResult res;
    void* out = AllocateResult(have[0] ? &entries[0] : nullptr, static_cast<size_t>(counts[me]) * esize, &res);
    const ReduceAlgorithm& algo = ReduceAlgorithmById(r.algorithm);
    ctx.stats.allreduce_bytes += static_cast<uint64_t>(total) * esize;
    auto t0 = std::chrono::steady_clock::now();
    Status st;
    if (IsIntegerType(r.dtype) && (r.prescale != 1.0 || post != 1.0)) {
      // The allreduce rule (reduce.h): scaled in double, reduced, rounded
      // once. Scratch holds the double input, then this rank's double block.
      ctx.scratch.resize(static_cast<size_t>(total + counts[me]) * sizeof(double));
      double* in = reinterpret_cast<double*>(ctx.scratch.data());
      double* mine = in + total;
      if (have[0]) ScaleToDouble(r.dtype, in, entries[0].input, total, r.prescale);
      else std::fill(in, in + total, 0.0);
      st = algo.ReduceScatter(ctx.comm, ctx.config, in, mine, counts, DataType::kFloat64, r.op);
      if (st.ok()) ScaleFromDouble(r.dtype, out, mine, counts[me], post);
    } else {
      // The algorithms may use the full buffer as scratch: work on a copy.
      ctx.scratch.resize(static_cast<size_t>(total) * esize);
      if (have[0]) ScaleCopy(r.dtype, ctx.scratch.data(), entries[0].input, total, r.prescale);
      else if (total > 0) std::memset(ctx.scratch.data(), 0, static_cast<size_t>(total) * esize);
      st = algo.ReduceScatter(ctx.comm, ctx.config, ctx.scratch.data(), out, counts, r.dtype, r.op);
      if (st.ok()) ScaleBuffer(r.dtype, out, counts[me], post);
    }
    if (ctx.tracing) ctx.trace(r.names, "REDUCESCATTER", t0, OpArgs(algo.name(), total * static_cast<int64_t>(esize), 1));
    if (!have[0]) return;
    res.shape = entries[0].request.shape;
    res.shape[0] = r.first_dims[me];
    Complete(ctx, entries[0], st, std::move(res));
  }
};

}  // namespace

const Op& ReducescatterOp() {
  static const Reducescatter op;
  return op;
}

}  // namespace hvd::core
