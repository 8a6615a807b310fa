// The public face of the core: one process-wide engine that owns MPI on a
// background thread. The JS thread (through the binding) calls Init,
// Enqueue and Shutdown; everything else happens on the engine thread.
//
// Contract for Enqueue: the entries' input/output pointers must stay valid
// until each entry's DoneCallback has run. Every accepted entry's callback
// runs exactly once, on the engine thread, including when the engine shuts
// down (then with a kShutDown status).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <map>
#include <unordered_map>
#include <chrono>
#include <vector>

#include "common.h"
#include "config.h"
#include "direct_exchange.h"
#include "stats.h"
#include "ops/op.h"
#include "process_set.h"
#include "tensor_queue.h"
#include "timeline.h"

namespace hvd::core {

class MpiContext;
class MpiController;
class FusionBuffer;
class MpiCommunicator;

struct TopologyInfo {
  int rank = 0, size = 1;
  int local_rank = 0, local_size = 1;
  int cross_rank = 0, cross_size = 1;
  bool homogeneous = true;
  bool mpi_threads_supported = false;
  int thread_level = 0;
};

// The engine: the thread that owns MPI, and the process sets it serves.
// MPI is per process, so a process runs one engine; the binding owns it.
class Engine : public ProcessSetHost {
 public:
  Engine();
  ~Engine() override;

  // Starts the engine thread and waits until MPI is up, which needs every
  // rank to arrive. Gives up after `timeout_ms` (negative: never) with
  // kTimedOut; MPI keeps starting in the background and a later Init call
  // waits again. Idempotent while running; after Shutdown it fails with
  // kShutDown (MPI cannot restart).
  Status Init(int64_t timeout_ms = -1);
  // Fails new work, lets every rank agree the job is over, finalizes MPI and
  // joins the thread. Blocks until all ranks have shut down (as
  // MPI_Finalize would). Idempotent; a no-op if Init never ran.
  // With timeout_ms >= 0 it waits at most that long for the other ranks and
  // then returns kTimedOut with the engine thread still running (the caller
  // is exiting the process and must then do so without running static
  // destructors, e.g. with _Exit).
  Status Shutdown(int64_t timeout_ms = -1);

  bool initialized() const { return state_.load() == State::kRunning; }
  bool shut_down() const { return state_.load() == State::kShutDown; }
  const TopologyInfo& topology() const { return topology_; }
  const Config& config() const { return config_; }
  const EngineStats& stats() const { return stats_; }
  // Rank 0: what the measured choice of reduce algorithm has found so far (empty elsewhere).
  std::vector<AlgorithmTuner::Decision> AlgorithmDecisions() const { return tuner_.Decisions(); }

  // Submits work on process set `set` (0: the global set). `wake` false
  // leaves the engine thread asleep (DriveSync runs the loop itself).
  Status Enqueue(int32_t set, std::vector<TensorTableEntry> entries, bool wake = true);

  // For a caller about to block until `done` (a *Sync call): when the loop
  // is free (the engine thread is between cycles, idle or waiting on
  // peers), enqueues `entries` and runs the loop on the calling thread until
  // `done`, sets *status to Enqueue's status, and returns true. That saves
  // the two thread hand-offs (wake the engine, wake the caller) that
  // dominate a small collective. If peers keep it waiting longer than
  // HVD_SPIN_TIME_US it hands the loop back to the engine thread and
  // returns true with `done` still false: the caller then waits as usual.
  // Returns false, touching nothing, when the engine thread is busy, the
  // engine is shutting down, MPI allows calls from one thread only, or
  // HVD_INLINE_SYNC=0: the caller then Enqueues and waits.
  // Done callbacks of any entry may then run on the calling thread.
  bool DriveSync(int32_t set, std::vector<TensorTableEntry>* entries, const std::atomic<bool>& done,
                 Status* status);
  // After a Promise call's Enqueue: when the loop is free, sends its
  // requests from the calling thread (the sending half of a cycle: no
  // receive, no collective) instead of waiting for the engine thread to
  // wake. Does nothing where DriveSync would not run.
  void SendNow();

  // Process sets as this rank knows them: id -> world ranks.
  std::vector<std::pair<int32_t, std::vector<int>>> process_sets() const;

  // ProcessSetHost (engine thread, while executing a global response).
  Status AddProcessSet(const std::vector<int>& world_ranks, int32_t* id) override;
  Status RemoveProcessSet(int32_t id) override;

  // Reports a fatal error on this rank (an uncaught exception) to every
  // rank: their pending and future collectives fail with `reason`. Blocks
  // until the message is on its way (at most a few seconds), then for
  // HVD_ABORT_GRACE_MS so peers can report before the launcher kills them.
  void Abort(const std::string& reason);

 private:
  enum class State { kNotStarted, kStarting, kRunning, kShutDown };
  std::shared_ptr<ProcessSet> FindSet(int32_t id) const;
  std::vector<std::shared_ptr<ProcessSet>> Sets() const;

