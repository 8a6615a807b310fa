#include "engine.h"

#include <sched.h>

#include <chrono>
#include <cstring>
#include <sstream>

#include "controller.h"
#include <algorithm>
#include "fusion_buffer.h"
#include "logging.h"
#include "message.h"
#include "mpi_context.h"
#include "ops/mpi_ops.h"
#include "ops/reduce.h"
#include "ops/ring_allreduce.h"

namespace hvd::core {

namespace {
std::string OpArgs(const char* algorithm, int64_t bytes, size_t tensors) {
  return "\"algorithm\":\"" + std::string(algorithm) + "\",\"bytes\":" + std::to_string(bytes) +
         ",\"tensors\":" + std::to_string(tensors);
}
}  // namespace

Engine& Engine::Instance() {
  static Engine* engine = new Engine();  // never destroyed: outlives static teardown
  return *engine;
}

Status Engine::Init(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  State s = state_.load();
  if (s == State::kRunning) return Status::Ok();
  if (s == State::kShutDown) {
    return Status::Error(StatusType::kShutDown,
                         "hvd has been shut down in this process and cannot be initialized "
                         "again: MPI cannot be restarted after MPI_Finalize");
  }
  if (s == State::kNotStarted) {
    config_ = Config::FromEnv();
    init_done_ = false;
    state_ = State::kStarting;
    thread_ = std::thread(&Engine::ThreadMain, this);
  }
  if (timeout_ms < 0) {
    init_cv_.wait(lock, [this] { return init_done_; });
  } else if (!init_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return init_done_; })) {
    return Status::Error(StatusType::kTimedOut, "timed out");
  }
  if (!init_status_.ok()) {
    thread_.join();
    state_ = State::kShutDown;
    return init_status_;
  }
  state_ = State::kRunning;
  return Status::Ok();
}

Status Engine::Shutdown(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  if (state_.load() != State::kRunning) return Status::Ok();
  shutdown_requested_ = true;
  queue_.Wake();
  if (timeout_ms >= 0 &&
      !thread_done_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return thread_done_; })) {
    return Status::Error(StatusType::kTimedOut, "the other ranks did not shut down in time");
  }
  lock.unlock();
  thread_.join();
  lock.lock();
  state_ = State::kShutDown;
  return Status::Ok();
}

Status Engine::Enqueue(std::vector<TensorTableEntry> entries) {
  State s = state_.load();
  if (s == State::kNotStarted || s == State::kStarting) {
    return Status::Error(StatusType::kNotInitialized,
                         "hvd is not initialized: call hvd.init() before any collective");
  }
  if (s == State::kShutDown || shutdown_requested_) {
    return Status::Error(StatusType::kShutDown,
                         "hvd has been shut down: no collective can run after hvd.shutdown()");
  }
  {
    std::lock_guard<std::mutex> lock(abort_mu_);
    if (!aborted_.empty()) return Status::Error(StatusType::kAborted, aborted_);
  }
  return queue_.Add(std::move(entries));
}

void Engine::Abort(const std::string& reason) {
  if (state_.load() != State::kRunning) return;
  std::unique_lock<std::mutex> lock(abort_mu_);
  if (!abort_request_.empty() || !aborted_.empty()) return;
  abort_request_ = reason;
  lock.unlock();
  queue_.Wake();
  lock.lock();
  abort_cv_.wait_for(lock, std::chrono::seconds(3), [this] { return abort_request_sent_; });
  lock.unlock();
  if (config_.abort_grace_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(config_.abort_grace_ms));
}

