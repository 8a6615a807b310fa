// The op registry: OpFor(kind) from the HVD_COLLECTIVE_KINDS table in
// codes.h, plus the helpers every op shares.
#include <algorithm>
#include <cstdio>

#include "../stats.h"
#include "op.h"

namespace hvd::core {

#define HVD_X(e, v, n, op) const Op& op();
HVD_COLLECTIVE_KINDS(HVD_X)
#undef HVD_X

namespace {
// The table is indexed by value: values must be 0, 1, 2, ... in order.
constexpr int kKindValues[] = {
#define HVD_X(e, v, n, op) v,
    HVD_COLLECTIVE_KINDS(HVD_X)
#undef HVD_X
};
constexpr bool Dense() {
  for (int i = 0; i < kNumCollectiveKinds; ++i) {
    if (kKindValues[i] != i) return false;
  }
  return true;
}
static_assert(Dense(), "HVD_COLLECTIVE_KINDS values must be 0, 1, 2, ... in table order");
}  // namespace

const Op& OpFor(CollectiveKind kind) {
  static const Op* const table[] = {
#define HVD_X(e, v, n, op) &op(),
      HVD_COLLECTIVE_KINDS(HVD_X)
#undef HVD_X
  };
  const int i = static_cast<int>(kind);
  HVD_ENFORCE(i >= 0 && i < kNumCollectiveKinds, "unknown collective kind " << i);
  return *table[i];
}

std::string RankList(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(ranks[i]);
  }
  return s;
}

bool ReductionAgrees(const Request& a, const Request& b) {
  return a.shape == b.shape && a.op == b.op && a.prescale == b.prescale && a.postscale == b.postscale;
}

std::string ReductionDisagreement(const Disagree& d) {
  std::string err = d("shapes", [](const Request& q) { return ShapeToString(q.shape); });
  if (err.empty()) err = d("reduce ops", [](const Request& q) { return std::string(ReduceOpName(q.op)); });
  if (err.empty()) err = d("prescale factors", [](const Request& q) { return FormatDouble(q.prescale); });
  if (err.empty()) err = d("postscale factors", [](const Request& q) { return FormatDouble(q.postscale); });
  return err;
}

bool RowsAgree(const Request& a, const Request& b) {
  return a.shape.size() == b.shape.size() && !a.shape.empty() &&
         std::equal(a.shape.begin() + 1, a.shape.end(), b.shape.begin() + 1);
}

std::string RowsDisagreement(const Disagree& d) {
  return d("shapes (all but the first dimension must match)", [](const Request& q) {
    if (q.shape.empty()) return std::string("a scalar");
    std::vector<int64_t> rest(q.shape.begin() + 1, q.shape.end());
    std::string s = ShapeToString(rest);
    return "[*" + (rest.empty() ? std::string("]") : "," + s.substr(1));
  });
}

std::string FormatDouble(double d) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", d);
  return buf;
}

std::string Disagree::operator()(const char* what,
                                 const std::function<std::string(const Request&)>& value_of) const {
  std::vector<std::pair<std::string, std::vector<int>>> values;
  for (int r : s_.submitted) {
    std::string v = value_of(s_.by_rank[r]);
    auto it = std::find_if(values.begin(), values.end(), [&](const auto& e) { return e.first == v; });
    if (it == values.end()) values.push_back({v, {r}});
    else it->second.push_back(r);
  }
  if (values.size() <= 1) return "";
  std::string msg = std::string("Mismatched ") + what + " for " + CollectiveKindName(s_.first().kind) +
                    " tensor '" + s_.name + "': ";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) msg += "; ";
    msg += RankList(values[i].second) + (values[i].second.size() == 1 ? " has " : " have ") + values[i].first;
  }
  return msg + ". Every rank must submit the same " + what + " under one name.";
}

void Complete(ExecContext& ctx, TensorTableEntry& e, const Status& s, CollectiveResult&& result) {
  if (!e.done) return;
  ctx.stats.tensors++;
  auto done = std::move(e.done);
  e.done = nullptr;
  done(s, std::move(result));
}

void* AllocateResult(TensorTableEntry* e, size_t bytes, CollectiveResult* res) {
  res->kind = CollectiveResult::Kind::kBuffer;
  if (e && e->output) {
    if (e->output_bytes == bytes) {
      res->into_output = true;
      return e->output;
    }
    const size_t esize = DataTypeSize(e->request.dtype);
    res->output_error = "options.out has " + std::to_string(e->output_bytes / esize) + " elements, but the result of " +
                        CollectiveKindName(e->request.kind) + " '" + e->request.name + "' has " +
                        std::to_string(bytes / esize) + " (known once every rank submitted): pass an out of " +
                        std::to_string(bytes / esize) + " " + DataTypeName(e->request.dtype) +
                        " elements. The collective completed on every rank; out was not written.";
    res->buffer = HostBuffer(bytes);
    return res->buffer.data;
  }
  if (bytes >= GlobalPool().min_bytes()) {
    if (void* p = GlobalPool().Allocate(bytes)) {
      res->buffer.data = p;
      res->buffer.size = bytes;
      res->buffer.pooled = true;
      return p;
    }
  }
  void* out = e && e->allocate_output ? e->allocate_output(bytes) : nullptr;
  if (out) return out;
  res->buffer = HostBuffer(bytes, /*try_pool=*/false);
  return res->buffer.data;
}

std::string OpArgs(const char* algorithm, int64_t bytes, size_t tensors) {
  return "\"algorithm\":\"" + std::string(algorithm) + "\",\"bytes\":" + std::to_string(bytes) +
         ",\"tensors\":" + std::to_string(tensors);
}

}  // namespace hvd::core
