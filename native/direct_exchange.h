// The direct path: a small allreduce in one message hop instead of two.
//
// An eager call (HVD_EAGER_BYTES) carries its data in its request. On the
// negotiated path every worker sends that request to rank 0, rank 0 reduces
// the payloads while it builds the response, and sends the result back: two
// one-way messages in sequence, where C's MPI_Allreduce of a few bytes is one
// exchange. That second hop was most of what a small call cost over C (about
// 15 us over loopback TCP here, 2-3 us over shared memory).
//
// On the direct path each rank also sends its eager request to every other
// rank (rank 0 sends its own to every worker; a worker's request reaches
// rank 0 the usual way), and every rank, once it holds every rank's request
// for a name, makes rank 0's decision itself: DirectDecision below, one pure
// function of the requests, which rank 0's Coordinator calls on the same
// requests. So every rank reaches the same verdict and, reducing in rank
// order with the same kernels, the same bytes; nothing is ordered against
// other collectives because no collective runs. When the decision fires,
// rank 0 sends no response at all.
//
// When it does not fire (a mismatch, a rank that sent the name the usual way
// because it has a join pending or the call was not eager, a joined or
// departed rank), rank 0's response decides as it always has. That response
// lists the ranks whose direct copies it consumed (Response::direct_ranks),
// and every rank drops the copy from each of them that it holds, or, when
// that copy is still in flight (peers' messages and rank 0's responses
// travel independently), a tombstone that drops it on arrival. A peer's
// copies of one name arrive in the order it sent them (MPI's non-overtaking
// rule), so the copy a rank pairs with its own request is always that peer's
// request for the same decision.
//
// What keeps the verdicts equal:
//  * requests are marked direct (Request::direct) only on the global set,
//    only for eager ops, never for grouped members, and not while the rank
//    has a join pending (a joined rank takes part in decisions it did not
//    submit, which the other ranks cannot see);
//  * the path is on only where every rank agreed at init (Engine::ThreadMain)
//    and rank 0 never fails a name early: HOROVOD_STALL_SHUTDOWN_TIME_SECONDS
//    turns it off, since a name failed on the ranks that submitted it could
//    otherwise meet a late submission from a rank that had not.
//
// This class is pure bookkeeping (no MPI), unit-tested in
// native/test/direct_exchange_test.cc; the engine moves the messages.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "message.h"

namespace hvd::core {

// Rank 0's decision for a name that every rank of the set submitted with a
// payload: the eager result (Response::payload) when the requests agree and
// the op computes it from their payloads; false when the negotiated path
// must decide instead. `by_rank` is in rank order, one request per rank.
bool DirectDecision(const std::string& name, const std::vector<Request>& by_rank, Response* out);
// Its verdict alone, without computing the result: what rank 0's
// Coordinator needs to retire a name every rank decided itself.
bool DirectFires(const std::string& name, const std::vector<Request>& by_rank);

class DirectExchange {
 public:
  DirectExchange(int rank, int size);

  // This rank's own direct request, once it has been sent to the peers.
  void AddOwn(Request r);
  // A peer's direct request (r.rank is the sender).
  void AddPeer(Request r);
  // A response rank 0 made for `name` on the global set: it consumed the
  // direct requests of `ranks` (Response::direct_ranks).
  void Consumed(const std::string& name, const std::vector<int32_t>& ranks);

  // Decisions that fired since the last call, in the order they fired:
  // each a Response carrying the result, for this rank to complete its own
  // request with.
  std::vector<Response>& fired() { return fired_; }

  // Names this rank holds anything for (tests: nothing outlives its call).
  size_t held() const { return slots_.size(); }

 private:
  // Each rank's request for the name's next decision sits at its rank in
  // `current` (this rank's own at rank_), already in the order
  // DirectDecision takes; a peer's copies for the decisions after that wait
  // in `later`, in arrival order.
  struct Slot {
    std::vector<Request> current;     // by rank, valid where have[r]
    std::vector<uint8_t> have;        // by rank
    int count = 0;                    // ranks with a current request
    std::vector<Request> later;       // peers' further copies, arrival order
    std::vector<int32_t> tombstones;  // per rank: copies to drop on arrival
  };
  using Table = std::unordered_map<std::string, Slot>;
  Table::iterator Find(const std::string& name);
  void TryFire(Table::iterator it);
  void MaybeRelease(Table::iterator it);
  // Drops rank r's current request and moves up its next copy, if any.
  void Advance(Slot& s, int r);

  int rank_;
  int size_;
  Table slots_;
  std::vector<Table::node_type> spare_;  // released slots, reused (no allocation per call)
  std::vector<Response> fired_;
};

}  // namespace hvd::core