// Why one background thread owns every MPI call:
//  1. MPI libraries are only guaranteed to work when one thread makes the
//     calls (MPI_THREAD_FUNNELED); OpenMPI's THREAD_MULTIPLE is slower and not
//     always built. The JS thread must never block inside MPI either, or a
//     Promise-based program could not make progress while waiting for peers.
//  2. Collectives must run in the same order on every rank, but JS code
//     submits them in whatever order its Promises and tfjs produce them. The
//     thread negotiates an order (controller.h) and runs it, so submission
//     order does not matter and mismatches become errors instead of hangs.
//  3. Async collectives need somewhere to run that is not the libuv pool:
//     a pool thread per collective deadlocks as soon as more collectives are
//     pending than pool threads (Horovod's reason 4, better-sqlite3 #32).
// The thread sleeps on the queue's condition variable when it has nothing
// pending, wakes the moment work is enqueued, and while waiting on peers it
// spins briefly (long enough to catch a partner that is microseconds behind)
// and then backs off to sleeps of at most HOROVOD_CYCLE_TIME.
void Engine::ThreadMain() {
  mpi_ = std::make_unique<MpiContext>();
  Status s = mpi_->Initialize(!config_.mpi_threads_disable);
  if (s.ok()) {
    topology_.rank = mpi_->rank();
    topology_.size = mpi_->size();
    topology_.local_rank = mpi_->local_rank();
    topology_.local_size = mpi_->local_size();
    topology_.cross_rank = mpi_->cross_rank();
    topology_.cross_size = mpi_->cross_size();
    topology_.homogeneous = mpi_->is_homogeneous();
    topology_.thread_level = mpi_->thread_level();
    topology_.mpi_threads_supported = mpi_->thread_level() == MPI_THREAD_MULTIPLE;
    SetLogContext(config_.log_level, mpi_->rank());
    if (!config_.timeline_path.empty() && mpi_->rank() == 0) {
      timeline_.Open(config_.timeline_path, config_.timeline_mark_cycles);
    }
    if (config_.ring_threshold_bytes < 0) {
      config_.ring_threshold_bytes = mpi_->cross_size() > 1 ? (int64_t{4} << 20) : (int64_t{32} << 20);
    }
    controller_ = std::make_unique<MpiController>(mpi_.get(), config_);
    fusion_ = std::make_unique<FusionBuffer>();
    allreduce_ = std::make_unique<MpiAllreduce>(mpi_->data_comm(), config_.max_chunk_bytes);
    ring_ = std::make_unique<RingAllreduce>(mpi_->data_comm(),
                                            std::min(config_.ring_segment_bytes, config_.max_chunk_bytes),
                                            config_.max_chunk_bytes);
    allgather_ = std::make_unique<MpiAllgather>(mpi_->data_comm(), config_.max_chunk_bytes);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    init_status_ = s;
    init_done_ = true;
  }
  init_cv_.notify_all();
  if (!s.ok()) return;

  RunLoop();

  FailAllPending(Status::Error(StatusType::kShutDown,
                               "hvd has been shut down before this collective completed"));
  controller_->FlushSends();
  timeline_.Close();
  allreduce_.reset();
  ring_.reset();
  allgather_.reset();
  controller_.reset();
  mpi_->Finalize();
  {
    std::lock_guard<std::mutex> lock(mu_);
    thread_done_ = true;
  }
  thread_done_cv_.notify_all();
}

