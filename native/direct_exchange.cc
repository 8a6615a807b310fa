#include "direct_exchange.h"

#include <algorithm>
#include <utility>

#include "controller.h"
#include "ops/op.h"

namespace hvd::core {

namespace {
// Every rank submitted, with a payload (else the decision is rank 0's).
bool AllSubmitted(const std::vector<Request>& by_rank, Submissions* subs) {
  subs->size = static_cast<int>(by_rank.size());
  subs->eager = true;
  subs->submitted.resize(by_rank.size());
  for (size_t r = 0; r < by_rank.size(); ++r) {
    if (by_rank[r].payload.empty()) return false;
    subs->submitted[r] = static_cast<int>(r);
  }
  return true;
}
}  // namespace

bool DirectDecision(const std::string& name, const std::vector<Request>& by_rank, Response* out) {
  const std::vector<bool> have(by_rank.size(), true);
  Submissions subs{name, by_rank, have};
  if (!AllSubmitted(by_rank, &subs)) return false;
  *out = Decide(subs);
  return !out->failed && !out->payload.empty();
}

// The same verdict: Decide fails exactly when Check reports, and an eager
// op's Build leaves the payload empty exactly when EagerComputes is false.
bool DirectFires(const std::string& name, const std::vector<Request>& by_rank) {
  const std::vector<bool> have(by_rank.size(), true);
  Submissions subs{name, by_rank, have};
  if (!AllSubmitted(by_rank, &subs)) return false;
  if (!Check(subs).empty()) return false;
  return OpFor(subs.first().kind).EagerComputes(subs);
}

DirectExchange::DirectExchange(int rank, int size) : rank_(rank), size_(size) {}

DirectExchange::Table::iterator DirectExchange::Find(const std::string& name) {
  auto it = slots_.find(name);
  if (it != slots_.end()) return it;
  if (spare_.empty()) {
    it = slots_.try_emplace(name).first;
    it->second.current.resize(static_cast<size_t>(size_));
    it->second.have.assign(static_cast<size_t>(size_), 0);
    return it;
  }
  Table::node_type node = std::move(spare_.back());
  spare_.pop_back();
  node.key() = name;
  return slots_.insert(std::move(node)).position;
}

void DirectExchange::MaybeRelease(Table::iterator it) {
  Slot& s = it->second;
  if (s.count > 0 || !s.later.empty()) return;
  for (int32_t t : s.tombstones) {
    if (t != 0) return;
  }
  if (spare_.size() < 64) spare_.push_back(slots_.extract(it));
  else slots_.erase(it);
}

void DirectExchange::Advance(Slot& s, int r) {
  const size_t i = static_cast<size_t>(r);
  if (!s.have[i]) return;
  s.have[i] = 0;
  --s.count;
  auto next = std::find_if(s.later.begin(), s.later.end(), [r](const Request& q) { return q.rank == r; });
  if (next == s.later.end()) return;
  s.current[i] = std::move(*next);
  s.later.erase(next);
  s.have[i] = 1;
  ++s.count;
}

void DirectExchange::AddOwn(Request r) {
  auto it = Find(r.name);
  Slot& s = it->second;
  const size_t me = static_cast<size_t>(rank_);
  s.current[me] = std::move(r);
  s.current[me].rank = rank_;
  if (!s.have[me]) {
    s.have[me] = 1;
    ++s.count;
  }
  TryFire(it);
}

void DirectExchange::AddPeer(Request r) {
  if (r.rank < 0 || r.rank >= size_ || r.rank == rank_) return;
  auto it = Find(r.name);
  Slot& s = it->second;
  const size_t i = static_cast<size_t>(r.rank);
  if (!s.tombstones.empty() && s.tombstones[i] > 0) {
    // Its decision has already been made by a response: drop it.
    --s.tombstones[i];
    MaybeRelease(it);
    return;
  }
  if (s.have[i]) {
    // For a later decision than the one its current copy is for.
    s.later.push_back(std::move(r));
    return;
  }
  s.current[i] = std::move(r);
  s.have[i] = 1;
  ++s.count;
  TryFire(it);
}

void DirectExchange::Consumed(const std::string& name, const std::vector<int32_t>& ranks) {
  auto it = Find(name);
  Slot& s = it->second;
  for (int32_t r : ranks) {
    if (r < 0 || r >= size_) continue;
    // The response decided each rank's oldest request: the current one.
    if (s.have[static_cast<size_t>(r)]) {
      Advance(s, r);
    } else if (r != rank_) {
      s.tombstones.resize(static_cast<size_t>(size_), 0);
      ++s.tombstones[static_cast<size_t>(r)];
    }
  }
  MaybeRelease(it);
}

void DirectExchange::TryFire(Table::iterator it) {
  Slot& s = it->second;
  if (s.count < size_) return;
  Response decided;
  if (!DirectDecision(it->first, s.current, &decided)) return;  // rank 0's response will say
  for (int r = 0; r < size_; ++r) Advance(s, r);
  fired_.push_back(std::move(decided));
  MaybeRelease(it);
}

}  // namespace hvd::core
