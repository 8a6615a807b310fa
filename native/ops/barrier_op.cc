// barrier: completes once every rank of the set has reached it.
#include "op.h"

namespace hvd::core {
namespace {

class Barrier : public Op {
 public:
  Buffers buffers() const override { return Buffers::kNone; }
  void Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
               const std::vector<bool>& have) const override {
    auto t0 = std::chrono::steady_clock::now();
    Status st = ctx.comm.Barrier();
    if (ctx.tracing) ctx.trace(r.names, "BARRIER", t0, "");
    if (have[0] && entries[0].done) {
      auto done = std::move(entries[0].done);
      entries[0].done = nullptr;
      done(st, CollectiveResult());
    }
  }
};

}  // namespace

const Op& BarrierOp() {
  static const Barrier op;
  return op;
}

}  // namespace hvd::core
