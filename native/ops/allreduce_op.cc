// allreduce: every rank ends with the elementwise reduction of every rank's
// tensor. Ranks agree on shape, op and scale factors; small responses of
// one dtype/op/scale fuse into one buffer up to HOROVOD_FUSION_THRESHOLD;
// the algorithm comes from the reduce registry (ops/algorithm.h). Joined
// ranks contribute zeros and an average divides by the ranks that did
// contribute.
//
// Eager (HVD_EAGER_BYTES, 4 KiB by default): a small call's requests carry
// each rank's data, the coordinator reduces it while it builds the
// response (rank order, the same kernels and scaling rules as below), and
// every rank copies the result out of the response. That is one round trip
// to rank 0 instead of the round trip and then the collective; and as rank
// 0 computes it once, the result is the same bytes on every rank.
#include <algorithm>
#include <cstring>

#include "../copy.h"
#include "../fusion_buffer.h"
#include "../pool.h"
#include "../stats.h"
#include "op.h"
#include "reduce.h"

namespace hvd::core {
namespace {

class Allreduce : public Op {
 public:
  Buffers buffers() const override { return Buffers::kInputOutput; }
  bool eager() const override { return true; }
  std::string Describe(const Request& r) const override { return std::string(" op=") + ReduceOpName(r.op); }

  bool Agrees(const Request& a, const Request& b) const override { return ReductionAgrees(a, b); }
  std::string Disagreement(const Disagree& d) const override { return ReductionDisagreement(d); }
  void Build(const Submissions& s, Response* r) const override {
    r->counts = {NumElements(s.first().shape)};
    if (EagerComputes(s)) ReduceHere(s, r);
  }
  // Every rank sent exactly the tensor's bytes, and none has joined.
  bool EagerComputes(const Submissions& s) const override {
    if (!s.eager || !s.joined.empty() || s.submitted.empty()) return false;
    const Request& first = s.first();
    const size_t bytes = static_cast<size_t>(NumElements(first.shape)) * DataTypeSize(first.dtype);
    if (bytes == 0) return false;
    for (int rk : s.submitted) {
      if (s.by_rank[rk].payload.size() != bytes) return false;
    }
    return true;
  }
  int64_t PayloadBytes(const Response& r) const override {
    int64_t n = 0;
    for (int64_t c : r.counts) n += c;
    return n * static_cast<int64_t>(DataTypeSize(r.dtype));
  }
  bool CanFuse(const Response& b, const Response& r) const override {
    return b.dtype == r.dtype && b.op == r.op && b.prescale == r.prescale && b.postscale == r.postscale &&
           b.joined == r.joined && b.payload.empty() == r.payload.empty();
  }
  void Finish(Response* r, const AlgorithmQuery& q) const override {
    AlgorithmQuery query = q;
    query.order_free = ResultIsOrderFree(r->dtype, r->op, r->prescale, r->postscale, q.set_size);
    r->algorithm = ChooseReduceAlgorithm(query);
  }

  void Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
               const std::vector<bool>& have) const override;

 private:
  static void ReduceHere(const Submissions& s, Response* r);
  void ExecuteEager(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
                    const std::vector<bool>& have) const;
};

// The coordinator's reduction of the payloads every rank sent (none
// joined): prescale, reduce in rank order, postscale (average: / ranks),
// with integers scaled in double and rounded once, as the collective path
// does. Only when EagerComputes (otherwise r->payload stays empty and the
// collective runs).
void Allreduce::ReduceHere(const Submissions& s, Response* r) {
  const int64_t n = r->counts[0];
  const size_t bytes = static_cast<size_t>(n) * DataTypeSize(r->dtype);
  double post = r->postscale;
  if (r->op == ReduceOp::kAverage) post /= static_cast<double>(s.submitted.size());
  std::vector<uint8_t>& out = r->payload;
  out.resize(bytes);
  if (IsIntegerType(r->dtype) && (r->prescale != 1.0 || post != 1.0)) {
    std::vector<double> acc(static_cast<size_t>(n)), in(static_cast<size_t>(n));
    ScaleToDouble(r->dtype, acc.data(), s.by_rank[s.submitted[0]].payload.data(), n, r->prescale);
    for (size_t i = 1; i < s.submitted.size(); ++i) {
      ScaleToDouble(r->dtype, in.data(), s.by_rank[s.submitted[i]].payload.data(), n, r->prescale);
      ReduceInto(DataType::kFloat64, r->op, acc.data(), in.data(), n);
    }
    ScaleFromDouble(r->dtype, out.data(), acc.data(), n, post);
    return;
  }
  ScaleCopy(r->dtype, out.data(), s.by_rank[s.submitted[0]].payload.data(), n, r->prescale);
  std::vector<uint8_t> scaled(r->prescale != 1.0 ? bytes : 0);
  for (size_t i = 1; i < s.submitted.size(); ++i) {
    const uint8_t* in = s.by_rank[s.submitted[i]].payload.data();
    if (r->prescale != 1.0) {
      ScaleCopy(r->dtype, scaled.data(), in, n, r->prescale);
      in = scaled.data();
    }
    ReduceInto(r->dtype, r->op, out.data(), in, n);
  }
  ScaleBuffer(r->dtype, out.data(), n, post);
}

void Allreduce::ExecuteEager(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
                             const std::vector<bool>& have) const {
  const size_t esize = DataTypeSize(r.dtype);
  const size_t total = static_cast<size_t>(PayloadBytes(r));
  HVD_ENFORCE(r.payload.size() == total, "eager allreduce result of " << r.payload.size() << " bytes for " << total);
  auto t0 = std::chrono::steady_clock::now();
  size_t off = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const size_t bytes = static_cast<size_t>(r.counts[i]) * esize;
    if (have[i]) CopyBytes(entries[i].output, r.payload.data() + off, bytes);
    off += bytes;
  }
  ctx.stats.eager_allreduces++;
  ctx.stats.allreduce_bytes += total;  // sent with the requests instead
  if (r.names.size() > 1) ctx.stats.fused_responses++;
  if (ctx.tracing) ctx.trace(r.names, "ALLREDUCE", t0, OpArgs("eager", static_cast<int64_t>(total), r.names.size()));
  for (size_t i = 0; i < entries.size(); ++i) {
    if (have[i]) Complete(ctx, entries[i], Status::Ok(), CollectiveResult());
  }
}

