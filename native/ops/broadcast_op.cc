// broadcast: the root's tensor on every rank. Ranks agree on root and
// shape; a root that has joined cannot send.
#include <algorithm>
#include <cstring>

#include "../copy.h"
#include "../stats.h"
#include "op.h"

namespace hvd::core {
namespace {

class Broadcast : public Op {
 public:
  Buffers buffers() const override { return Buffers::kInputOutput; }
  std::string Describe(const Request& r) const override { return " root=" + std::to_string(r.root); }

  bool Agrees(const Request& a, const Request& b) const override { return a.root == b.root && a.shape == b.shape; }
  std::string Disagreement(const Disagree& d) const override {
    std::string err = d("root ranks", [](const Request& q) { return std::to_string(q.root); });
    if (err.empty()) err = d("shapes", [](const Request& q) { return ShapeToString(q.shape); });
    return err;
  }
  std::string Precondition(const Submissions& s) const override {
    const Request& first = s.first();
    if (std::find(s.joined.begin(), s.joined.end(), first.root) == s.joined.end()) return "";
    return first.Signature() + " cannot run: its root rank " + std::to_string(first.root) +
           " has already called hvd.join()";
  }
  void Build(const Submissions& s, Response* r) const override { r->counts = {NumElements(s.first().shape)}; }

  void Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
               const std::vector<bool>& have) const override {
    const size_t bytes = static_cast<size_t>(r.counts[0]) * DataTypeSize(r.dtype);
    void* buf;
    if (have[0]) {
      buf = entries[0].output;
      // In place (options.out is the input): the root's data is already there.
      if (ctx.comm.rank() == r.root && bytes > 0 && buf != entries[0].input) CopyBytes(buf, entries[0].input, bytes);
    } else {
      ctx.scratch.assign(bytes, 0);
      buf = ctx.scratch.data();
    }
    auto t0 = std::chrono::steady_clock::now();
    Status st = ctx.comm.Broadcast(buf, static_cast<int64_t>(bytes), r.root);
    if (ctx.tracing) ctx.trace(r.names, "BROADCAST", t0, OpArgs("mpi", static_cast<int64_t>(bytes), 1));
    if (have[0]) Complete(ctx, entries[0], st, CollectiveResult());
  }
};

}  // namespace

const Op& BroadcastOp() {
  static const Broadcast op;
  return op;
}

}  // namespace hvd::core
