// A collective is one op. Everything particular to a kind of collective
// lives in its op file (native/ops/<kind>_op.cc): what its requests carry
// and how they read in messages, which fields the ranks must agree on and
// how a disagreement is reported, how its response is built and whether it
// fuses, how it executes over the set's communicator, and how its result is
// handed back. The coordinator, the process set's executor and the binding
// ask the op; none of them switches on the kind.
//
// The registry is the HVD_COLLECTIVE_KINDS table in codes.h: one line per
// kind names its op, and ops/registry.cc turns the table into OpFor().
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "../common.h"
#include "../communicator.h"
#include "../config.h"
#include "../message.h"
#include "../tensor_queue.h"
#include "algorithm.h"

namespace hvd::core {

struct EngineStats;
class FusionBuffer;

// What the process set ops ask of the engine (on the engine thread).
class ProcessSetHost {
 public:
  virtual ~ProcessSetHost() = default;
  // Creates the set of `world_ranks` (ascending) on every rank; *id is the
  // same everywhere.
  virtual Status AddProcessSet(const std::vector<int>& world_ranks, int32_t* id) = 0;
  // Fails the set's pending work and frees its communicator.
  virtual Status RemoveProcessSet(int32_t id) = 0;
};

// The coordinator's view of one decided name: what each rank submitted.
struct Submissions {
  Submissions(const std::string& n, const std::vector<Request>& b, const std::vector<bool>& h)
      : name(n), by_rank(b), have(h) {}
  const std::string& name;
  const std::vector<Request>& by_rank;
  const std::vector<bool>& have;
  std::vector<int> submitted;  // ranks that submitted it, ascending
  std::vector<int> joined;     // ranks that had joined instead
  int size = 0;                // ranks in the set
  int last_joined = -1;
  // The op may compute the result from the requests' payloads into
  // Response::payload (eager ops; false when the batch decided with it is
  // too large, HVD_EAGER_BYTES).
  bool eager = false;
  const Request& first() const { return by_rank[submitted.empty() ? 0 : submitted[0]]; }
};

// Builds "Mismatched <what> for <kind> tensor '<name>': rank 0 has X; ranks
// 1,2 have Y. Every rank must submit the same <what> under one name.",
// listing the value each group of ranks had, in rank order; "" when every
// submitting rank has the same value.
class Disagree {
 public:
  explicit Disagree(const Submissions& s) : s_(s) {}
  std::string operator()(const char* what, const std::function<std::string(const Request&)>& value_of) const;

 private:
  const Submissions& s_;
};

std::string RankList(const std::vector<int>& ranks);
std::string FormatDouble(double d);

// Agreement rules two or more ops share (Op::Agrees / Op::Disagreement).
// Reductions (allreduce, reducescatter): the same shape, op and scale factors.
bool ReductionAgrees(const Request& a, const Request& b);
std::string ReductionDisagreement(const Disagree& d);
// Row collectives (allgather, alltoall): the same shape after the first
// dimension, which may differ per rank.
bool RowsAgree(const Request& a, const Request& b);
std::string RowsDisagreement(const Disagree& d);

// What an op may use while it executes, on the engine thread.
struct ExecContext {
  Communicator& comm;  // the process set's data communicator
  const Config& config;
  EngineStats& stats;
  FusionBuffer& fusion;
  std::vector<uint8_t>& scratch;
  // Timeline: one event per name for a phase that started at `start`.
  std::function<void(const std::vector<std::string>&, const char*, std::chrono::steady_clock::time_point,
                     const std::string&)>
      trace;
  ProcessSetHost* host = nullptr;  // for the ops that manage process sets
  // The timeline is on: only then build trace arguments (OpArgs is a few
  // string allocations per collective).
  bool tracing = false;
  // The coordinator's tuner while it measures (ops/algorithm.h), else null;
  // process_set: the set this response runs on.
  AlgorithmTuner* tuner = nullptr;
  int32_t process_set = 0;
};

class Op {
 public:
  virtual ~Op() = default;

  // --- what a request carries (the binding asks this) ------------------
  enum class Buffers {
    kNone,         // no tensor (barrier, join)
    kInput,        // an input; the op allocates the result
    kInputOutput,  // an input and a caller-provided output of the same size
  };
  virtual Buffers buffers() const { return Buffers::kInput; }
  // Eager: a call whose inputs total at most HVD_EAGER_BYTES sends them
  // with its requests (Request::payload), and Build may compute the result
  // on the coordinator (Response::payload), saving the collective and the
  // round trip before it. For ops whose result is a function of the
  // inputs alone.
  virtual bool eager() const { return false; }
  // Extra fields for Request::Signature(), e.g. " op=sum".
  virtual std::string Describe(const Request&) const { return ""; }

  // --- negotiation (the coordinator asks these) ---------------------------
  // Join: marks its rank as joined, and completes after everything decided
  // with it.
  virtual bool is_join() const { return false; }
  // The kind-specific fields two ranks must agree on (kind, dtype and group
  // are compared by the coordinator). Fast: no formatting.
  virtual bool Agrees(const Request& a, const Request& b) const { return true; }
  // When Agrees() was false for some rank: the message naming what differs.
  virtual std::string Disagreement(const Disagree& d) const { return ""; }
  // After agreement: a reason the collective cannot run ("" if it can).
  virtual std::string Precondition(const Submissions& s) const { return ""; }
  // Fills the op's fields of a response whose common fields (kind, names,
  // dtype, op, root, scales, joined) are set.
  virtual void Build(const Submissions& s, Response* r) const {}
  // Eager ops: whether Build computes the result (Response::payload) from
  // these submissions, which agree; without computing it.
  virtual bool EagerComputes(const Submissions& s) const { return false; }
  // Bytes each rank contributes, for fusion and algorithm choice.
  virtual int64_t PayloadBytes(const Response& r) const { return 0; }
  // Whether `r` may travel fused into `into` (both of this kind). The
  // coordinator concatenates fused payloads: an op with eager() must not
  // fuse a response that has one with one that has none.
  virtual bool CanFuse(const Response& into, const Response& r) const { return false; }
  // Last step before the response is sent: e.g. choose the algorithm.
  virtual void Finish(Response* r, const AlgorithmQuery& q) const {}

  // --- execution (every rank of the set, in the coordinator's order) -------
  // entries[i] is the local entry for r.names[i] when have[i]; a rank
  // without it (joined) still takes part. Calls each present entry's
  // callback exactly once.
  virtual void Execute(ExecContext& ctx, const Response& r, std::vector<TensorTableEntry>& entries,
                       const std::vector<bool>& have) const = 0;
};

const Op& OpFor(CollectiveKind kind);

// Runs an entry's callback once (and counts it).
void Complete(ExecContext& ctx, TensorTableEntry& e, const Status& s, CollectiveResult&& result);
// Where an op that allocates its result writes `bytes` of it: the caller's
// `out` (entry output) when it has exactly that size; else a block of hvd's
// pool (res->buffer, handed to JS without a copy); when the pool is full,
// memory from the entry's allocate_output hook (Sync calls: the JS heap's,
// so nothing the GC cannot free is handed over), else malloc. A wrong-sized
// `out` still gets somewhere to receive (the collective must run on every
// rank) and res->output_error. Marks *res as kBuffer; `e` is null on a rank
// without the entry (joined), which still needs somewhere to receive.
void* AllocateResult(TensorTableEntry* e, size_t bytes, CollectiveResult* res);
// "algorithm":"ring","bytes":N,"tensors":K for timeline events.
std::string OpArgs(const char* algorithm, int64_t bytes, size_t tensors);

}  // namespace hvd::core
