// Adding and removing process sets. Both are collectives on the global
// set, so every rank creates (or frees) the set at the same point of the
// global order and gets the same id. Add: the ranks must agree on the
// member list (carried in splits); remove: on the set's id (in root).
#include <algorithm>

#include "op.h"

namespace hvd::core {
namespace {

std::string Ranks(const Request& q) { return ShapeToString(q.splits); }

void Reply(TensorTableEntry& e, const Status& st, int64_t scalar) {
  if (!e.done) return;
  CollectiveResult res;
  res.kind = CollectiveResult::Kind::kScalar;
  res.scalar = scalar;
  auto done = std::move(e.done);
  e.done = nullptr;
  done(st, std::move(res));
}

class AddProcessSet : public Op {
 public:
  Buffers buffers() const override { return Buffers::kNone; }
  std::string Describe(const Request& r) const override { return " ranks=" + Ranks(r); }
  bool Agrees(const Request& a, const Request& b) const override { return a.splits == b.splits; }
  std::string Disagreement(const Disagree& d) const override { return d("process set ranks", Ranks); }
  std::string Precondition(const Submissions& s) const override {
    if (!s.joined.empty()) return "hvd.addProcessSet cannot run while " + RankList(s.joined) + " has joined";
    return "";
  }
  void Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
               const std::vector<bool>& have) const override {
    // Every rank runs this, joined or not; the member list is in the
    // request, so a rank without the entry cannot be here (joined ranks fail
    // the precondition above).
    HVD_ENFORCE(have[0], "addProcessSet response without a local request");
    std::vector<int> ranks(entries[0].request.splits.begin(), entries[0].request.splits.end());
    int32_t id = -1;
    Status st = ctx.host->AddProcessSet(ranks, &id);
    Reply(entries[0], st, id);
  }
};

class RemoveProcessSet : public Op {
 public:
  Buffers buffers() const override { return Buffers::kNone; }
  std::string Describe(const Request& r) const override { return " set=" + std::to_string(r.root); }
  bool Agrees(const Request& a, const Request& b) const override { return a.root == b.root; }
  std::string Disagreement(const Disagree& d) const override {
    return d("process sets", [](const Request& q) { return "set " + std::to_string(q.root); });
  }
  std::string Precondition(const Submissions& s) const override {
    if (!s.joined.empty()) return "hvd.removeProcessSet cannot run while " + RankList(s.joined) + " has joined";
    return "";
  }
  void Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
               const std::vector<bool>& have) const override {
    HVD_ENFORCE(have[0], "removeProcessSet response without a local request");
    Status st = ctx.host->RemoveProcessSet(r.root);
    Reply(entries[0], st, r.root);
  }
};

}  // namespace

const Op& AddProcessSetOp() {
  static const AddProcessSet op;
  return op;
}

const Op& RemoveProcessSetOp() {
  static const RemoveProcessSet op;
  return op;
}

}  // namespace hvd::core
