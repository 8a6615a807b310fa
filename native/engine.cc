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
#include "mpi_communicator.h"
#include "ops/op.h"

namespace hvd::core {

namespace {
// The CPUs this host's ranks may run on together: the union of their
// affinity masks (one MPI_BOR over the local communicator). Each rank's own
// mask says too little: mpirun binds each of 2 ranks to a core of its own
// by default, and 2 ranks on 1 CPU each are not 2 ranks on 1 CPU. A spin
// that waits for a peer takes no CPU from it unless they share one.
int HostCpus(const MpiContext& mpi) {
  cpu_set_t mine;
  CPU_ZERO(&mine);
  if (sched_getaffinity(0, sizeof(mine), &mine) != 0) return 1;
  const int own = std::max(1, CPU_COUNT(&mine));
  if (mpi.local_size() < 2 || mpi.local_comm() == MPI_COMM_NULL) return own;
  constexpr int kWords = static_cast<int>(sizeof(cpu_set_t) / sizeof(uint64_t));
  uint64_t words[kWords];
  std::memcpy(words, &mine, sizeof(words));
  if (MPI_Allreduce(MPI_IN_PLACE, words, kWords, MPI_UINT64_T, MPI_BOR, mpi.local_comm()) != MPI_SUCCESS) return own;
  cpu_set_t all;
  std::memcpy(&all, words, sizeof(words));
  return std::max(1, CPU_COUNT(&all));
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Names are unique per set, so timeline bookkeeping is keyed by both.
std::string TimelineKey(int32_t set, const std::string& name) {
  return set == 0 ? name : std::to_string(set) + "/" + name;
}
}  // namespace

Engine::Engine() : global_(std::make_shared<ProcessSet>()) { sets_[0] = global_; }

// The binding never destroys its engine (it must outlive static teardown
// and the environment's cleanup hooks); this runs only for engines that
// never started or have shut down.
Engine::~Engine() {
  if (thread_.joinable()) thread_.detach();
}

std::shared_ptr<ProcessSet> Engine::FindSet(int32_t id) const {
  std::lock_guard<std::mutex> lock(sets_mu_);
  auto it = sets_.find(id);
  return it == sets_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<ProcessSet>> Engine::Sets() const {
  std::lock_guard<std::mutex> lock(sets_mu_);
  std::vector<std::shared_ptr<ProcessSet>> out;
  for (const auto& kv : sets_) out.push_back(kv.second);
  return out;
}

std::vector<std::pair<int32_t, std::vector<int>>> Engine::process_sets() const {
  std::vector<std::pair<int32_t, std::vector<int>>> out;
  for (const auto& ps : Sets()) out.emplace_back(ps->id, ps->ranks);
  return out;
}

Status Engine::AddProcessSet(const std::vector<int>& world_ranks, int32_t* id) {
  auto ps = std::make_shared<ProcessSet>();
  ps->id = next_set_id_++;
  ps->ranks = world_ranks;
  for (size_t i = 0; i < world_ranks.size(); ++i) {
    if (world_ranks[i] == mpi_->rank()) ps->rank = static_cast<int>(i);
  }
  // Collective over the global data communicator: every rank runs this
  // response at the same point of the global order.
  int rc = MPI_Comm_split(mpi_->data_comm(), ps->included() ? 0 : MPI_UNDEFINED, mpi_->rank(), &ps->data);
  if (rc != MPI_SUCCESS) return MpiStatus(rc, "MPI_Comm_split (process set)");
  if (ps->included()) {
    MPI_Comm_set_errhandler(ps->data, MPI_ERRORS_RETURN);
    ps->owns_data = true;
    ps->comm = std::make_unique<MpiCommunicator>(ps->data, config_.max_chunk_bytes);
  }
  if (controller_->is_coordinator()) controller_->AddSet(ps->id, world_ranks);
  *id = ps->id;
  std::lock_guard<std::mutex> lock(sets_mu_);
  sets_[ps->id] = ps;
  sets_version_.fetch_add(1, std::memory_order_release);
  return Status::Ok();
}

Status Engine::RemoveProcessSet(int32_t id) {
  std::shared_ptr<ProcessSet> ps;
  {
    std::lock_guard<std::mutex> lock(sets_mu_);
    auto it = sets_.find(id);
    if (it == sets_.end() || id == 0) return Status::Ok();
    ps = it->second;
    sets_.erase(it);
    sets_version_.fetch_add(1, std::memory_order_release);
  }
  Status gone = Status::Error(StatusType::kShutDown, "process set " + std::to_string(id) +
                                                         " was removed (hvd.removeProcessSet) before this collective ran");
  for (TensorTableEntry& e : ps->queue.TakeAll()) {
    if (e.done) e.done(gone, CollectiveResult());
  }
  if (controller_->is_coordinator()) controller_->RemoveSet(id);
  ps->comm.reset();
  if (ps->owns_data && ps->data != MPI_COMM_NULL) MPI_Comm_free(&ps->data);
  return Status::Ok();
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
  global_->queue.Wake();
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

Status Engine::Enqueue(int32_t set, std::vector<TensorTableEntry> entries, bool wake) {
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
  std::shared_ptr<ProcessSet> ps = FindSet(set);
  if (!ps) {
    return Status::Error(StatusType::kInvalidArgument,
                         "process set " + std::to_string(set) + " does not exist (it was removed, or never added)");
  }
  if (!ps->included()) {
    return Status::Error(StatusType::kInvalidArgument, "rank " + std::to_string(topology_.rank) +
                                                           " is not a member of process set " + std::to_string(set));
  }
  for (TensorTableEntry& e : entries) e.request.process_set = set;
  AttachEagerPayloads(&entries);
  Status s2 = ps->queue.Add(std::move(entries), wake);
  if (wake && s2.ok() && set != 0) global_->queue.Wake();  // the engine sleeps on the global queue
  return s2;
}

// Eager ops (Op::eager): a call whose inputs total at most HVD_EAGER_BYTES
// sends them with its requests. Read now, on the calling thread, instead of
// when the collective would have run: a *Sync caller is blocked until then,
// and a Promise call's inputs are private copies made at call time up to
// 4 KiB, and must stay unchanged until it settles above (src/inputs.ts).
void Engine::AttachEagerPayloads(std::vector<TensorTableEntry>* entries) const {
  const int64_t limit = config_.eager_bytes;
  if (limit <= 0 || entries->empty() || !OpFor(entries->front().request.kind).eager()) return;
  auto bytes_of = [](const TensorTableEntry& e) {
    return NumElements(e.request.shape) * static_cast<int64_t>(DataTypeSize(e.request.dtype));
  };
  int64_t total = 0;
  for (const TensorTableEntry& e : *entries) {
    if (e.input == nullptr) return;
    total += bytes_of(e);
    if (total > limit) return;
  }
  for (TensorTableEntry& e : *entries) {
    const auto* p = static_cast<const uint8_t*>(e.input);
    e.request.payload.assign(p, p + bytes_of(e));
  }
}

void Engine::Abort(const std::string& reason) {
  if (state_.load() != State::kRunning) return;
  std::unique_lock<std::mutex> lock(abort_mu_);
  if (!abort_request_.empty() || !aborted_.empty()) return;
  abort_request_ = reason;
  abort_requested_.store(true, std::memory_order_release);
  lock.unlock();
  global_->queue.Wake();
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
    // A *Sync call may run the loop on its own thread only if MPI allows
    // calls from more than one thread (one at a time: drive_mu_).
    inline_sync_ = config_.inline_sync && mpi_->thread_level() >= MPI_THREAD_SERIALIZED;
    cpus_ = HostCpus(*mpi_);
    oversubscribed_ = mpi_->local_size() > cpus_;
    // HVD_SPIN_TIME_US, or its two defaults (config.h).
    sync_pause_us_ = config_.spin_time_us >= 0 ? config_.spin_time_us : kDefaultSpinUs;
    pending_spin_us_ = config_.spin_time_us >= 0 ? config_.spin_time_us
                       : oversubscribed_       ? kDefaultSpinUs
                                               : config_.blocking_spin_time_us;
    SetLogContext(config_.log_level, mpi_->rank());
    if (!config_.timeline_path.empty() && mpi_->rank() == 0) {
      timeline_.Open(config_.timeline_path, config_.timeline_mark_cycles);
    }
    if (config_.ring_threshold_bytes < 0) {
      // Measured where results allow (ops/algorithm.h); this threshold
      // decides the rest.
      config_.ring_threshold_bytes = mpi_->cross_size() > 1 ? (int64_t{4} << 20) : (int64_t{16} << 20);
      config_.measure_algorithm = true;
    }
    controller_ = std::make_unique<MpiController>(mpi_.get(), config_, &tuner_);
    // The direct path runs only where every rank has it on (each rank's
    // environment is its own): one MIN over the control communicator, the
    // only collective at init. Off where rank 0 may fail a name early
    // (HOROVOD_STALL_SHUTDOWN_TIME_SECONDS; see direct_exchange.h).
    if (mpi_->size() > 1) {
      int direct = mpi_->size() <= config_.eager_direct_max_ranks && config_.eager_bytes > 0 && !config_.stall_fails() ? 1 : 0;
      int rc = MPI_Allreduce(MPI_IN_PLACE, &direct, 1, MPI_INT, MPI_MIN, mpi_->control_comm());
      if (rc != MPI_SUCCESS) direct = 0;
      if (direct) {
        direct_ = std::make_unique<DirectExchange>(mpi_->rank(), mpi_->size());
        controller_->set_direct(true);
      }
    }
    fusion_ = std::make_unique<FusionBuffer>();
    global_->ranks.resize(static_cast<size_t>(mpi_->size()));
    for (int r = 0; r < mpi_->size(); ++r) global_->ranks[static_cast<size_t>(r)] = r;
    global_->rank = mpi_->rank();
    global_->data = mpi_->data_comm();
    global_->comm = std::make_unique<MpiCommunicator>(mpi_->data_comm(), config_.max_chunk_bytes);
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
  for (const auto& ps : Sets()) {
    ps->comm.reset();
    if (ps->owns_data && ps->data != MPI_COMM_NULL) MPI_Comm_free(&ps->data);
  }
  controller_.reset();
  mpi_->Finalize();
  {
    std::lock_guard<std::mutex> lock(mu_);
    thread_done_ = true;
  }
  thread_done_cv_.notify_all();
}

// One step of the loop: hand new local requests to negotiation, receive
// what is decided and execute it. The caller holds drive_mu_. send_only:
// the first half alone (SendNow): new requests go out, nothing is received
// or executed, and shutdown and abort are left to the full cycle.
Engine::CycleResult Engine::Cycle(bool send_only) {
  const bool coordinator = mpi_->rank() == 0;
  bool progressed = false;
  // Kept across cycles, so neither it nor the queue's list (the two swap
  // their vectors) allocates per call.
  RequestList& outgoing = loop_.outgoing;
  outgoing.requests.clear();
  outgoing.shutdown = false;
  outgoing.abort_reason.clear();
  bool any_direct = false;
  // The sets change only in responses this loop executes: a copy of the
  // list is kept and refreshed when it changes (copying it every step was
  // an allocation and a lock per spin).
  const uint64_t sets_version = sets_version_.load(std::memory_order_acquire);
  if (loop_.sets_version != sets_version) {
    loop_.sets = Sets();  // a change after the load only refreshes it once more next step
    loop_.sets_version = sets_version;
  }
  const std::vector<std::shared_ptr<ProcessSet>>& sets = loop_.sets;
  size_t pending = 0;
  int blocking = 0;
  for (const auto& ps : sets) {
    if (!ps->included()) continue;
    if (!ps->queue.has_new()) continue;
    size_t first = outgoing.requests.size();
    ps->queue.PopNewRequests(&outgoing.requests);
    for (size_t i = first; i < outgoing.requests.size(); ++i) {
      Request& r = outgoing.requests[i];
      r.rank = mpi_->rank();
      r.seq = ps->seq++;
      // HVD_CHECK_DIVERGENCE: FNV-1a over the signature, folded into the
      // set's running hash (the signature is a few allocations: only
      // when the check is on).
      if (config_.check_divergence) {
        for (unsigned char ch : r.Signature()) ps->hash = (ps->hash ^ ch) * 1099511628211ull;
        ps->hash = (ps->hash ^ 0xff) * 1099511628211ull;
        r.running_hash = ps->hash;
      }
      if (timeline_.enabled()) {
        auto now = std::chrono::steady_clock::now();
        timeline_.Complete(r.name, "QUEUE", r.enqueued, now);
        negotiating_since_[TimelineKey(r.process_set, r.name)] = now;
      }
      // The direct path (direct_exchange.h): which of these go to every rank.
      if (direct_ && r.process_set == 0) {
        const Op& op = OpFor(r.kind);
        if (op.is_join()) {
          join_pending_ = true;
        } else if (!join_pending_ && op.eager() && !r.payload.empty() && r.group.empty()) {
          r.direct = true;
          any_direct = true;
        }
      }
    }
  }
  bool sending_abort = false;
  if (!send_only && abort_requested_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(abort_mu_);
    if (!abort_request_.empty() && !abort_request_sent_) {
      outgoing.abort_reason = abort_request_;
      sending_abort = true;
    }
  }
  if (!send_only && shutdown_requested_ && !loop_.sent_shutdown) {
    outgoing.shutdown = true;
    loop_.sent_shutdown = true;
  }
  if (!outgoing.requests.empty() || outgoing.shutdown || sending_abort) {
    // Peers first: rank 0 may answer a worker before the worker's copy has
    // reached the other workers, and they would wait on it.
    Status s = any_direct ? controller_->SendDirect(&outgoing) : Status::Ok();
    if (s.ok()) s = controller_->SendRequestList(&outgoing);
    if (!s.ok()) {
      HVD_LOG(kError, "negotiation failed: " << s.reason());
      FailAllPending(s);
      return CycleResult::kStop;
    }
    progressed = true;
    // Sent (rank 0's coordinator keeps copies): the exchange takes them.
    if (any_direct) {
      for (Request& r : outgoing.requests) {
        if (r.direct) direct_->AddOwn(std::move(r));
      }
    }
  }
  if (send_only) return progressed ? CycleResult::kProgressed : CycleResult::kIdle;

  std::vector<ResponseList> lists;
  direct_in_.clear();
  Status s = controller_->Poll(&lists, &direct_in_, &progressed);
  if (!s.ok()) {
    HVD_LOG(kError, "negotiation failed: " << s.reason());
    FailAllPending(s);
    return CycleResult::kStop;
  }
  stats_.cache_hits = controller_->cache_hits();
  stats_.control_bytes = controller_->control_bytes_sent();
  for (const ResponseList& list : lists) {
    stats_.negotiation_lists++;
    Execute(list);
    if (list.shutdown) loop_.final_received = true;
  }
  if (direct_) {
    for (Request& r : direct_in_) direct_->AddPeer(std::move(r));
    std::vector<Response>& fired = direct_->fired();
    if (!fired.empty()) {
      progressed = true;
      for (const Response& r : fired) PerformDirect(r);
      fired.clear();
    }
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

  if (coordinator && loop_.sent_shutdown && controller_->coordinator()->AllShutDown()) {
    controller_->SendFinalShutdown();
    return CycleResult::kStop;
  }
  if (!coordinator && loop_.final_received) return CycleResult::kStop;

  if (timeline_.enabled()) {
    if (progressed) timeline_.CycleStart();
    timeline_.MaybeFlush();
  }
  if (progressed) return CycleResult::kProgressed;
  for (const auto& ps : sets) {
    if (!ps->included()) continue;
    pending += ps->queue.pending();
    blocking += ps->queue.blocking_pending();
  }
  if (pending == 0 && !loop_.sent_shutdown) return CycleResult::kIdle;
  return blocking > 0 ? CycleResult::kWaitingBlocking : CycleResult::kWaiting;
}

void Engine::RunLoop() {
  using Clock = std::chrono::steady_clock;
  const bool coordinator = mpi_->rank() == 0;
  const auto cycle = std::chrono::microseconds(
      static_cast<int64_t>(config_.cycle_time_ms * 1000.0) > 0
          ? static_cast<int64_t>(config_.cycle_time_ms * 1000.0)
          : 1);
  auto last_activity = Clock::now();
  auto backoff = std::chrono::microseconds(10);
  int64_t idle_spin_us = config_.idle_spin_us;
  if (idle_spin_us < 0) idle_spin_us = cpus_ >= 2 * std::max(1, mpi_->local_size()) ? 50 : 0;

  for (;;) {
    std::unique_lock<std::mutex> drive(drive_mu_);
    if (loop_.stopped) return;
    const CycleResult r = Cycle();
    if (r == CycleResult::kStop) {
      loop_.stopped = true;
      return;
    }
    if (r == CycleResult::kProgressed) {
      last_activity = Clock::now();
      backoff = std::chrono::microseconds(10);
      continue;
    }
    // Between cycles the loop is free for a *Sync call to drive (DriveSync).
    drive.unlock();
    if (r == CycleResult::kIdle) {
      if (idle_spin_us > 0) {
        const auto until = last_activity + std::chrono::microseconds(idle_spin_us);
        bool woke = false;
        while (Clock::now() < until && !(woke = global_->queue.has_new())) sched_yield();
        if (woke) continue;
      }
      // Nothing of ours is in flight. The coordinator still wakes now and
      // then to absorb workers' requests; a worker can sleep until it has work.
      global_->queue.WaitForWork(coordinator && mpi_->size() > 1 ? std::chrono::microseconds(100000)
                                                                 : std::chrono::microseconds(-1));
      continue;
    }
    auto idle = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - last_activity);
    int64_t spin = r == CycleResult::kWaitingBlocking ? config_.blocking_spin_time_us : pending_spin_us_;
    if (idle.count() < spin) {
      sched_yield();
      continue;
    }
    global_->queue.WaitForWork(backoff);
    backoff = std::min(backoff * 2, cycle);
  }
}

// A *Sync call run by the thread that made it, when the loop is free: see
// engine.h. Returns false (nothing enqueued) when the caller must Enqueue
// and wait for the engine thread instead.
bool Engine::DriveSync(int32_t set, std::vector<TensorTableEntry>* entries, const std::atomic<bool>& done,
                       Status* status) {
  if (!inline_sync_ || state_.load() != State::kRunning) return false;
  std::unique_lock<std::mutex> drive(drive_mu_, std::try_to_lock);
  if (!drive.owns_lock()) {
    // The engine thread is in a cycle, usually finishing the previous call:
    // worth a few microseconds' wait, not a hand-off.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
    do {
      for (int i = 0; i < 16; ++i) CpuRelax();
    } while (!drive.try_lock() && std::chrono::steady_clock::now() < give_up);
  }
  if (!drive.owns_lock() || loop_.stopped || loop_.sent_shutdown) return false;
  *status = Enqueue(set, std::move(*entries), /*wake=*/false);
  if (!status->ok()) return true;
  stats_.inline_calls++;
  using Clock = std::chrono::steady_clock;
  auto last_activity = Clock::now();
  bool handed_back = false;
  while (!done.load(std::memory_order_acquire)) {
    const CycleResult r = Cycle();
    if (r == CycleResult::kStop) {
      // The job is over (or negotiation failed and every entry was failed):
      // the engine thread finalizes.
      loop_.stopped = true;
      break;
    }
    if (r == CycleResult::kProgressed) {
      last_activity = Clock::now();
      continue;
    }
    // Waiting on peers: spun out here for as long as the engine thread
    // would spin for a blocked call (HVD_BLOCKING_SPIN_TIME_US); a longer
    // wait is the engine thread's, which backs off to sleeping, while this
    // thread sleeps on its call.
    const auto waited = Clock::now() - last_activity;
    if (waited > std::chrono::microseconds(config_.blocking_spin_time_us)) {
      handed_back = true;
      break;
    }
    // A sched_yield is a syscall (about a microsecond on a VM) and the
    // peer's message is usually that close: for the first HVD_SPIN_TIME_US
    // spin on the CPU, unless this host runs more ranks than it has CPUs,
    // where the peer may need ours; then yield.
    if (oversubscribed_ || waited > std::chrono::microseconds(sync_pause_us_)) {
      sched_yield();
    } else {
      for (int i = 0; i < 4; ++i) CpuRelax();
    }
  }
  const bool stopped = loop_.stopped;
  drive.unlock();
  // Whatever is left (other calls' entries, a peer's late requests) is the
  // engine thread's again.
  if (handed_back || stopped || global_->queue.has_new() || AnyPending()) global_->queue.Wake();
  return true;
}

// A Promise call's requests sent by the thread that made it, when the loop
// is free: they leave now instead of after the engine thread's wake-up (a
// futex wake, tens of microseconds on a VM, on every small call's path).
// Only the sending half of a cycle runs here (Isend, no receive, no
// collective), so the JS thread never waits in MPI; the engine thread,
// which Enqueue woke, receives and executes.
void Engine::SendNow() {
  if (!inline_sync_ || state_.load() != State::kRunning) return;
  if (abort_requested_.load(std::memory_order_acquire)) return;
  std::unique_lock<std::mutex> drive(drive_mu_, std::try_to_lock);
  if (!drive.owns_lock() || loop_.stopped || loop_.sent_shutdown) return;
  if (Cycle(/*send_only=*/true) == CycleResult::kStop) loop_.stopped = true;
  drive.unlock();
  // Enqueue's wake-up would find the queue empty now and let the engine
  // thread sleep on: it still has to receive and complete the call.
  global_->queue.Wake();
}

bool Engine::AnyPending() const {
  for (const auto& ps : Sets()) {
    if (ps->included() && ps->queue.pending() > 0) return true;
  }
  return false;
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
  const auto coordinators = controller_->coordinators();
  // Per process set: what is stalled now, keyed by set and name.
  std::vector<std::pair<int32_t, Coordinator::Stalled>> stalled;
  for (const auto& [set, coord] : coordinators) {
    for (Coordinator::Stalled& s : coord->PendingOlderThan(warn)) stalled.emplace_back(set, std::move(s));
  }
  // Forget collectives that are no longer stalled (completed or failed).
  for (auto it = stall_warned_.begin(); it != stall_warned_.end();) {
    bool still = std::any_of(stalled.begin(), stalled.end(), [&](const auto& ss) {
      return TimelineKey(ss.first, ss.second.name) == it->first;
    });
    if (still) ++it;
    else it = stall_warned_.erase(it);
  }
  std::string lines;
  double next_in = 0;
  for (const auto& [set, s] : stalled) {
    const std::string key = TimelineKey(set, s.name);
    auto it = stall_warned_.find(key);
    if (it != stall_warned_.end() && now < it->second.next) continue;
    // First report: the next one after `warn` s more; then doubling.
    double interval = it == stall_warned_.end() ? warn : std::min(it->second.interval * 2, std::max(warn, 3600.0));
    stall_warned_[key] = {now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(interval)),
                          interval};
    next_in = next_in == 0 ? interval : std::min(next_in, interval);
    std::string missing;
    for (size_t i = 0; i < s.missing_ranks.size(); ++i) missing += (i ? "," : "") + std::to_string(s.missing_ranks[i]);
    lines += "\n  " + (set == 0 ? std::string() : "process set " + std::to_string(set) + ": ") + s.signature +
             " waiting " + std::to_string(static_cast<int>(s.seconds)) + " s; missing " +
             (set == 0 ? "ranks: " : "ranks (in the set): ") + missing;
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
  if (config_.stall_fails()) {
    int n = 0;
    for (const auto& [set, coord] : coordinators) {
      n += coord->FailStalled(kill, "Failed after HOROVOD_STALL_SHUTDOWN_TIME_SECONDS=" +
                                        std::to_string(static_cast<int>(kill)) + ".");
    }
    if (n > 0) HVD_LOG(kError, "stall shutdown: failing " << n << " stalled collective(s) on every rank");
  }
}

void Engine::Trace(const std::vector<std::string>& names, const char* phase,
                   std::chrono::steady_clock::time_point start, const std::string& args) {
  if (!timeline_.enabled()) return;
  auto end = std::chrono::steady_clock::now();
  for (const std::string& n : names) timeline_.Complete(n, phase, start, end, args);
}

void Engine::EndNegotiation(const Response& r) {
  if (!timeline_.enabled()) return;
  auto now = std::chrono::steady_clock::now();
  for (const std::string& n : r.names) {
    auto it = negotiating_since_.find(TimelineKey(r.process_set, n));
    if (it == negotiating_since_.end()) continue;
    timeline_.Complete(n, r.failed ? "NEGOTIATE_ERROR" : "NEGOTIATE", it->second, now);
    negotiating_since_.erase(it);
  }
}

void Engine::PerformResponse(const Response& r) {
  EndNegotiation(r);
  if (r.process_set == 0 && direct_) {
    if (!r.direct_ranks.empty()) {
      for (const std::string& n : r.names) direct_->Consumed(n, r.direct_ranks);
    }
    if (OpFor(r.kind).is_join()) join_pending_ = false;
  }
  // Members only; a set this rank is not in (or no longer has) is skipped.
  std::shared_ptr<ProcessSet> ps = FindSet(r.process_set);
  if (!ps || !ps->included()) return;
  std::vector<TensorTableEntry> entries(r.names.size());
  std::vector<bool> have(r.names.size());
  for (size_t i = 0; i < r.names.size(); ++i) have[i] = ps->queue.Take(r.names[i], &entries[i]);
  stats_.responses++;
  if (r.failed) {
    Status err = Status::Error(r.error_type, r.error);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (have[i] && entries[i].done) entries[i].done(err, CollectiveResult());
    }
    return;
  }
  ExecuteOp(*ps, r, entries, have);
}

// A decision of the direct path: this rank's own request, completed with the
// result every rank computed alike. Rank 0's timeline shows it as a
// negotiation that ended here.
void Engine::PerformDirect(const Response& r) {
  EndNegotiation(r);
  // One entry, in vectors kept for it (two allocations per call otherwise).
  std::vector<TensorTableEntry>& entries = loop_.direct_entries;
  entries.resize(1);
  if (!global_->queue.Take(r.names[0], &entries[0])) return;
  stats_.responses++;
  stats_.direct_allreduces++;
  loop_.direct_have.assign(1, true);
  ExecuteOp(*global_, r, entries, loop_.direct_have);
  entries[0] = TensorTableEntry();  // drops what it held (the binding's call) now
}

void Engine::ExecuteOp(ProcessSet& ps, const Response& r, std::vector<TensorTableEntry>& entries,
                       const std::vector<bool>& have) {
  ExecContext ctx{*ps.comm, config_, stats_, *fusion_, scratch_,
                  [this](const std::vector<std::string>& names, const char* phase,
                         std::chrono::steady_clock::time_point start,
                         const std::string& args) { Trace(names, phase, start, args); },
                  this, timeline_.enabled()};
  // The coordinator times what its tuner chose (only it chooses).
  if (config_.measure_algorithm && mpi_->rank() == 0) ctx.tuner = &tuner_;
  ctx.process_set = ps.id;
  try {
    OpFor(r.kind).Execute(ctx, r, entries, have);
  } catch (const std::exception& ex) {
    // Entries whose callback already ran have none left; the rest learn
    // what went wrong.
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

void Engine::FailAllPending(const Status& status) {
  for (const auto& ps : Sets()) {
    for (TensorTableEntry& e : ps->queue.TakeAll()) {
      if (e.done) e.done(status, CollectiveResult());
    }
  }
}

}  // namespace hvd::core
