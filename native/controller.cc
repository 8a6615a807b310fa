#include "controller.h"

#include "direct_exchange.h"
#include "logging.h"
#include "ops/op.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace hvd::core {
namespace {

constexpr int kRequestTag = 101;
constexpr int kResponseTag = 102;
constexpr int kDirectTag = 103;  // direct requests, rank to rank (direct_exchange.h)

Response ErrorResponse(const std::string& name, CollectiveKind kind, StatusType type, std::string message) {
  Response r;
  r.kind = kind;
  r.failed = true;
  r.names = {name};
  r.error_type = type;
  r.error = std::move(message);
  return r;
}

// The ranks whose request for a name was direct (Response::direct_ranks).
std::vector<int32_t> DirectRanks(const std::vector<Request>& by_rank, const std::vector<bool>& have) {
  std::vector<int32_t> out;
  for (size_t r = 0; r < by_rank.size(); ++r) {
    if (have[r] && by_rank[r].direct) out.push_back(static_cast<int32_t>(r));
  }
  return out;
}

}  // namespace

Coordinator::Coordinator(int size, const Config& config, AlgorithmTuner* tuner, int32_t set_id)
    : size_(size),
      tuner_(config.measure_algorithm ? tuner : nullptr),
      set_id_(set_id),
      fusion_threshold_(config.fusion_threshold),
      config_(config),
      check_divergence_(config.check_divergence),
      shut_down_(size, false),
      joined_(size, false),
      submitted_(size) {}

void Coordinator::AddRequestList(int rank, const RequestList& list) {
  if (!list.abort_reason.empty()) Abort(list.abort_reason);
  bool joined_now = false;
  for (const Request& req : list.requests) {
    if (check_divergence_) CheckDivergence(rank, req);
    if (OpFor(req.kind).is_join() && !joined_[rank]) {
      joined_[rank] = true;
      last_joined_ = rank;
      joined_now = true;
    }
    AddRequest(rank, req);
  }
  // Decide only once the whole list is in the table: a group's members
  // travel in one list, and FailGroups must see all of them.
  for (const Request& req : list.requests) CheckDecided(req.name);
  // A rank that joined no longer holds anything up: recheck what waits on it.
  if (joined_now) RecheckAll();
  if (list.shutdown && !shut_down_[rank]) OnRankGone(rank);
}

// A rank's request goes into its name's entry; if that entry already holds
// one from this rank, this is the rank's next call of the name, which it
// could make before this coordinator computed the last one's decision: on
// the direct path a rank completes a call without waiting for rank 0
// (direct_exchange.h), and two of its lists can arrive in one poll. It waits
// (early_) until that decision is computed, then takes the fresh entry.
void Coordinator::AddRequest(int rank, const Request& req) {
  auto it = table_.find(req.name);
  if (it == table_.end()) it = NewPending(req.name);
  Pending& p = it->second;
  if (p.have[rank]) {
    early_.emplace_back(rank, req);
    return;
  }
  p.have[rank] = true;
  p.by_rank[rank] = req;
  p.by_rank[rank].rank = rank;
  ++p.count;
}

// A table entry for a name seen for the first time. Entries of decided
// names are kept (spare_) and reused: assigning into their strings and
// vectors reuses the memory, so a steady stream of collectives allocates
// nothing here (this was about a third of the coordinator's time per call).
Coordinator::Table::iterator Coordinator::NewPending(const std::string& name) {
  if (spare_.empty()) {
    auto it = table_.try_emplace(name).first;
    it->second.by_rank.resize(size_);
    it->second.have.assign(size_, false);
    it->second.first_seen = Clock::now();
    return it;
  }
  Table::node_type node = std::move(spare_.back());
  spare_.pop_back();
  node.key() = name;
  Pending& p = node.mapped();
  p.have.assign(size_, false);
  p.count = 0;
  p.first_seen = Clock::now();
  return table_.insert(std::move(node)).position;
}

void Coordinator::Retire(Table::iterator it) {
  if (spare_.size() < kSpareEntries) spare_.push_back(table_.extract(it));
  else table_.erase(it);
}

void Coordinator::Abort(const std::string& reason) {
  if (abort_reason_.empty()) abort_reason_ = reason;
}

