// Engine settings read once from the environment at init. Horovod's variable
// names and defaults are accepted wherever the meaning is the same, so jobs
// migrate without relearning them; HVD_* names are hvd's own additions.
#pragma once

#include <cstdint>
#include <string>

namespace hvd::core {

enum class LogLevel : int { kTrace = 0, kDebug, kInfo, kWarning, kError, kFatal };

struct Config {
  // HOROVOD_FUSION_THRESHOLD: bytes; 0 disables fusion. Default 128 MiB.
  int64_t fusion_threshold = 128 * 1024 * 1024;
  // HOROVOD_CYCLE_TIME: milliseconds. The longest the engine sleeps between
  // checks for remote progress once it has stopped spinning. New local work
  // always wakes it at once, so this bounds batching, not latency.
  double cycle_time_ms = 1.0;
  // HVD_SPIN_TIME_US: how long the engine busy-polls (yielding) after the last
  // activity before it starts to sleep while collectives are in flight; while
  // a *Sync call is blocked it spins for HVD_BLOCKING_SPIN_TIME_US instead. A
  // *Sync call that drives the loop itself pauses on the CPU this long before
  // it starts yielding. -1 (default): 50 for that pause, and for the engine
  // thread HVD_BLOCKING_SPIN_TIME_US where every rank on this host has a CPU
  // (Promise calls: a peer's message often comes 50-500 us later, and a
  // sleeping engine sees it only at its next wake-up), else 50.
  int64_t spin_time_us = -1;
  int64_t blocking_spin_time_us = 2000;
  // HVD_IDLE_SPIN_US: how long the engine polls for new local work after
  // completing some before it sleeps on the queue (saves the futex wake of
  // the next call). -1 (default): 50 when this host has at least two CPUs
  // per rank on it, else 0 (a polling engine takes the CPU its own JS
  // thread and the other ranks need).
  int64_t idle_spin_us = -1;
  // HVD_INLINE_SYNC: a *Sync call runs the engine loop on its own thread
  // while the engine thread is between cycles (Engine::DriveSync). 0: always
  // hand the call to the engine thread.
  bool inline_sync = true;
  // HVD_EAGER_BYTES: an allreduce call whose tensors total at most this many
  // bytes sends its data with its request; the coordinator reduces it and
  // returns the result with the response, so the call is one round trip
  // to rank 0 and no collective (ops/allreduce_op.cc). 0 disables. A
  // request with its data must stay under Open MPI's shared-memory eager
  // limit, or each message takes a rendezvous round trip (4 KiB calls
  // measured 30.8 us eager against 19.6 us not, at Open MPI's default of
  // 4 KiB with headers): MpiContext::Initialize raises that limit to 8 KiB.
  int64_t eager_bytes = 4096;
  // HVD_EAGER_DIRECT_MAX_RANKS: in jobs of at most this many ranks, eager
  // calls also go to every rank, which compute the result themselves
  // (direct_exchange.h): one message hop instead of two, but np - 1
  // messages per rank per call. 0 sends them to rank 0 only. On only where
  // every rank has it on.
  int64_t eager_direct_max_ranks = 32;
  // HOROVOD_CACHE_CAPACITY: response cache entries; 0 disables.
  int64_t cache_capacity = 1024;
  // HOROVOD_STALL_CHECK_DISABLE / _TIME_SECONDS / _SHUTDOWN_TIME_SECONDS.
  bool stall_check = true;
  double stall_warning_s = 60.0;
  double stall_shutdown_s = 0.0;
  // Whether the stall inspector fails stalled collectives (a shutdown time
  // longer than the warning time).
  bool stall_fails() const { return stall_check && stall_shutdown_s > 0 && stall_shutdown_s > stall_warning_s; }
  // HOROVOD_MPI_THREADS_DISABLE: request MPI_THREAD_SINGLE instead of MULTIPLE.
  bool mpi_threads_disable = false;
  // HVD_MPI_MAX_CHUNK_BYTES: largest single MPI message; larger transfers are
  // split. Defaults to 1 GiB so element and byte counts stay below 2^31.
  int64_t max_chunk_bytes = int64_t{1} << 30;
  // HVD_ALLREDUCE_ALGORITHM: auto | mpi | ring. Chosen by rank 0 per
  // response (so every rank runs the same one); auto measures where it may
  // (measure_algorithm) and otherwise uses the ring for fused allreduces of
  // at least HVD_RING_THRESHOLD_BYTES.
  enum class Algorithm { kAuto, kMpi, kRing };
  Algorithm allreduce_algorithm = Algorithm::kAuto;
  // Negative (unset): measured where results allow (measure_algorithm), and
  // for the rest chosen at init from the topology (4 MiB across hosts, where
  // the ring beats Open MPI over TCP; 16 MiB on one host, where Open MPI's
  // shared-memory algorithm is as fast or faster up to 4 MiB and the ring,
  // which reduces out of place without copying the input first, is ahead
  // from 16 MiB: measured 2026-12-01, README Performance).
  int64_t ring_threshold_bytes = -1;
  // Set at init when HVD_RING_THRESHOLD_BYTES is not: the coordinator picks
  // between the ring and MPI by measuring them (ops/algorithm.h,
  // AlgorithmTuner) wherever that cannot change results, and uses the
  // threshold elsewhere.
  bool measure_algorithm = false;
  // HVD_RING_SEGMENT_BYTES: pipelining unit of the ring.
  int64_t ring_segment_bytes = 512 * 1024;
  // HVD_CHECK_DIVERGENCE: compare every rank's sequence of submitted
  // signatures and abort at the first difference.
  bool check_divergence = false;
  // HVD_ABORT_GRACE_MS: how long a failing rank waits after telling its
  // peers, so they can report the error before mpirun tears the job down.
  int64_t abort_grace_ms = 1000;
  // HOROVOD_TIMELINE / HOROVOD_TIMELINE_MARK_CYCLES (written by rank 0).
  std::string timeline_path;
  bool timeline_mark_cycles = false;
  // HOROVOD_LOG_LEVEL.
  LogLevel log_level = LogLevel::kWarning;

  static Config FromEnv();
};

}  // namespace hvd::core