void Engine::RunLoop() {
  using Clock = std::chrono::steady_clock;
  const bool coordinator = mpi_->rank() == 0;
  const auto cycle = std::chrono::microseconds(
      static_cast<int64_t>(config_.cycle_time_ms * 1000.0) > 0
          ? static_cast<int64_t>(config_.cycle_time_ms * 1000.0)
          : 1);
  bool sent_shutdown = false;
  bool final_received = false;
  auto last_activity = Clock::now();
  auto backoff = std::chrono::microseconds(10);

  for (;;) {
    bool progressed = false;
    RequestList outgoing;
    queue_.PopNewRequests(&outgoing.requests);
    for (Request& r : outgoing.requests) {
      r.rank = mpi_->rank();
      r.seq = submitted_seq_++;
      // FNV-1a over the signature, folded into the running hash.
      for (unsigned char ch : r.Signature()) running_hash_ = (running_hash_ ^ ch) * 1099511628211ull;
      running_hash_ = (running_hash_ ^ 0xff) * 1099511628211ull;
      r.running_hash = running_hash_;
      if (timeline_.enabled()) {
        auto now = std::chrono::steady_clock::now();
        timeline_.Complete(r.name, "QUEUE", r.enqueued, now);
        negotiating_since_[r.name] = now;
      }
    }
    bool sending_abort = false;
    {
      std::lock_guard<std::mutex> lock(abort_mu_);
      if (!abort_request_.empty() && !abort_request_sent_) {
        outgoing.abort_reason = abort_request_;
        sending_abort = true;
      }
    }
    if (shutdown_requested_ && !sent_shutdown) {
      outgoing.shutdown = true;
      sent_shutdown = true;
    }
    if (!outgoing.requests.empty() || outgoing.shutdown || sending_abort) {
      Status s = controller_->SendRequestList(outgoing);
      if (!s.ok()) {
        HVD_LOG(kError, "negotiation failed: " << s.reason());
        FailAllPending(s);
        return;
      }
      progressed = true;
    }

    std::vector<ResponseList> lists;
    Status s = controller_->Poll(&lists, &progressed);
    if (!s.ok()) {
      HVD_LOG(kError, "negotiation failed: " << s.reason());
      FailAllPending(s);
      return;
    }
    stats_.cache_hits = controller_->cache_hits();
    stats_.control_bytes = controller_->control_bytes_sent();
    for (const ResponseList& list : lists) {
      stats_.negotiation_lists++;
      Execute(list);
      if (list.shutdown) final_received = true;
    }
    if (sending_abort) {
      controller_->FlushSends();
      {
        std::lock_guard<std::mutex> lock(abort_mu_);
        abort_request_sent_ = true;
      }
      abort_cv_.notify_all();
    }
    if (coordinator) CheckStalls();

    if (coordinator && sent_shutdown && controller_->coordinator()->AllShutDown()) {
      controller_->SendFinalShutdown();
      return;
    }
    if (!coordinator && final_received) return;

    if (timeline_.enabled()) {
      if (progressed) timeline_.CycleStart();
      timeline_.MaybeFlush();
    }
    if (progressed) {
      last_activity = Clock::now();
      backoff = std::chrono::microseconds(10);
      continue;
    }
    const bool waiting = queue_.pending() > 0 || sent_shutdown;
    if (!waiting) {
      // Nothing of ours is in flight. The coordinator still wakes now and
      // then to absorb workers' requests; a worker can sleep until it has work.
      queue_.WaitForWork(coordinator && mpi_->size() > 1 ? std::chrono::microseconds(100000)
                                                         : std::chrono::microseconds(-1));
      continue;
    }
    auto idle = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - last_activity);
    int64_t spin = queue_.blocking_pending() > 0 ? config_.blocking_spin_time_us
                                                 : config_.spin_time_us;
    if (idle.count() < spin) {
      sched_yield();
      continue;
    }
    queue_.WaitForWork(backoff);
    backoff = std::min(backoff * 2, cycle);
  }
}

void Engine::Execute(const ResponseList& list) {
  for (const Response& r : list.responses) PerformResponse(r);
  if (!list.abort_reason.empty()) {
    {
      std::lock_guard<std::mutex> lock(abort_mu_);
      if (aborted_.empty()) aborted_ = list.abort_reason;
    }
    HVD_LOG(kError, list.abort_reason);
    FailAllPending(Status::Error(StatusType::kAborted, list.abort_reason));
  }
}

// The stall inspector (coordinator only). A collective that some ranks
// submitted and others did not for HOROVOD_STALL_CHECK_TIME_SECONDS is
// reported; reports for the same collective then back off, the interval
// doubling each time (60 s, 120 s, 240 s, ... by default, at most an hour
// apart), instead of repeating every interval forever. The first report in
// the process also says, once, how to end such a wait
// (HOROVOD_STALL_SHUTDOWN_TIME_SECONDS) or silence the reports.
void Engine::CheckStalls() {
  if (!config_.stall_check || mpi_->size() == 1) return;
  auto now = std::chrono::steady_clock::now();
  if (now < next_stall_check_) return;
  const double warn = config_.stall_warning_s;
  const double kill = config_.stall_shutdown_s;
  next_stall_check_ = now + std::chrono::milliseconds(static_cast<int64_t>(std::min(1.0, warn / 4) * 1000));
  Coordinator* coord = controller_->coordinator();
  const std::vector<Coordinator::Stalled> stalled = coord->PendingOlderThan(warn);
  // Forget collectives that are no longer stalled (completed or failed).
  for (auto it = stall_warned_.begin(); it != stall_warned_.end();) {
    bool still = std::any_of(stalled.begin(), stalled.end(),
                             [&](const Coordinator::Stalled& s) { return s.name == it->first; });
    if (still) ++it;
    else it = stall_warned_.erase(it);
  }
  std::string lines;
  double next_in = 0;
  for (const Coordinator::Stalled& s : stalled) {
    auto it = stall_warned_.find(s.name);
    if (it != stall_warned_.end() && now < it->second.next) continue;
    // First report: the next one after `warn` s more; then doubling.
    double interval = it == stall_warned_.end() ? warn : std::min(it->second.interval * 2, std::max(warn, 3600.0));
    stall_warned_[s.name] = {now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                       std::chrono::duration<double>(interval)),
                             interval};
    next_in = next_in == 0 ? interval : std::min(next_in, interval);
    std::string missing;
    for (size_t i = 0; i < s.missing_ranks.size(); ++i) missing += (i ? "," : "") + std::to_string(s.missing_ranks[i]);
    lines += "\n  " + s.signature + " waiting " + std::to_string(static_cast<int>(s.seconds)) +
             " s; missing ranks: " + missing;
  }
  if (!lines.empty()) {
    std::ostringstream hint;
    if (!stall_hint_given_) {
      stall_hint_given_ = true;
      if (kill > warn) {
        hint << "\n  These collectives will be failed on every rank once stalled for "
             << kill << " s (HOROVOD_STALL_SHUTDOWN_TIME_SECONDS).";
      } else {
        hint << "\n  hvd keeps waiting: set HOROVOD_STALL_SHUTDOWN_TIME_SECONDS=<seconds> (greater than "
                "HOROVOD_STALL_CHECK_TIME_SECONDS) to fail stalled collectives on every rank instead, or "
                "HOROVOD_STALL_CHECK_DISABLE=1 to stop these reports. Repeated reports back off "
                "(the interval doubles). This is said once.";
      }
    }
    HVD_LOG(kWarning, "Stall detected: these collectives were submitted by some ranks but not by others for over "
                          << warn << " s (HOROVOD_STALL_CHECK_TIME_SECONDS). The missing ranks are slow, or their "
                             "control flow skipped the collective or ran a different number of steps:"
                          << lines << hint.str() << "\n  Next report in " << next_in << " s if still stalled.");
  }
  if (kill > 0 && kill > warn) {
    int n = coord->FailStalled(kill, "Failed after HOROVOD_STALL_SHUTDOWN_TIME_SECONDS=" +
                                         std::to_string(static_cast<int>(kill)) + ".");
    if (n > 0) HVD_LOG(kError, "stall shutdown: failing " << n << " stalled collective(s) on every rank");
  }
}