void Coordinator::CheckDivergence(int rank, const Request& req) {
  submitted_[rank].push_back({req.seq, req.running_hash, req.Signature()});
  // Compare the oldest submission of every rank once all have one.
  for (;;) {
    for (const auto& q : submitted_) {
      if (q.empty()) return;
    }
    const Submitted& a = submitted_[0].front();
    for (int r = 1; r < size_; ++r) {
      const Submitted& b = submitted_[r].front();
      if (b.hash != a.hash && abort_reason_.empty()) {
        std::string msg = "HVD_CHECK_DIVERGENCE: control flow diverged between ranks at collective #" +
                          std::to_string(a.seq + 1) + ": rank 0 submitted " + a.signature + " but rank " +
                          std::to_string(r) + " submitted " + b.signature +
                          ". Every rank must submit the same collectives in the same order; look for "
                          "rank-dependent branches around this point.";
        Abort(msg);
        return;
      }
    }
    for (auto& q : submitted_) q.pop_front();
  }
}

void Coordinator::RecheckAll() {
  std::vector<std::pair<Clock::time_point, std::string>> names;
  for (const auto& kv : table_) names.emplace_back(kv.second.first_seen, kv.first);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) CheckDecided(n.second);
}

int Coordinator::FailStalled(double seconds, const std::string& why) {
  int failed = 0;
  for (const Stalled& s : PendingOlderThan(seconds)) {
    std::string missing;
    for (size_t i = 0; i < s.missing_ranks.size(); ++i) missing += (i ? "," : "") + std::to_string(s.missing_ranks[i]);
    forced_.push_back(ErrorResponse(s.name, s.kind, StatusType::kAborted,
                                    s.signature + " stalled for " + std::to_string(static_cast<int>(s.seconds)) +
                                        " s: rank(s) " + missing + " never submitted it. " + why));
    auto it = table_.find(s.name);
    if (it != table_.end()) forced_.back().direct_ranks = DirectRanks(it->second.by_rank, it->second.have);
    table_.erase(s.name);
    decided_.erase(std::remove(decided_.begin(), decided_.end(), s.name), decided_.end());
    ++failed;
  }
  return failed;
}

void Coordinator::OnRankGone(int rank) {
  shut_down_[rank] = true;
  std::vector<std::pair<Clock::time_point, std::string>> names;
  for (const auto& kv : table_) names.emplace_back(kv.second.first_seen, kv.first);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) CheckDecided(n.second);
}

// Rank r shut down with its request for p pending, which therefore fails;
// except a request it sent direct (CheckDecided).
bool Coordinator::FailsAtShutdown(const Pending& p, int r) const {
  return shut_down_[r] && p.have[r] && !p.by_rank[r].direct;
}

void Coordinator::CheckDecided(const std::string& name) {
  auto it = table_.find(name);
  if (it == table_.end()) return;
  const Pending& p = it->second;
  bool is_join = false;
  bool submitter_gone = false;
  for (int r = 0; r < size_; ++r) {
    if (!p.have[r]) continue;
    is_join = is_join || OpFor(p.by_rank[r].kind).is_join();
    submitter_gone = submitter_gone || FailsAtShutdown(p, r);
  }
  // A rank that shut down fails everything it had pending, at once; except
  // what it sent direct (direct_exchange.h): its peers hold its copy and
  // may already have completed the call with it, so that call completes or
  // fails like any other, on every rank alike. The rank's engine still runs
  // (it waits for every rank to shut down) and completes it either way.
  if (!submitter_gone) {
    for (int r = 0; r < size_; ++r) {
      if (!p.have[r] && !shut_down_[r] && (is_join || !joined_[r])) return;
    }
  }
  // Decided. Group members wait for the rest of their group, unless the
  // ranks disagree about the group (then the member fails on its own).
  const Request* first = nullptr;
  bool same_group = true;
  for (int r = 0; r < size_; ++r) {
    if (!p.have[r]) continue;
    if (first == nullptr) first = &p.by_rank[r];
    else same_group = same_group && p.by_rank[r].group == first->group && p.by_rank[r].group_size == first->group_size;
  }
  if (!same_group) {
    FailGroups(name, p);
    return;
  }
  if (first != nullptr && !first->group.empty() && same_group && first->group_size > 1) {
    GroupState& g = groups_[first->group];
    g.expected = first->group_size;
    g.decided.push_back(name);
    if (static_cast<int>(g.decided.size()) >= g.expected) {
      decided_.insert(decided_.end(), g.decided.begin(), g.decided.end());
      groups_.erase(first->group);
    }
    return;
  }
  decided_.push_back(name);
}

