// Negotiation: deciding, identically on every rank, which collectives run
// and in what order.
//
// Why negotiate at all: ranks submit work asynchronously and in any order
// (tfjs produces gradients in different orders, user code awaits Promises in
// different orders), but MPI collectives must be called in the same order
// everywhere or they deadlock. Rank 0 acts as coordinator. Every rank tells
// it which names are ready, and it answers with an ordered list of responses
// that all ranks execute in exactly that order.
//
// How hvd differs from Horovod: Horovod runs a lockstep cycle every
// HOROVOD_CYCLE_TIME (1 ms), in which every rank joins a gather of request
// lists and a broadcast of responses even when it has nothing to say. That
// cycle sets its latency floor (~1 ms per small allreduce). hvd's protocol is
// event-driven point-to-point instead:
//   * a worker sends its RequestList to rank 0 (MPI_Isend, tag kRequestTag)
//     as soon as its engine sees new local work, and at no other time;
//   * rank 0 records requests per name in a table; a name is *decided* once
//     every rank has either submitted it, joined, or shut down;
//   * decided names become Responses, checked for agreement (dtype, shape,
//     op, root, scale factors), fused where they fit, and sent to every
//     worker (tag kResponseTag) in one ResponseList; rank 0 executes the same
//     list itself.
// MPI guarantees non-overtaking delivery between a pair of ranks on one
// communicator and tag, so every rank sees ResponseLists in the order rank 0
// made them, and the data-plane collectives (on a separate communicator)
// line up. A disagreement becomes a Response of type kError, so every rank
// fails that request with the same message and nothing hangs. A rank with no
// pending work sends nothing and can sleep: it cannot be needed by a
// collective it has not submitted.
#pragma once

#include <mpi.h>

#include <chrono>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "config.h"
#include "message.h"
#include "mpi_context.h"
#include "response_cache.h"

namespace hvd::core {

class AlgorithmTuner;  // ops/algorithm.h

struct Submissions;
// The decision for one name from what its submitters sent (controller.cc).
Response Decide(const Submissions& subs);
// Decide's verdict alone: "" when the submitters agree and the op's
// precondition holds, otherwise the error message Decide reports.
std::string Check(const Submissions& subs);

// The coordinator's bookkeeping: pure logic with no MPI in it, so it can be
// unit-tested by feeding it RequestLists.
class Coordinator {
 public:
  using Clock = std::chrono::steady_clock;

  // `tuner` (may be null): where the choice of reduce algorithm is measured
  // (with Config::measure_algorithm); `set_id`: the process set coordinated.
  Coordinator(int size, const Config& config, AlgorithmTuner* tuner = nullptr, int32_t set_id = 0);
  bool check_divergence() const { return check_divergence_; }

  // Records what `rank` sent. Lists from one rank must be added in the
  // order that rank sent them.
  void AddRequestList(int rank, const RequestList& list);

  // Everything that has become decided since the last call, validated and
  // fused, in the order all ranks must execute it.
  ResponseList ComputeResponses();

  bool AllShutDown() const;

  // Names every rank sent direct and decided themselves (direct_exchange.h):
  // retired without a response.
  uint64_t direct_decided() const { return direct_decided_; }

  // The job-wide fatal error, once one rank reported one (first wins); it
  // is sent to every rank with the next ResponseList.
  const std::string& abort_reason() const { return abort_reason_; }
  void Abort(const std::string& reason);

  // Fails every pending name older than `seconds` on the ranks that
  // submitted it (stall shutdown). Returns how many were failed.
  int FailStalled(double seconds, const std::string& why);

  // A name that some ranks have submitted and others have not.
  struct Stalled {
    std::string name;
    CollectiveKind kind = CollectiveKind::kAllreduce;
    std::string signature;
    std::vector<int> missing_ranks;
    double seconds;
  };
  std::vector<Stalled> PendingOlderThan(double seconds) const;

 private:
  struct Pending {
    std::vector<Request> by_rank;
    std::vector<bool> have;
    int count = 0;
    Clock::time_point first_seen;
  };
  struct GroupState {
    int expected = 0;
    std::vector<std::string> decided;  // in the order they became decided
  };

  using Table = std::unordered_map<std::string, Pending>;
  static constexpr size_t kSpareEntries = 64;
  Table::iterator NewPending(const std::string& name);
  // Removes a decided entry, keeping it for reuse.
  void Retire(Table::iterator it);

  void AddRequest(int rank, const Request& req);
  ResponseList ComputeDecided();
  void OnRankGone(int rank);
  void RecheckAll();
  void CheckDivergence(int rank, const Request& req);
  void CheckDecided(const std::string& name);
  bool FailsAtShutdown(const Pending& p, int r) const;
  void FailGroups(const std::string& name, const Pending& p);
  // eager: the op may compute the result here (Submissions::eager).
  Response BuildResponse(const std::string& name, const Pending& p, bool eager) const;
  void Fuse(std::vector<Response>* responses, std::vector<int64_t>* bytes) const;