void Engine::Trace(const std::vector<std::string>& names, const char* phase,
                   std::chrono::steady_clock::time_point start, const std::string& args) {
  if (!timeline_.enabled()) return;
  auto end = std::chrono::steady_clock::now();
  for (const std::string& n : names) timeline_.Complete(n, phase, start, end, args);
}

void Engine::PerformResponse(const Response& r) {
  if (timeline_.enabled()) {
    auto now = std::chrono::steady_clock::now();
    for (const std::string& n : r.names) {
      auto it = negotiating_since_.find(n);
      if (it == negotiating_since_.end()) continue;
      timeline_.Complete(n, r.type == ResponseType::kError ? "NEGOTIATE_ERROR" : "NEGOTIATE", it->second, now);
      negotiating_since_.erase(it);
    }
  }
  std::vector<TensorTableEntry> entries(r.names.size());
  std::vector<bool> have(r.names.size());
  for (size_t i = 0; i < r.names.size(); ++i) have[i] = queue_.Take(r.names[i], &entries[i]);
  stats_.responses++;
  try {
    switch (r.type) {
      case ResponseType::kError: {
        Status err = Status::Error(r.error_type, r.error);
        for (size_t i = 0; i < entries.size(); ++i) {
          if (have[i]) entries[i].done(err, CollectiveResult());
        }
        return;
      }
      case ResponseType::kAllreduce:
        DoAllreduce(r, entries, have);
        return;
      case ResponseType::kAllgather:
        DoAllgather(r, entries[0], have[0]);
        return;
      case ResponseType::kBroadcast:
        DoBroadcast(r, entries[0], have[0]);
        return;
      case ResponseType::kBarrier: {
        auto t0 = std::chrono::steady_clock::now();
        Status st = MpiBarrier(mpi_->data_comm());
        Trace(r.names, "BARRIER", t0);
        if (have[0]) entries[0].done(st, CollectiveResult());
        return;
      }
      case ResponseType::kJoin:
        if (have[0]) {
          CollectiveResult res;
          res.scalar = r.last_joined;
          entries[0].done(Status::Ok(), std::move(res));
        }
        return;
    }
  } catch (const std::exception& ex) {
    // Entries whose callback already ran were moved-from and have no
    // callback left; the rest learn what went wrong.
    Status err = Status::Error(StatusType::kInternal, ex.what());
    for (size_t i = 0; i < entries.size(); ++i) {
      if (have[i] && entries[i].done) {
        auto done = std::move(entries[i].done);
        entries[i].done = nullptr;
        done(err, CollectiveResult());
      }
    }
  }
}