// The ranks submitted `name` as members of different groups (a different
// member count or layout, or grouped on some ranks only). Every member of
// every group involved fails, on every rank, with one message: a member
// that only some ranks have (the third of three against two) would
// otherwise wait forever. All members of a rank's group arrive in one
// RequestList (TensorQueue::Add is atomic), so once `name` is decided every
// rank's members are in the table.
void Coordinator::FailGroups(const std::string& name, const Pending& p) {
  Submissions subs{name, p.by_rank, p.have};
  subs.size = size_;
  for (int r = 0; r < size_; ++r) {
    if (p.have[r]) subs.submitted.push_back(r);
  }
  // The keys name the group and its members (count or layout); the request
  // count is shown only if that is all that differs.
  bool keys_differ = false;
  for (int r : subs.submitted) keys_differ = keys_differ || p.by_rank[r].group != subs.first().group;
  std::string msg = Disagree(subs)("groups", [keys_differ](const Request& q) {
    if (q.group.empty()) return std::string("no group");
    std::string v = "group '" + q.group + "'";
    if (!keys_differ) v += " of " + std::to_string(q.group_size) + " requests";
    return v;
  });
  msg += " The group fails on every rank; check that every rank passes the same tensors, in the same order, "
         "to the grouped call.";
  std::vector<std::string> keys;
  for (int r : subs.submitted) {
    const std::string& g = p.by_rank[r].group;
    if (!g.empty() && std::find(keys.begin(), keys.end(), g) == keys.end()) keys.push_back(g);
  }
  std::vector<std::pair<Clock::time_point, std::string>> members;
  for (const auto& kv : table_) {
    bool member = kv.first == name;
    for (int r = 0; r < size_ && !member; ++r) {
      member = kv.second.have[r] && std::find(keys.begin(), keys.end(), kv.second.by_rank[r].group) != keys.end();
    }
    if (member) members.emplace_back(kv.second.first_seen, kv.first);
  }
  std::sort(members.begin(), members.end());
  const CollectiveKind first_kind = subs.first().kind;  // `p` is erased below
  for (const auto& m : members) {
    const Pending& q = table_.at(m.second);
    CollectiveKind kind = first_kind;
    for (int r = 0; r < size_; ++r) {
      if (q.have[r]) {
        kind = q.by_rank[r].kind;
        break;
      }
    }
    forced_.push_back(ErrorResponse(m.second, kind, StatusType::kPrecondition, msg));
    forced_.back().direct_ranks = DirectRanks(q.by_rank, q.have);
    decided_.erase(std::remove(decided_.begin(), decided_.end(), m.second), decided_.end());
    table_.erase(m.second);
  }
  for (const std::string& k : keys) groups_.erase(k);
}

// The decision for a name from what its submitters sent (none of them shut
// down): an error when they disagree or the op's precondition fails,
// otherwise the response the op builds. Shared with the direct path
// (direct_exchange.h), which must reach the same verdict on every rank.
std::string Check(const Submissions& subs) {
  const Request& first = subs.first();
  // Fast path: compare the fields directly; format messages only on a mismatch.
  const Op& op = OpFor(first.kind);
  bool same = true;
  for (int rk : subs.submitted) {
    const Request& q = subs.by_rank[rk];
    same = q.kind == first.kind && q.dtype == first.dtype && q.group == first.group && op.Agrees(first, q);
    if (!same) break;
  }
  std::string err;
  if (!same) {
    Disagree d(subs);
    err = d("operations", [](const Request& q) { return std::string(CollectiveKindName(q.kind)); });
    if (err.empty()) err = d("data types", [](const Request& q) { return std::string(DataTypeName(q.dtype)); });
    if (err.empty()) {
      err = d("groups", [](const Request& q) {
        return q.group.empty() ? std::string("no group") : "group '" + q.group + "'";
      });
    }
    if (err.empty()) err = op.Disagreement(d);
  }
  if (err.empty()) err = op.Precondition(subs);
  return err;
}