  int size_;
  AlgorithmTuner* tuner_ = nullptr;
  int32_t set_id_ = 0;
  int64_t fusion_threshold_;
  Config config_;
  bool check_divergence_;
  Table table_;
  std::vector<Table::node_type> spare_;  // retired entries, reused by NewPending
  std::unordered_map<std::string, GroupState> groups_;
  std::vector<std::string> decided_;  // names ready for ComputeResponses
  std::vector<bool> shut_down_;
  std::vector<bool> joined_;      // hvd.join() called and not yet released
  int last_joined_ = -1;
  std::vector<Response> forced_;  // errors made outside the normal flow (stalls)
  std::string abort_reason_;
  bool abort_sent_ = false;
  // Divergence check: per rank, the (seq, running hash, signature) of
  // submissions not yet compared with every other rank's.
  struct Submitted {
    uint64_t seq;
    uint64_t hash;
    std::string signature;
  };
  std::vector<std::deque<Submitted>> submitted_;
  std::vector<std::string> arrival_;  // names in first-seen order, for rechecks
  uint64_t direct_decided_ = 0;
  // Requests for a name whose entry still holds one from the same rank
  // (AddRequest), in arrival order.
  std::vector<std::pair<int, Request>> early_;
};

// Moves RequestLists and ResponseLists over MPI point-to-point on the
// control communicator. Rank 0 also runs the Coordinator.
class MpiController {
 public:
  // `tuner`: shared by the coordinators of every set (may be null).
  MpiController(MpiContext* ctx, const Config& config, AlgorithmTuner* tuner = nullptr);

  bool is_coordinator() const { return ctx_->rank() == 0; }

  // Worker: queues an MPI_Isend of the list to rank 0. Coordinator: records
  // the list directly. The list is left as it was (the engine then moves
  // its direct requests into the exchange).
  Status SendRequestList(RequestList* list);

  // Worker: receives ResponseLists that have arrived. Coordinator: receives
  // worker RequestLists, computes responses, sends them to every worker and
  // returns them for local execution. Either way, the other ranks' direct
  // requests that arrived go to *direct_in (direct_exchange.h). Sets
  // *progressed if anything moved.
  Status Poll(std::vector<ResponseList>* out, std::vector<Request>* direct_in, bool* progressed);

  // The direct path (direct_exchange.h): sends the list's requests marked
  // direct to every other rank that needs them (rank 0 gets a worker's in its
  // RequestList). set_direct(true) makes a worker listen for them.
  Status SendDirect(RequestList* list);
  // Clears the cache marks an encoder set on a list's requests.
  static void ClearCacheFields(RequestList* list);
  void set_direct(bool on) {
    direct_ = on;
    direct_decoders_.resize(on ? static_cast<size_t>(ctx_->size()) : 0);
  }

  // Coordinator only: after every rank has shut down, tells every worker
  // the job is over.
  Status SendFinalShutdown();

  // Completes outstanding sends; call before MPI_Finalize.
  Status FlushSends();

  // The global set's coordinator (job-wide shutdown and abort).
  Coordinator* coordinator() { return sets_.at(0).coord.get(); }

  // Process sets. Each set has its own Coordinator (its own table of
  // pending names, join state, mismatch and stall detection, in ranks
  // relative to the set), but every set's requests and responses travel
  // over the global control channel, and rank 0 puts all sets' responses
  // into one order that every rank executes (skipping sets it is not in).
  // One total order is what keeps overlapping sets from deadlocking: were
  // two sets ordered independently, two shared members could each block in
  // a different set's collective waiting for the other.
  // Coordinator only; called in response order on the engine thread.
  void AddSet(int32_t id, const std::vector<int>& world_ranks);
  void RemoveSet(int32_t id);
  // Every set's coordinator with its id (for the stall inspector).
  std::vector<std::pair<int32_t, Coordinator*>> coordinators();

  // Cache effectiveness: entries sent as a reference instead of in full,
  // and bytes of negotiation messages this rank sent.
  uint64_t cache_hits() const { return cache_hits_; }
  uint64_t control_bytes_sent() const { return control_bytes_sent_; }

 private:
  struct OutgoingMessage {
    std::shared_ptr<std::vector<uint8_t>> bytes;
    MPI_Request request;
  };
  Status Isend(std::shared_ptr<std::vector<uint8_t>> bytes, int dest, int tag);
  Status TestSends();
  struct Received {
    int source;
    int tag;
    std::vector<uint8_t> bytes;
  };
  // Receives every message that has arrived from `source` with `tag` (either
  // may be MPI_ANY_*), in arrival order.
  Status ReceiveAll(int source, int tag, std::vector<Received>* out);

  void ResolveRequests(int rank, RequestList* list);
  void ResolveRequests(CacheDecoder<Request>& dict, int rank, RequestList* list);
  void ResolveResponses(ResponseList* list);

  MpiContext* ctx_;
  AlgorithmTuner* tuner_ = nullptr;
  struct SetCoordinator {
    std::vector<int> ranks;                   // world ranks, ascending
    std::unordered_map<int, int> set_rank;    // world rank -> rank in the set
    std::unique_ptr<Coordinator> coord;
  };
  void Route(int world_rank, const RequestList& list);
  ResponseList ComputeAll();
  Config config_;
  std::map<int32_t, SetCoordinator> sets_;    // coordinator only
  std::vector<Response> unknown_set_errors_;  // requests for sets that do not exist
  std::deque<OutgoingMessage> outgoing_;
  CacheEncoder request_encoder_;                          // worker -> rank 0
  std::vector<CacheDecoder<Request>> request_decoders_;   // rank 0: one per worker
  CacheEncoder response_encoder_;                         // rank 0 -> all workers
  CacheDecoder<Response> response_decoder_;               // worker
  CacheEncoder direct_encoder_;                           // this rank -> its direct peers
  std::vector<CacheDecoder<Request>> direct_decoders_;    // worker: one per sender
  uint64_t cache_hits_ = 0;
  uint64_t control_bytes_sent_ = 0;
  bool direct_ = false;
};

}  // namespace hvd::core