void Engine::DoAllreduce(const Response& r, std::vector<TensorTableEntry>& entries,
                         const std::vector<bool>& have) {
  const size_t esize = DataTypeSize(r.dtype);
  const int contributors = mpi_->size() - static_cast<int>(r.joined.size());
  double post = r.postscale;
  if (r.op == ReduceOp::kAverage) post /= contributors;
  int64_t total = 0;
  for (int64_t c : r.counts) total += c;
  stats_.allreduce_bytes += static_cast<uint64_t>(total) * esize;
  AllreduceAlgorithm* algo = allreduce_.get();
  if (r.algorithm == 1) {
    algo = ring_.get();
    stats_.ring_allreduces++;
  }

  Status st;
  if (IsIntegerType(r.dtype) && (r.prescale != 1.0 || post != 1.0)) {
    // Scaling integers step by step truncated each rank's value before the
    // sum (Int32Array([3]) over 2 ranks with prescale 0.5 gave 1 + 1 = 2):
    // scale in double, reduce, round once (ops/reduce.h).
    st = DoScaledIntegerAllreduce(r, entries, have, post, algo);
  } else if (r.names.size() == 1) {
    // One tensor: reduce straight from input to output, no fusion copy.
    void* out;
    const void* in;
    if (have[0]) {
      out = entries[0].output;
      in = entries[0].input;
    } else {
      scratch_.assign(static_cast<size_t>(total) * esize, 0);
      out = scratch_.data();
      in = out;
    }
    if (r.prescale != 1.0) {
      ScaleCopy(r.dtype, out, in, total, r.prescale);
      in = out;
    }
    auto t0 = std::chrono::steady_clock::now();
    st = algo->Run(in, out, total, r.dtype, r.op);
    if (st.ok()) ScaleBuffer(r.dtype, out, total, post);
    Trace(r.names, "ALLREDUCE", t0, OpArgs(algo->name(), total * esize, 1));
  } else {
    stats_.fused_responses++;
    // When every output lies back to back in one buffer in response order
    // (groupedAllreduce allocates them that way), reduce in that buffer:
    // the results need no copy out of a fusion buffer.
    bool contiguous = true;
    {
      char* expect = nullptr;
      for (size_t i = 0; i < entries.size() && contiguous; ++i) {
        if (!have[i]) {
          contiguous = false;
          break;
        }
        char* o = static_cast<char*>(entries[i].output);
        if (i > 0 && o != expect) contiguous = false;
        expect = o + static_cast<size_t>(r.counts[i]) * esize;
      }
    }
    char* buf = contiguous ? static_cast<char*>(entries[0].output)
                           : static_cast<char*>(fusion_->Get(static_cast<size_t>(total) * esize));
    auto t_in = std::chrono::steady_clock::now();
    int64_t off = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      size_t bytes = static_cast<size_t>(r.counts[i]) * esize;
      if (have[i]) ScaleCopy(r.dtype, buf + off, entries[i].input, r.counts[i], r.prescale);
      else std::memset(buf + off, 0, bytes);
      off += static_cast<int64_t>(bytes);
    }
    Trace(r.names, "MEMCPY_IN_FUSION_BUFFER", t_in);
    auto t0 = std::chrono::steady_clock::now();
    st = algo->Run(buf, buf, total, r.dtype, r.op);
    Trace(r.names, "ALLREDUCE", t0, OpArgs(algo->name(), total * esize, r.names.size()));
    auto t_out = std::chrono::steady_clock::now();
    if (contiguous) {
      if (st.ok()) ScaleBuffer(r.dtype, buf, total, post);
      stats_.fusion_copy_bytes += static_cast<uint64_t>(total) * esize;
    } else {
      off = 0;
      for (size_t i = 0; i < entries.size(); ++i) {
        size_t bytes = static_cast<size_t>(r.counts[i]) * esize;
        if (st.ok() && have[i]) ScaleCopy(r.dtype, entries[i].output, buf + off, r.counts[i], post);
        off += static_cast<int64_t>(bytes);
      }
      stats_.fusion_copy_bytes += 2 * static_cast<uint64_t>(total) * esize;
    }
    Trace(r.names, contiguous ? "SCALE_IN_OUTPUT_BUFFER" : "MEMCPY_OUT_FUSION_BUFFER", t_out);
  }
  auto t_cb = std::chrono::steady_clock::now();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!have[i]) continue;
    stats_.tensors++;
    auto done = std::move(entries[i].done);
    entries[i].done = nullptr;
    done(st, CollectiveResult());
  }
  Trace(r.names, "CALLBACK", t_cb);
}