Response Decide(const Submissions& subs) {
  const std::string& name = subs.name;
  const Request& first = subs.first();
  std::string err = Check(subs);
  if (!err.empty()) return ErrorResponse(name, first.kind, StatusType::kPrecondition, err);
  const Op& op = OpFor(first.kind);

  Response r;
  r.kind = first.kind;
  r.names = {name};
  r.joined = subs.joined;
  r.dtype = first.dtype;
  r.op = first.op;
  r.root = first.root;
  r.prescale = first.prescale;
  r.postscale = first.postscale;
  op.Build(subs, &r);
  return r;
}

Response Coordinator::BuildResponse(const std::string& name, const Pending& p, bool eager) const {
  Submissions subs{name, p.by_rank, p.have};
  subs.size = size_;
  subs.last_joined = last_joined_;
  subs.eager = eager;
  std::vector<int> gone, left_pending;
  for (int r = 0; r < size_; ++r) {
    if (p.have[r]) subs.submitted.push_back(r);
    if (shut_down_[r]) {
      if (!p.have[r]) gone.push_back(r);
      else if (FailsAtShutdown(p, r)) left_pending.push_back(r);
    } else if (!p.have[r]) {
      subs.joined.push_back(r);
    }
  }
  const Request& first = subs.first();
  if (!gone.empty() || !left_pending.empty()) {
    std::string who = !gone.empty() ? RankList(gone) + " shut down (hvd.shutdown() or process exit) before submitting it"
                                     : RankList(left_pending) + " shut down (hvd.shutdown() or process exit) while it was pending";
    return ErrorResponse(name, first.kind, StatusType::kShutDown,
                         first.Signature() + " cannot complete: " + who +
                             ". If that was not expected, look for the first error on any rank; run mpirun with "
                             "--tag-output to see which rank printed what.");
  }

  Response r = Decide(subs);
  // Rank 0 of the set is this process when it is a member (ranks ascend):
  // only its own requests say whether they were in place.
  r.in_place = p.have[0] && p.by_rank[0].in_place;
  r.fresh_output = p.have[0] && p.by_rank[0].fresh_output;
  return r;
}

void Coordinator::Fuse(std::vector<Response>* responses, std::vector<int64_t>* bytes) const {
  if (responses->size() < 2) return;
  std::vector<Response> out;
  std::vector<int64_t> out_bytes;
  for (size_t i = 0; i < responses->size(); ++i) {
    Response& r = (*responses)[i];
    // A response that consumed direct requests is not fused: every rank
    // reads its direct_ranks per name.
    if (!r.failed && fusion_threshold_ > 0 && r.direct_ranks.empty()) {
      const Op& op = OpFor(r.kind);
      bool merged = false;
      for (size_t j = 0; j < out.size() && !merged; ++j) {
        Response& b = out[j];
        if (!b.failed && b.direct_ranks.empty() && b.kind == r.kind && out_bytes[j] + (*bytes)[i] <= fusion_threshold_ && op.CanFuse(b, r)) {
          b.names.insert(b.names.end(), r.names.begin(), r.names.end());
          b.counts.insert(b.counts.end(), r.counts.begin(), r.counts.end());
          b.first_dims.insert(b.first_dims.end(), r.first_dims.begin(), r.first_dims.end());
          b.payload.insert(b.payload.end(), r.payload.begin(), r.payload.end());
          out_bytes[j] += (*bytes)[i];
          b.in_place = b.in_place && r.in_place;
          b.fresh_output = b.fresh_output && r.fresh_output;
          merged = true;
        }
      }
      if (merged) continue;
    }
    out.push_back(std::move(r));
    out_bytes.push_back((*bytes)[i]);
  }
  responses->swap(out);
  bytes->swap(out_bytes);
}

ResponseList Coordinator::ComputeResponses() {
  ResponseList list = ComputeDecided();
  // Calls that came early (AddRequest) take their entries now that the
  // decisions before them are made; what that decides goes after them.
  while (!early_.empty() && list.abort_reason.empty()) {
    std::vector<std::pair<int, Request>> early;
    early.swap(early_);
    for (const auto& [rank, req] : early) AddRequest(rank, req);
    for (const auto& [rank, req] : early) CheckDecided(req.name);
    if (decided_.empty()) break;
    ResponseList more = ComputeDecided();
    for (Response& r : more.responses) list.responses.push_back(std::move(r));
    if (!more.abort_reason.empty()) list.abort_reason = more.abort_reason;
  }
  return list;
}

