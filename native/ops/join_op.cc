// join: this rank has run out of data. Until every rank of the set has
// joined it serves the others' collectives with zeros (the coordinator
// counts it as present for everything but broadcasts it would root);
// completes, on every rank, after the work decided with it, with the rank
// that joined last.
#include "op.h"

namespace hvd::core {
namespace {

class Join : public Op {
 public:
  Buffers buffers() const override { return Buffers::kNone; }
  bool is_join() const override { return true; }
  void Build(const Submissions& s, Response* r) const override {
    r->joined.clear();
    r->last_joined = s.last_joined;
  }
  void Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
               const std::vector<bool>& have) const override {
    if (!have[0] || !entries[0].done) return;
    CollectiveResult res;
    res.kind = CollectiveResult::Kind::kScalar;
    res.scalar = r.last_joined;
    auto done = std::move(entries[0].done);
    entries[0].done = nullptr;
    done(Status::Ok(), std::move(res));
  }
};

}  // namespace

const Op& JoinOp() {
  static const Join op;
  return op;
}

}  // namespace hvd::core