// Runs the response's algorithm over `count` elements of `dtype` (the
// response's `bytes` of payload); on the coordinator, while the tuner
// measures this size, it learns how long that took.
Status RunAlgorithm(ExecContext& ctx, const Response& r, const std::vector<TensorTableEntry>& entries,
                    const std::vector<bool>& have, const ReduceAlgorithm& algo, const void* in, void* out,
                    int64_t count, DataType dtype, int64_t bytes) {
  const auto t0 = std::chrono::steady_clock::now();
  Status st = algo.Allreduce(ctx.comm, ctx.config, in, out, count, dtype, r.op);
  if (ctx.tuner && st.ok()) {
    // The class the coordinator chose for: whether its own entries were in
    // place (Request::in_place, set from the same pointers) or wrote into
    // fresh results (Request::fresh_output).
    bool in_place = !entries.empty(), fresh = !entries.empty();
    for (size_t i = 0; i < entries.size(); ++i) {
      in_place = in_place && have[i] && entries[i].input == entries[i].output;
      fresh = fresh && have[i] && entries[i].request.fresh_output;
    }
    ctx.tuner->Record(ctx.process_set, r.algorithm, bytes,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                      GlobalPool().stats().misses, in_place, fresh);
  }
  return st;
}

// Integer allreduce with a scale factor (`post` includes average's 1/n):
// every entry converted to double and prescaled into one buffer (the
// context's scratch), reduced in double, postscaled and rounded once into
// the outputs.
Status ScaledIntegerAllreduce(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
                              const std::vector<bool>& have, double post, int64_t total,
                              const ReduceAlgorithm& algo) {
  ctx.scratch.resize(static_cast<size_t>(total) * sizeof(double));
  double* buf = reinterpret_cast<double*>(ctx.scratch.data());
  auto t_in = std::chrono::steady_clock::now();
  int64_t off = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    // A rank that has joined (or lacks the entry) contributes zeros.
    if (have[i]) ScaleToDouble(r.dtype, buf + off, entries[i].input, r.counts[i], r.prescale);
    else std::fill(buf + off, buf + off + r.counts[i], 0.0);
    off += r.counts[i];
  }
  if (ctx.tracing) ctx.trace(r.names, "SCALE_TO_DOUBLE", t_in, "");
  auto t0 = std::chrono::steady_clock::now();
  Status st = RunAlgorithm(ctx, r, entries, have, algo, buf, buf, total, DataType::kFloat64,
                           total * static_cast<int64_t>(DataTypeSize(r.dtype)));
  if (ctx.tracing) ctx.trace(r.names, "ALLREDUCE", t0, OpArgs(algo.name(), total * 8, r.names.size()));
  if (!st.ok()) return st;
  auto t_out = std::chrono::steady_clock::now();
  off = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (have[i]) ScaleFromDouble(r.dtype, entries[i].output, buf + off, r.counts[i], post);
    off += r.counts[i];
  }
  if (ctx.tracing) ctx.trace(r.names, "SCALE_FROM_DOUBLE", t_out, "");
  return st;
}