ResponseList Coordinator::ComputeDecided() {
  ResponseList list;
  if (!abort_reason_.empty()) {
    if (abort_sent_) return list;
    abort_sent_ = true;
    list.abort_reason = abort_reason_;
    return list;
  }
  list.responses.swap(forced_);
  if (decided_.empty()) return list;
  // The direct path: a name every rank sent direct was decided by every
  // rank itself, with DirectDecision on these same requests; it gets no
  // response. (A rank that has shut down since still sent it: its peers
  // completed it.)
  decided_.erase(std::remove_if(decided_.begin(), decided_.end(),
                                [this](const std::string& name) {
                                  auto it = table_.find(name);
                                  if (it == table_.end()) return false;
                                  const Pending& p = it->second;
                                  for (int r = 0; r < size_; ++r) {
                                    if (!p.have[r] || !p.by_rank[r].direct) return false;
                                  }
                                  if (!DirectFires(name, p.by_rank)) return false;
                                  ++direct_decided_;
                                  Retire(it);
                                  return true;
                                }),
                 decided_.end());
  if (decided_.empty()) return list;
  std::vector<int64_t> bytes(list.responses.size(), 0);
  bool join_done = false;
  // Eager: the ops compute results here only while the decided names'
  // payloads total at most HVD_EAGER_BYTES per rank. That bounds what the
  // response carries to every worker; a larger batch is latency-bound no
  // more, and runs its collectives (fused) as usual.
  bool eager = config_.eager_bytes > 0;
  if (eager) {
    size_t total = 0;
    for (const std::string& name : decided_) {
      auto it = table_.find(name);
      if (it == table_.end()) continue;
      for (int r = 0; r < size_; ++r) {
        if (it->second.have[r]) {
          total += it->second.by_rank[r].payload.size();
          break;
        }
      }
    }
    eager = total > 0 && total <= static_cast<size_t>(config_.eager_bytes);
  }
  for (const std::string& name : decided_) {
    auto it = table_.find(name);
    if (it == table_.end()) continue;
    Response r = BuildResponse(name, it->second, eager);
    r.direct_ranks = DirectRanks(it->second.by_rank, it->second.have);
    const Op& op = OpFor(r.kind);
    if (!r.failed && op.is_join()) join_done = true;
    bytes.push_back(r.failed ? 0 : op.PayloadBytes(r));
    list.responses.push_back(std::move(r));
    Retire(it);
  }
  decided_.clear();
  Fuse(&list.responses, &bytes);
  if (join_done) {
    // Everyone has joined: the join completes after all work decided with
    // it, and the next round starts with nobody joined.
    std::stable_partition(list.responses.begin(), list.responses.end(),
                          [](const Response& r) { return r.failed || !OpFor(r.kind).is_join(); });
    joined_.assign(size_, false);
    last_joined_ = -1;
  }
  for (size_t i = 0; i < list.responses.size(); ++i) {
    Response& r = list.responses[i];
    if (r.failed) continue;
    AlgorithmQuery q;
    q.bytes = bytes[i];
    q.set_size = size_;
    q.config = &config_;
    q.tuner = tuner_;
    q.process_set = set_id_;
    q.in_place = r.in_place;
    q.fresh_output = r.fresh_output;
    OpFor(r.kind).Finish(&r, q);
  }
  return list;
}

bool Coordinator::AllShutDown() const {
  return std::all_of(shut_down_.begin(), shut_down_.end(), [](bool b) { return b; });
}

std::vector<Coordinator::Stalled> Coordinator::PendingOlderThan(double seconds) const {
  std::vector<Stalled> out;
  auto now = Clock::now();
  for (const auto& kv : table_) {
    double age = std::chrono::duration<double>(now - kv.second.first_seen).count();
    if (age < seconds) continue;
    Stalled s;
    s.name = kv.first;
    s.seconds = age;
    for (int r = 0; r < size_; ++r) {
      if (kv.second.have[r]) {
        s.kind = kv.second.by_rank[r].kind;
        break;
      }
    }
    for (int r = 0; r < size_; ++r) {
      if (kv.second.have[r]) {
        if (s.signature.empty()) s.signature = kv.second.by_rank[r].Signature();
      } else {
        s.missing_ranks.push_back(r);
      }
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const Stalled& a, const Stalled& b) { return a.seconds > b.seconds; });
  return out;
}

// ---------------------------------------------------------------------------

