// Completion and TSFN lifetime.
//
// Every collective call from JS becomes one PendingCall that may cover
// several engine entries (a grouped allreduce). The engine thread runs each
// entry's DoneCallback; the last one to finish completes the call:
//   * Sync calls (allreduceSync): the JS thread is blocked in Wait(). It
//     spins briefly on an atomic flag (most small collectives finish within
//     microseconds), then sleeps on a condition variable. Buffers need no
//     references: they stay on the blocked JS thread's stack.
//     The output of a *Sync op that allocates its result (allgather,
//     alltoall, reducescatter, grouped forms) is a block of hvd's pool
//     (native/pool.h) that the engine thread takes itself; V8 returns it to
//     the pool when the result is collected (pool_buffer.h). Only when the
//     pool is at its cap is it allocated by the JS heap instead: when the engine knows the output size it asks the blocked JS
//     thread (AllocateOutput), which wakes in Wait(), creates a Buffer of
//     that size (V8's allocator, uninitialized), hands its pointer back and
//     waits again; the engine gathers straight into it. Outputs under
//     kSyncCopyBelowBytes skip that round trip and are copied instead.
//     Why not give V8 the engine's malloc'd buffer with a finalizer, as the
//     Promise path does: Node-API runs an external buffer's finalizer from
//     a SetImmediate, i.e. only when the event loop turns, never inside
//     the GC that found it dead. A loop of *Sync calls never lets the loop
//     turn, so every output stayed allocated (a 1 MiB allgatherSync at
//     np=2 leaked 2 MiB per call, still there after gc()).
//   * Promise calls: the call is posted to the single ThreadSafeFunction,
//     whose CallJs runs on the JS thread, turns results into JS values and
//     resolves or rejects the Deferred. N-API handles (the Deferred and the
//     references that keep input/output buffers alive) live in JsHandles,
//     which is created and destroyed only on the JS thread, so the engine
//     thread never touches N-API even if it drops the last shared_ptr.
// The TSFN is created once at init and kept unref'd while no Promise call is
// pending, so it never keeps a finished script alive; it is ref'd on the
// transition from zero pending calls to one. At environment teardown the
// cleanup hook (registered after the TSFN, so it runs before the TSFN's own)
// shuts the engine down; calls still queued are then delivered with a null
// env and only freed.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace hvd::binding {

class CompletionQueue;

struct JsHandles {
  std::vector<Napi::Reference<Napi::Value>> keep_alive;
  Napi::Promise::Deferred deferred;
  explicit JsHandles(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

struct PendingCall : std::enable_shared_from_this<PendingCall> {
  explicit PendingCall(size_t n, bool blocking) : remaining(static_cast<int>(n)), results(n), blocking(blocking) {}

  // A finished Sync call made ready for the next one of `n` entries
  // (HvdAddon::NewCall); only when nothing else references it.
  void Reset(size_t n);

  // Called on the engine thread once per entry.
  void Finish(size_t index, const core::Status& status, core::CollectiveResult&& result);
  // Sync calls: blocks the JS thread until every entry finished, serving
  // AllocateOutput requests meanwhile.
  void Wait(Napi::Env env);
  // Sync calls of ops that allocate their result, engine thread: memory for entry `index`'s output owned
  // by the JS heap, or nullptr (too small to be worth the round trip, or the
  // allocation failed: the engine then allocates and the result is copied).
  void* AllocateOutput(size_t index, size_t bytes);

  // The first entry's message when a caller's `out` did not fit its result
  // (CollectiveResult::output_error); "" otherwise. After completion.
  const std::string& OutputError() const;

  std::atomic<int> remaining;
  std::mutex mu;
  core::Status status;  // the first failure, if any
  std::vector<core::CollectiveResult> results;
  bool blocking;
  std::atomic<bool> done{false};
  std::condition_variable cv;
  // AllocateOutput's hand-off (guarded by mu; at most one at a time, as the
  // engine thread waits for each).
  bool alloc_requested = false;
  bool alloc_granted = false;
  size_t alloc_index = 0;
  size_t alloc_bytes = 0;
  void* alloc_data = nullptr;
  // Sync calls, JS thread only: the Buffers AllocateOutput created, by entry
  // (local handles, alive in JsEnqueue's scope until it returns).
  std::vector<Napi::Value> sync_outputs;
  // Sync calls: the thread blocked on the call. It may run the engine loop
  // itself (Engine::DriveSync), and then cannot serve AllocateOutput.
  std::thread::id waiter;
  // Promise calls only; JS thread only.
  std::unique_ptr<JsHandles> js;
  CompletionQueue* queue = nullptr;
};

// Converts a finished call's results to the JS value the TS layer expects:
// an array with one element per entry: undefined, a number, or
// {buffer, shape, ints?} as the op shaped its CollectiveResult.
Napi::Value ResultsToJs(Napi::Env env, PendingCall& call);

class CompletionQueue {
 public:
  explicit CompletionQueue(Napi::Env env);
  ~CompletionQueue();

  // JS thread: a Promise call is about to be enqueued.
  void AddPending(Napi::Env env);
  // JS thread: the Promise call could not be enqueued after all.
  void RemovePending(Napi::Env env);
  // Engine thread: hand a finished Promise call to the JS thread.
  void Post(std::shared_ptr<PendingCall> call);

 private:
  static void CallJs(Napi::Env env, Napi::Function, CompletionQueue* ctx,
                     std::shared_ptr<PendingCall>* data);
  using Tsfn = Napi::TypedThreadSafeFunction<CompletionQueue, std::shared_ptr<PendingCall>,
                                             &CompletionQueue::CallJs>;
  Tsfn tsfn_;
  int pending_ = 0;  // JS thread only
};

}  // namespace hvd::binding