  void AttachEagerPayloads(std::vector<TensorTableEntry>* entries) const;
  void ThreadMain();
  // One loop step (engine.cc); the caller holds drive_mu_.
  enum class CycleResult { kProgressed, kIdle, kWaiting, kWaitingBlocking, kStop };
  CycleResult Cycle(bool send_only = false);
  void RunLoop();
  bool AnyPending() const;
  void Execute(const ResponseList& list);
  void PerformResponse(const Response& r);
  // Completes this rank's own request with a decision the direct path made
  // (direct_exchange.h).
  void PerformDirect(const Response& r);
  // Runs a decided response's op over `entries` (those this rank has).
  void ExecuteOp(ProcessSet& ps, const Response& r, std::vector<TensorTableEntry>& entries,
                 const std::vector<bool>& have);
  // Timeline: the names' negotiation ended (rank 0).
  void EndNegotiation(const Response& r);
  void FailAllPending(const Status& status);
  void CheckStalls();

  std::atomic<State> state_{State::kNotStarted};
  std::mutex mu_;  // guards Init/Shutdown handshakes
  std::condition_variable init_cv_;
  bool init_done_ = false;
  Status init_status_;
  std::atomic<bool> shutdown_requested_{false};
  std::thread thread_;
  std::condition_variable thread_done_cv_;  // with mu_: ThreadMain returned
  bool thread_done_ = false;

  // Whoever runs Cycle() holds drive_mu_: the engine thread, or a *Sync
  // caller in DriveSync while the engine thread is between cycles. Every
  // MPI call after init is made under it, so MPI sees one thread at a time
  // (MPI_THREAD_SERIALIZED), and the loop's state below is never shared.
  std::mutex drive_mu_;
  struct LoopState {
    bool sent_shutdown = false;   // this rank's shutdown request is sent
    bool final_received = false;  // worker: rank 0 said the job is over
    bool stopped = false;         // the loop has ended: the engine thread finalizes
    std::vector<std::shared_ptr<ProcessSet>> sets;  // sets_ as of sets_version
    uint64_t sets_version = ~uint64_t{0};
    RequestList outgoing;  // Cycle's list, reused
    std::vector<TensorTableEntry> direct_entries;  // PerformDirect's, reused
    std::vector<bool> direct_have;
  } loop_;
  bool inline_sync_ = false;  // DriveSync allowed (set at init)
  int cpus_ = 1;                // CPUs this host's ranks may run on, together (HostCpus)
  bool oversubscribed_ = false; // more ranks on this host than cpus_
  // HVD_SPIN_TIME_US resolved at init (config.h): a driving *Sync call's
  // pause on the CPU before it yields, and the engine thread's poll while
  // Promise calls wait on peers.
  static constexpr int64_t kDefaultSpinUs = 50;
  int64_t sync_pause_us_ = kDefaultSpinUs;
  int64_t pending_spin_us_ = kDefaultSpinUs;

  Config config_;
  TopologyInfo topology_;
  EngineStats stats_;
  // Process sets; the engine thread adds and removes them, the JS thread
  // looks them up to enqueue.
  std::shared_ptr<ProcessSet> global_;
  mutable std::mutex sets_mu_;
  std::atomic<uint64_t> sets_version_{0};  // bumped under sets_mu_ whenever sets_ changes
  std::map<int32_t, std::shared_ptr<ProcessSet>> sets_;
  int32_t next_set_id_ = 1;
  std::unique_ptr<MpiContext> mpi_;
  // Rank 0: the measured choice of reduce algorithm, for every set (ops/algorithm.h).
  AlgorithmTuner tuner_;
  std::unique_ptr<MpiController> controller_;
  std::unique_ptr<FusionBuffer> fusion_;
  std::vector<uint8_t> scratch_;
  // The direct path (direct_exchange.h); null when off (agreed by every
  // rank at init). join_pending_: this rank's join on the global set is in
  // flight, so its requests go the negotiated way.
  std::unique_ptr<DirectExchange> direct_;
  bool join_pending_ = false;
  std::vector<Request> direct_in_;  // peers' direct requests, per cycle (capacity reused)

  // Abort: requested by the JS thread, sent by the engine thread.
  std::mutex abort_mu_;
  std::condition_variable abort_cv_;
  std::string abort_request_;
  std::atomic<bool> abort_requested_{false};  // abort_request_ was set (checked without the lock)
  bool abort_request_sent_ = false;
  std::string aborted_;  // set once any rank's abort reached us
  // Timeline (rank 0 only): when each pending name entered negotiation.
  Timeline timeline_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> negotiating_since_;
  void Trace(const std::vector<std::string>& names, const char* phase,
             std::chrono::steady_clock::time_point start, const std::string& args = "");
  // Stall inspector state (coordinator, engine thread only).
  std::chrono::steady_clock::time_point next_stall_check_{};
  struct StallReport {
    std::chrono::steady_clock::time_point next;  // report again no sooner
    double interval;                              // seconds; doubles per report
  };
  std::unordered_map<std::string, StallReport> stall_warned_;  // by TimelineKey(set, name)
  bool stall_hint_given_ = false;  // the how-to-end-it line is said once
};

}  // namespace hvd::core