MpiController::MpiController(MpiContext* ctx, const Config& config, AlgorithmTuner* tuner)
    : ctx_(ctx),
      tuner_(tuner),
      request_encoder_(static_cast<int>(std::min<int64_t>(config.cache_capacity, 1 << 20))),
      response_encoder_(static_cast<int>(std::min<int64_t>(config.cache_capacity, 1 << 20))),
      direct_encoder_(static_cast<int>(std::min<int64_t>(config.cache_capacity, 1 << 20))) {
  config_ = config;
  if (ctx_->rank() == 0) {
    std::vector<int> all(static_cast<size_t>(ctx_->size()));
    for (int r = 0; r < ctx_->size(); ++r) all[static_cast<size_t>(r)] = r;
    AddSet(0, all);
    request_decoders_.resize(static_cast<size_t>(ctx_->size()));
  }
}

void MpiController::AddSet(int32_t id, const std::vector<int>& world_ranks) {
  SetCoordinator& s = sets_[id];
  s.ranks = world_ranks;
  s.set_rank.clear();
  for (size_t i = 0; i < world_ranks.size(); ++i) s.set_rank[world_ranks[i]] = static_cast<int>(i);
  s.coord = std::make_unique<Coordinator>(static_cast<int>(world_ranks.size()), config_, tuner_, id);
}

void MpiController::RemoveSet(int32_t id) {
  if (id != 0) sets_.erase(id);
}

std::vector<std::pair<int32_t, Coordinator*>> MpiController::coordinators() {
  std::vector<std::pair<int32_t, Coordinator*>> out;
  for (auto& kv : sets_) out.emplace_back(kv.first, kv.second.coord.get());
  return out;
}

void MpiController::Route(int world_rank, const RequestList& list) {
  // The usual case, everything on the global set: no per-set copies.
  bool global_only = !list.shutdown || sets_.size() == 1;
  for (size_t i = 0; i < list.requests.size() && global_only; ++i) global_only = list.requests[i].process_set == 0;
  if (global_only) {
    if (list.requests.empty() && !list.shutdown && list.abort_reason.empty()) return;
    SetCoordinator& sc = sets_.at(0);
    sc.coord->AddRequestList(sc.set_rank.at(world_rank), list);
    return;
  }
  std::map<int32_t, RequestList> per_set;
  for (const Request& r : list.requests) {
    auto it = sets_.find(r.process_set);
    if (it == sets_.end() || it->second.set_rank.count(world_rank) == 0) {
      Response e;
      e.kind = r.kind;
      e.process_set = r.process_set;
      e.failed = true;
      e.names = {r.name};
      e.error_type = StatusType::kInvalidArgument;
      e.error = r.Signature() + " was submitted on process set " + std::to_string(r.process_set) + ", which " +
                (it == sets_.end() ? std::string("does not exist (removed?)")
                                   : "does not include rank " + std::to_string(world_rank));
      unknown_set_errors_.push_back(std::move(e));
      continue;
    }
    per_set[r.process_set].requests.push_back(r);
  }
  // The global set first: it carries the abort, and a join or shutdown
  // there must not wait on the others.
  RequestList& global = per_set[0];
  global.abort_reason = list.abort_reason;
  if (list.shutdown) {
    for (auto& kv : sets_) {
      if (kv.second.set_rank.count(world_rank)) per_set[kv.first].shutdown = true;
    }
  }
  for (auto& kv : per_set) {
    RequestList& sub = kv.second;
    if (sub.requests.empty() && !sub.shutdown && sub.abort_reason.empty()) continue;
    SetCoordinator& sc = sets_.at(kv.first);
    sc.coord->AddRequestList(sc.set_rank.at(world_rank), sub);
  }
}

ResponseList MpiController::ComputeAll() {
  ResponseList list = sets_.at(0).coord->ComputeResponses();
  if (!list.abort_reason.empty()) return list;
  for (auto& kv : sets_) {
    if (kv.first == 0) continue;
    ResponseList sub = kv.second.coord->ComputeResponses();
    for (Response& r : sub.responses) {
      r.process_set = kv.first;
      list.responses.push_back(std::move(r));
    }
  }
  for (Response& r : unknown_set_errors_) list.responses.push_back(std::move(r));
  unknown_set_errors_.clear();
  return list;
}

void MpiController::ResolveRequests(int rank, RequestList* list) {
  ResolveRequests(request_decoders_[static_cast<size_t>(rank)], rank, list);
}