void Allreduce::Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
                        const std::vector<bool>& have) const {
  if (!r.payload.empty()) return ExecuteEager(ctx, r, entries, have);
  const size_t esize = DataTypeSize(r.dtype);
  const int contributors = ctx.comm.size() - static_cast<int>(r.joined.size());
  double post = r.postscale;
  if (r.op == ReduceOp::kAverage) post /= contributors;
  int64_t total = 0;
  for (int64_t c : r.counts) total += c;
  ctx.stats.allreduce_bytes += static_cast<uint64_t>(total) * esize;
  const ReduceAlgorithm& algo = ReduceAlgorithmById(r.algorithm);
  if (std::strcmp(algo.name(), "ring") == 0) ctx.stats.ring_allreduces++;

  Status st;
  if (IsIntegerType(r.dtype) && (r.prescale != 1.0 || post != 1.0)) {
    // Scaling integers step by step truncated each rank's value before the
    // sum (Int32Array([3]) over 2 ranks with prescale 0.5 gave 1 + 1 = 2):
    // scale in double, reduce, round once (the rule in reduce.h).
    st = ScaledIntegerAllreduce(ctx, r, entries, have, post, total, algo);
  } else if (r.names.size() == 1) {
    // One tensor: reduce straight from input to output, no fusion copy.
    void* out;
    const void* in;
    if (have[0]) {
      out = entries[0].output;
      in = entries[0].input;
    } else {
      ctx.scratch.assign(static_cast<size_t>(total) * esize, 0);
      out = ctx.scratch.data();
      in = out;
    }
    if (r.prescale != 1.0) {
      ScaleCopy(r.dtype, out, in, total, r.prescale);
      in = out;
    }
    auto t0 = std::chrono::steady_clock::now();
    st = RunAlgorithm(ctx, r, entries, have, algo, in, out, total, r.dtype, total * static_cast<int64_t>(esize));
    if (st.ok()) ScaleBuffer(r.dtype, out, total, post);
    if (ctx.tracing) ctx.trace(r.names, "ALLREDUCE", t0, OpArgs(algo.name(), total * esize, 1));
  } else {
    ctx.stats.fused_responses++;
    // When every output lies back to back in one buffer in response order
    // (groupedAllreduce allocates them that way), reduce in that buffer:
    // the results need no copy out of a fusion buffer.
    bool contiguous = true;
    {
      char* expect = nullptr;
      for (size_t i = 0; i < entries.size() && contiguous; ++i) {
        if (!have[i]) {
          contiguous = false;
          break;
        }
        char* o = static_cast<char*>(entries[i].output);
        if (i > 0 && o != expect) contiguous = false;
        expect = o + static_cast<size_t>(r.counts[i]) * esize;
      }
    }
    char* buf = contiguous ? static_cast<char*>(entries[0].output)
                           : static_cast<char*>(ctx.fusion.Get(static_cast<size_t>(total) * esize));
    auto t_in = std::chrono::steady_clock::now();
    int64_t off = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      size_t bytes = static_cast<size_t>(r.counts[i]) * esize;
      if (have[i]) ScaleCopy(r.dtype, buf + off, entries[i].input, r.counts[i], r.prescale);
      else std::memset(buf + off, 0, bytes);
      off += static_cast<int64_t>(bytes);
    }
    if (ctx.tracing) ctx.trace(r.names, "MEMCPY_IN_FUSION_BUFFER", t_in, "");
    auto t0 = std::chrono::steady_clock::now();
    st = RunAlgorithm(ctx, r, entries, have, algo, buf, buf, total, r.dtype, total * static_cast<int64_t>(esize));
    if (ctx.tracing) ctx.trace(r.names, "ALLREDUCE", t0, OpArgs(algo.name(), total * esize, r.names.size()));
    auto t_out = std::chrono::steady_clock::now();
    if (contiguous) {
      if (st.ok()) ScaleBuffer(r.dtype, buf, total, post);
      ctx.stats.fusion_copy_bytes += static_cast<uint64_t>(total) * esize;
    } else {
      off = 0;
      for (size_t i = 0; i < entries.size(); ++i) {
        size_t bytes = static_cast<size_t>(r.counts[i]) * esize;
        if (st.ok() && have[i]) ScaleCopy(r.dtype, entries[i].output, buf + off, r.counts[i], post);
        off += static_cast<int64_t>(bytes);
      }
      ctx.stats.fusion_copy_bytes += 2 * static_cast<uint64_t>(total) * esize;
    }
    if (ctx.tracing) ctx.trace(r.names, contiguous ? "SCALE_IN_OUTPUT_BUFFER" : "MEMCPY_OUT_FUSION_BUFFER", t_out, "");
  }
  auto t_cb = std::chrono::steady_clock::now();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (have[i]) Complete(ctx, entries[i], st, CollectiveResult());
  }
  if (ctx.tracing) ctx.trace(r.names, "CALLBACK", t_cb, "");
}

}  // namespace

const Op& AllreduceOp() {
  static const Allreduce op;
  return op;
}

}  // namespace hvd::core
