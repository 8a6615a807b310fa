// The negotiation wire format. Workers send RequestLists to the coordinator
// (rank 0); the coordinator answers with ResponseLists that every rank
// executes in the same order. Encoding is a flat little-endian byte stream:
// all ranks run the same build, so no schema evolution is needed.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common.h"

namespace hvd::core {

// One rank's description of one tensor it wants to communicate.
struct Request {
  std::string name;
  CollectiveKind kind = CollectiveKind::kAllreduce;
  DataType dtype = DataType::kFloat32;
  std::vector<int64_t> shape;
  ReduceOp op = ReduceOp::kSum;
  int32_t root = 0;
  double prescale = 1.0;
  double postscale = 1.0;
  // Kind-specific integers (alltoall: rows sent to each rank; process set
  // ops: the member ranks). Compared across ranks by the op that uses them.
  std::vector<int64_t> splits;
  // Grouped collectives: every member carries the group's key and size, and the
  // coordinator releases the members together, fused where they fit.
  std::string group;
  int32_t group_size = 0;
  // The process set it runs on (0: the global set); ranks, roots and sizes
  // in the request are relative to that set.
  int32_t process_set = 0;
  int32_t rank = 0;  // filled in by the sender
  // HVD_CHECK_DIVERGENCE: this request's position in the rank's submission
  // order and the running hash of every signature submitted up to it.
  uint64_t seq = 0;
  uint64_t running_hash = 0;
  // Response cache (response_cache.h): -1 = sent in full without caching;
  // otherwise the dictionary id, and whether this message defines it.
  int32_t cache_id = -1;
  bool cache_define = false;
  // A received cache reference: the trailing number of its name
  // (TrailingNumber), which replaces the stored entry's; -1: none.
  int64_t name_number = -1;
  // Eager calls (Op::eager, HVD_EAGER_BYTES): this rank's input, for the
  // coordinator to compute the result from. Per call: not part of the
  // cache key.
  std::vector<uint8_t> payload;
  // The direct path (direct_exchange.h): this eager request was also sent
  // to every other rank, which compute the result themselves. Per call,
  // like the payload.
  bool direct = false;
  // When the JS thread submitted it (local only, not sent; for the timeline).
  std::chrono::steady_clock::time_point enqueued{};
  // The entry's input is its output (local only, not sent): what the
  // coordinator's own requests tell the algorithm tuner (ops/algorithm.h).
  bool in_place = false;
  // Out of place into a block of hvd's pool allocated for this call, which
  // nothing has written yet (local only; Pool::ClaimFresh): a result array
  // that is cold in the cache, which the tuner measures apart from a
  // caller's reused `out` (ops/algorithm.h).
  bool fresh_output = false;

  // "allreduce 'grad.0' float32[2,3] op=sum" style summary for messages
  // (the op adds its own fields, see Op::Describe).
  std::string Signature() const;
};

struct RequestList {
  std::vector<Request> requests;
  bool shutdown = false;        // this rank is leaving; fail what needs it
  std::string abort_reason;     // non-empty: this rank failed fatally
};

// One unit of work every rank of a process set performs in the same
// position of that set's order.
struct Response {
  CollectiveKind kind = CollectiveKind::kAllreduce;
  int32_t process_set = 0;          // executed by that set's members only
  bool failed = false;              // every rank fails the names with `error`
  std::vector<std::string> names;   // several when fused
  DataType dtype = DataType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  int32_t root = 0;
  double prescale = 1.0;
  double postscale = 1.0;
  // Per named tensor, the elements (allreduce, broadcast) or the elements
  // per first-dimension row (allgather, alltoall, reducescatter). Lets a
  // rank whose entry is gone (joined) still take part with a correctly
  // sized buffer.
  std::vector<int64_t> counts;
  // Per rank (per tensor, rank-major within a tensor when there are several):
  // allgather and reducescatter: first dimension of each rank's input or
  // share; alltoall: the size x size matrix of rows sent from rank i to j.
  std::vector<int64_t> first_dims;
  std::vector<int32_t> joined;      // ranks that had joined (they contribute zeros)
  int32_t last_joined = -1;         // join: last rank to join
  // The algorithm the coordinator chose from the op's registry of
  // candidates (ops/algorithm.h), by id; every rank runs the same one.
  uint8_t algorithm = 0;
  std::string error;                // failed: the message every rank reports
  StatusType error_type = StatusType::kPrecondition;
  int32_t cache_id = -1;            // as in Request
  bool cache_define = false;
  std::vector<int64_t> name_numbers;  // a received reference: per name, as Request::name_number
  // The result, when the coordinator computed it from the requests'
  // payloads (every name's, back to back in `names` order): the ranks copy
  // it out instead of running the collective. Not part of the cache key.
  std::vector<uint8_t> payload;
  // The ranks whose request for this name was direct (Request::direct):
  // the response consumed their copies, and every rank drops the copy it
  // holds or will receive (direct_exchange.h). Per call; a response with
  // any does not fuse.
  std::vector<int32_t> direct_ranks;
  // Local to the coordinator, not sent: its own requests for every name
  // were in place (Request::in_place), for the algorithm tuner.
  bool in_place = false;
  // Local to the coordinator, not sent: its own requests for every name
  // wrote into fresh results (Request::fresh_output), for the algorithm tuner.
  bool fresh_output = false;
};

// What identifies a request or response for the cache: every field that is
// the same each time the same collective repeats. A name's trailing number
// is not part of it: "allreduce.noname.41" and ".42" (automatic names) or
// "loss.step.7" and ".8" share one entry, and each reference carries its
// number.
std::string CacheKey(const Request& r);
std::string CacheKey(const Response& r);

// The decimal number a name ends with ("allreduce.noname.41": 41), with
// *stem set to the length before it; -1 (and *stem the whole length) when
// it ends in no digit, in more than 18, or in digits with a leading zero
// other than "0" itself (so that the number prints back as the same name).
int64_t TrailingNumber(const std::string& name, size_t* stem = nullptr);
// `name` with its trailing number (TrailingNumber) replaced by `number`.
std::string WithTrailingNumber(const std::string& name, int64_t number);

struct ResponseList {
  std::vector<Response> responses;
  bool shutdown = false;         // the job is over: fail everything pending
  std::string abort_reason;      // why (names the rank), reported by every rank
};

// direct_only: only the requests marked direct, with no shutdown or abort
// (what the direct path sends to peers).
std::vector<uint8_t> Serialize(const RequestList& list, bool direct_only = false);
std::vector<uint8_t> Serialize(const ResponseList& list);
// Throw EnforceError on a malformed buffer.
RequestList DeserializeRequestList(const uint8_t* data, size_t size);
ResponseList DeserializeResponseList(const uint8_t* data, size_t size);

}  // namespace hvd::core