void MpiController::ResolveRequests(CacheDecoder<Request>& dict, int rank, RequestList* list) {
  for (Request& r : list->requests) {
    if (r.cache_id < 0) continue;
    // The payload is per call: the dictionary keeps none.
    std::vector<uint8_t> payload = std::move(r.payload);
    if (r.cache_define) {
      dict.Define(r.cache_id, r);
      r.payload = std::move(payload);
      continue;
    }
    const Request* stored = dict.Lookup(r.cache_id);
    HVD_ENFORCE(stored != nullptr, "request cache id " << r.cache_id << " from rank " << rank << " is undefined");
    uint64_t seq = r.seq, hash = r.running_hash;
    const bool direct = r.direct;
    const int64_t number = r.name_number;
    r = *stored;
    r.seq = seq;
    r.running_hash = hash;
    r.direct = direct;
    r.payload = std::move(payload);
    // Names that differ only in their trailing number share the entry.
    if (number >= 0) r.name = WithTrailingNumber(stored->name, number);
  }
}

void MpiController::ResolveResponses(ResponseList* list) {
  for (Response& r : list->responses) {
    if (r.cache_id < 0) continue;
    std::vector<uint8_t> payload = std::move(r.payload);
    if (r.cache_define) {
      response_decoder_.Define(r.cache_id, r);
      r.payload = std::move(payload);
      continue;
    }
    const Response* stored = response_decoder_.Lookup(r.cache_id);
    HVD_ENFORCE(stored != nullptr, "response cache id " << r.cache_id << " is undefined");
    std::vector<int32_t> direct_ranks = std::move(r.direct_ranks);
    std::vector<int64_t> numbers = std::move(r.name_numbers);
    r = *stored;
    r.payload = std::move(payload);
    r.direct_ranks = std::move(direct_ranks);
    HVD_ENFORCE(numbers.size() == r.names.size(), "response cache id " << r.cache_id << ": " << numbers.size()
                                                                      << " name numbers for " << r.names.size() << " names");
    for (size_t i = 0; i < numbers.size(); ++i) {
      if (numbers[i] >= 0) r.names[i] = WithTrailingNumber(r.names[i], numbers[i]);
    }
  }
}

Status MpiController::Isend(std::shared_ptr<std::vector<uint8_t>> bytes, int dest, int tag) {
  OutgoingMessage m;
  m.bytes = std::move(bytes);
  control_bytes_sent_ += m.bytes->size();
  int rc = MPI_Isend(m.bytes->data(), static_cast<int>(m.bytes->size()), MPI_BYTE, dest, tag,
                     ctx_->control_comm(), &m.request);
  if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Isend");
  outgoing_.push_back(std::move(m));
  return Status::Ok();
}