Status Engine::DoScaledIntegerAllreduce(const Response& r, std::vector<TensorTableEntry>& entries,
                                        const std::vector<bool>& have, double post,
                                        AllreduceAlgorithm* algo) {
  int64_t total = 0;
  for (int64_t c : r.counts) total += c;
  scaled_.resize(static_cast<size_t>(total));
  double* buf = scaled_.data();
  auto t_in = std::chrono::steady_clock::now();
  int64_t off = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    // A rank that has joined (or lacks the entry) contributes zeros.
    if (have[i]) ScaleToDouble(r.dtype, buf + off, entries[i].input, r.counts[i], r.prescale);
    else std::fill(buf + off, buf + off + r.counts[i], 0.0);
    off += r.counts[i];
  }
  Trace(r.names, "SCALE_TO_DOUBLE", t_in);
  auto t0 = std::chrono::steady_clock::now();
  Status st = algo->Run(buf, buf, total, DataType::kFloat64, r.op);
  Trace(r.names, "ALLREDUCE", t0, OpArgs(algo->name(), total * 8, r.names.size()));
  if (!st.ok()) return st;
  auto t_out = std::chrono::steady_clock::now();
  off = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (have[i]) ScaleFromDouble(r.dtype, entries[i].output, buf + off, r.counts[i], post);
    off += r.counts[i];
  }
  Trace(r.names, "SCALE_FROM_DOUBLE", t_out);
  return st;
}

void Engine::DoAllgather(const Response& r, TensorTableEntry& e, bool have) {
  const size_t esize = DataTypeSize(r.dtype);
  const int64_t row_bytes = r.counts[0] * static_cast<int64_t>(esize);
  std::vector<int64_t> bytes_per_rank(r.first_dims.size());
  int64_t total_rows = 0;
  for (size_t k = 0; k < r.first_dims.size(); ++k) {
    bytes_per_rank[k] = r.first_dims[k] * row_bytes;
    total_rows += r.first_dims[k];
  }
  CollectiveResult res;
  const size_t out_bytes = static_cast<size_t>(total_rows * row_bytes);
  void* recv = have && e.allocate_output ? e.allocate_output(out_bytes) : nullptr;
  if (recv == nullptr) {
    res.buffer = MallocBuffer(out_bytes);
    recv = res.buffer.data;
  }
  const void* send = nullptr;
  if (have) {
    send = e.input;
  } else {
    scratch_.assign(static_cast<size_t>(bytes_per_rank[mpi_->rank()]), 0);
    send = scratch_.data();
  }
  auto t0 = std::chrono::steady_clock::now();
  Status st = allgather_->Run(send, recv, bytes_per_rank);
  Trace(r.names, "ALLGATHER", t0, OpArgs("mpi", total_rows * row_bytes, 1));
  if (!have) return;
  stats_.tensors++;
  res.shape = e.request.shape;
  if (res.shape.empty()) res.shape.push_back(total_rows);
  else res.shape[0] = total_rows;
  auto done = std::move(e.done);
  e.done = nullptr;
  done(st, std::move(res));
}

void Engine::DoBroadcast(const Response& r, TensorTableEntry& e, bool have) {
  const size_t bytes = static_cast<size_t>(r.counts[0]) * DataTypeSize(r.dtype);
  void* buf;
  if (have) {
    buf = e.output;
    if (mpi_->rank() == r.root && bytes > 0) std::memcpy(buf, e.input, bytes);
  } else {
    scratch_.assign(bytes, 0);
    buf = scratch_.data();
  }
  auto t0 = std::chrono::steady_clock::now();
  Status st = MpiBroadcast(mpi_->data_comm(), buf, static_cast<int64_t>(bytes), r.root,
                           config_.max_chunk_bytes);
  Trace(r.names, "BROADCAST", t0, OpArgs("mpi", static_cast<int64_t>(bytes), 1));
  if (!have) return;
  stats_.tensors++;
  auto done = std::move(e.done);
  e.done = nullptr;
  done(st, CollectiveResult());
}

void Engine::FailAllPending(const Status& status) {
  for (TensorTableEntry& e : queue_.TakeAll()) {
    if (e.done) e.done(status, CollectiveResult());
  }
}

}  // namespace hvd::core
