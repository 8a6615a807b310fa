#include "direct_exchange.h"

#include <algorithm>
#include <utility>

#include "controller.h"
#include "ops/op.h"

namespace hvd::core {

bool DirectDecision(const std::string& name, const std::vector<Request>& by_rank, Response* out) {
  const std::vector<bool> have(by_rank.size(), true);
  Submissions subs{name, by_rank, have};
  subs.size = static_cast<int>(by_rank.size());
  subs.eager = true;
  subs.submitted.resize(by_rank.size());
  for (size_t r = 0; r < by_rank.size(); ++r) {
    if (by_rank[r].payload.empty()) return false;
    subs.submitted[r] = static_cast<int>(r);
  }
  *out = Decide(subs);
  return !out->failed && !out->payload.empty();
}

DirectExchange::DirectExchange(int rank, int size) : rank_(rank), size_(size), scratch_(static_cast<size_t>(size)) {}

DirectExchange::Table::iterator DirectExchange::Find(const std::string& name) {
  auto it = slots_.find(name);
  if (it != slots_.end()) return it;
  if (spare_.empty()) return slots_.try_emplace(name).first;
  Table::node_type node = std::move(spare_.back());
  spare_.pop_back();
  node.key() = name;
  return slots_.insert(std::move(node)).position;
}

void DirectExchange::MaybeRelease(Table::iterator it) {
  Slot& s = it->second;
  if (s.have_own || !s.peers.empty()) return;
  for (int32_t t : s.tombstones) {
    if (t != 0) return;
  }
  if (spare_.size() < 64) spare_.push_back(slots_.extract(it));
  else slots_.erase(it);
}

void DirectExchange::AddOwn(Request r) {
  auto it = Find(r.name);
  it->second.have_own = true;
  it->second.own = std::move(r);
  it->second.own.rank = rank_;
  TryFire(it);
}

void DirectExchange::AddPeer(Request r) {
  if (r.rank < 0 || r.rank >= size_ || r.rank == rank_) return;
  auto it = Find(r.name);
  Slot& s = it->second;
  if (!s.tombstones.empty() && s.tombstones[static_cast<size_t>(r.rank)] > 0) {
    // Its decision has already been made by a response: drop it.
    --s.tombstones[static_cast<size_t>(r.rank)];
    MaybeRelease(it);
    return;
  }
  s.peers.push_back(std::move(r));
  TryFire(it);
}

void DirectExchange::Consumed(const std::string& name, const std::vector<int32_t>& ranks) {
  auto it = Find(name);
  Slot& s = it->second;
  for (int32_t r : ranks) {
    if (r < 0 || r >= size_) continue;
    if (r == rank_) {
      s.have_own = false;
      continue;
    }
    auto p = std::find_if(s.peers.begin(), s.peers.end(), [r](const Request& q) { return q.rank == r; });
    if (p != s.peers.end()) {
      s.peers.erase(p);
    } else {
      s.tombstones.resize(static_cast<size_t>(size_), 0);
      ++s.tombstones[static_cast<size_t>(r)];
    }
  }
  MaybeRelease(it);
}

void DirectExchange::TryFire(Table::iterator it) {
  Slot& s = it->second;
  if (!s.have_own || static_cast<int>(s.peers.size()) < size_ - 1) return;
  // Each peer's first copy, in rank order.
  std::vector<size_t>& pick = pick_;
  pick.assign(static_cast<size_t>(size_), SIZE_MAX);
  for (size_t i = 0; i < s.peers.size(); ++i) {
    size_t r = static_cast<size_t>(s.peers[i].rank);
    if (pick[r] == SIZE_MAX) pick[r] = i;
  }
  for (int r = 0; r < size_; ++r) {
    if (r != rank_ && pick[static_cast<size_t>(r)] == SIZE_MAX) return;
  }
  // Moved into rank order for the decision, and back if it does not fire
  // (rank 0's response will say what happens to them).
  for (int r = 0; r < size_; ++r) {
    Request& src = r == rank_ ? s.own : s.peers[pick[static_cast<size_t>(r)]];
    std::swap(scratch_[static_cast<size_t>(r)], src);
  }
  Response decided;
  const bool fires = DirectDecision(it->first, scratch_, &decided);
  for (int r = 0; r < size_; ++r) {
    Request& src = r == rank_ ? s.own : s.peers[pick[static_cast<size_t>(r)]];
    std::swap(scratch_[static_cast<size_t>(r)], src);
  }
  if (!fires) return;
  s.have_own = false;
  // Drop the copies used (marked by rank -1), keeping the rest in order.
  for (int r = 0; r < size_; ++r) {
    if (r != rank_) s.peers[pick[static_cast<size_t>(r)]].rank = -1;
  }
  size_t keep = 0;
  for (size_t i = 0; i < s.peers.size(); ++i) {
    if (s.peers[i].rank < 0) continue;
    if (keep != i) std::swap(s.peers[keep], s.peers[i]);
    ++keep;
  }
  s.peers.resize(keep);
  fired_.push_back(std::move(decided));
  MaybeRelease(it);
}

}  // namespace hvd::core