Status MpiController::TestSends() {
  while (!outgoing_.empty()) {
    int done = 0;
    int rc = MPI_Test(&outgoing_.front().request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Test");
    if (!done) break;
    outgoing_.pop_front();
  }
  return Status::Ok();
}

Status MpiController::FlushSends() {
  while (!outgoing_.empty()) {
    int rc = MPI_Wait(&outgoing_.front().request, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Wait");
    outgoing_.pop_front();
  }
  return Status::Ok();
}

Status MpiController::ReceiveAll(int source, int tag, std::vector<Received>* out) {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    int rc = MPI_Iprobe(source, tag, ctx_->control_comm(), &flag, &st);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Iprobe");
    if (!flag) return Status::Ok();
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    std::vector<uint8_t> buf(static_cast<size_t>(count));
    rc = MPI_Recv(buf.data(), count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, ctx_->control_comm(), MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Recv");
    out->push_back({st.MPI_SOURCE, st.MPI_TAG, std::move(buf)});
  }
}

Status MpiController::SendRequestList(RequestList* list) {
  if (is_coordinator()) {
    Route(0, *list);
    return Status::Ok();
  }
  if (request_encoder_.enabled()) {
    for (Request& r : list->requests) {
      auto [id, define] = request_encoder_.Encode(CacheKey(r));
      r.cache_id = id;
      r.cache_define = define;
      if (!define) ++cache_hits_;
    }
  }
  Status s = Isend(std::make_shared<std::vector<uint8_t>>(Serialize(*list)), 0, kRequestTag);
  ClearCacheFields(list);
  return s;
}

// The encoders' marks are per channel and per message: cleared once the
// list is serialized (the engine keeps its direct requests).
void MpiController::ClearCacheFields(RequestList* list) {
  for (Request& r : list->requests) {
    r.cache_id = -1;
    r.cache_define = false;
  }
}

Status MpiController::SendDirect(RequestList* list) {
  if (list->requests.empty() || ctx_->size() < 2) return Status::Ok();
  // Rank 0 has a worker's requests from its RequestList already.
  const int first = 1, me = ctx_->rank();
  if (ctx_->size() == 2 && me != 0) return Status::Ok();
  // One encoder for every destination: each receives the same stream of
  // messages from this rank, in order, and decodes it with its own
  // dictionary for this sender.
  if (direct_encoder_.enabled()) {
    for (Request& r : list->requests) {
      if (!r.direct) continue;
      auto [id, define] = direct_encoder_.Encode(CacheKey(r));
      r.cache_id = id;
      r.cache_define = define;
      if (!define) ++cache_hits_;
    }
  }
  auto bytes = std::make_shared<std::vector<uint8_t>>(Serialize(*list, /*direct_only=*/true));
  ClearCacheFields(list);
  for (int r = first; r < ctx_->size(); ++r) {
    if (r == me) continue;
    Status s = Isend(bytes, r, kDirectTag);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status MpiController::Poll(std::vector<ResponseList>* out, std::vector<Request>* direct_in, bool* progressed) {
  std::vector<Received> received;
  if (is_coordinator()) {
    Status s = ReceiveAll(MPI_ANY_SOURCE, kRequestTag, &received);
    if (!s.ok()) return s;
    for (auto& [src, tag, bytes] : received) {
      RequestList rl = DeserializeRequestList(bytes.data(), bytes.size());
      ResolveRequests(src, &rl);
      Route(src, rl);
      // The coordinator has its copies: the direct ones move on.
      for (Request& r : rl.requests) {
        if (!r.direct) continue;
        r.rank = src;
        direct_in->push_back(std::move(r));
      }
    }
    ResponseList list = ComputeAll();
    const bool any = !list.responses.empty() || !list.abort_reason.empty();
    // Workers get the list encoded; a world of one has none to send it to.
    // The cache fields are set on the list itself: executing it here
    // ignores them, and no copy is made.
    if (any && ctx_->size() > 1) {
      if (response_encoder_.enabled()) {
        for (Response& r : list.responses) {
          if (r.failed) continue;  // errors do not repeat
          auto [id, define] = response_encoder_.Encode(CacheKey(r));
          r.cache_id = id;
          r.cache_define = define;
          if (!define) ++cache_hits_;
        }
      }
      auto bytes = std::make_shared<std::vector<uint8_t>>(Serialize(list));
      for (int w = 1; w < ctx_->size(); ++w) {
        s = Isend(bytes, w, kResponseTag);
        if (!s.ok()) return s;
      }
    }
    if (any) out->push_back(std::move(list));
  } else {
    // A worker on the direct path gets rank 0's responses and every rank's
    // direct requests: one probe for both (a probe is a progress call, a
    // poll(2) over TCP). Rank 0's messages still match in the order it sent them.
    Status s = direct_ ? ReceiveAll(MPI_ANY_SOURCE, MPI_ANY_TAG, &received) : ReceiveAll(0, kResponseTag, &received);
    if (!s.ok()) return s;
    for (auto& [src, tag, bytes] : received) {
      if (tag == kResponseTag && src == 0) {
        out->push_back(DeserializeResponseList(bytes.data(), bytes.size()));
        ResolveResponses(&out->back());
      } else if (tag == kDirectTag) {
        RequestList rl = DeserializeRequestList(bytes.data(), bytes.size());
        ResolveRequests(direct_decoders_[static_cast<size_t>(src)], src, &rl);
        for (Request& r : rl.requests) {
          r.rank = src;
          direct_in->push_back(std::move(r));
        }
      } else {
        HVD_LOG(kWarning, "ignored a control message with tag " << tag << " from rank " << src);
      }
    }
  }
  if (!received.empty() || !out->empty()) *progressed = true;
  return TestSends();
}

Status MpiController::SendFinalShutdown() {
  ResponseList list;
  list.shutdown = true;
  auto bytes = std::make_shared<std::vector<uint8_t>>(Serialize(list));
  for (int w = 1; w < ctx_->size(); ++w) {
    Status s = Isend(bytes, w, kResponseTag);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace hvd::core
