// The hand-off point between the JS thread (producer) and the engine thread
// (consumer). Producers add entries and wake the engine; the engine pops the
// new requests for negotiation and later takes entries by name to execute.
#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "message.h"

namespace hvd::core {

// Called exactly once, on the engine thread, when the operation finishes.
using DoneCallback = std::function<void(const Status&, CollectiveResult&&)>;

struct TensorTableEntry {
  Request request;
  // Allreduce reads input and writes output (same byte size); broadcast
  // reads input on the root and writes output everywhere; allgather reads
  // input and the engine allocates the result. Both pointers must stay valid
  // until `done` runs: the binding holds references to their owners.
  const void* input = nullptr;
  void* output = nullptr;
  // Ops that allocate their result (Op::Buffers::kInput) and were given the
  // caller's `out`: its size in bytes (output points at it). AllocateResult
  // writes there when the result has exactly this size, else fails the
  // entry with a RangeError after the collective ran.
  size_t output_bytes = 0;
  // A JS thread is blocked waiting for this entry: the engine spins instead
  // of sleeping while any such entry is pending.
  bool blocking = false;
  // Optional, for ops that allocate their result (Op::Buffers::kInput:
  // allgather, alltoall, reducescatter and their grouped forms, through
  // AllocateResult in ops/op.h): asked on the engine thread for `bytes` of
  // output once their size is known; returns where to write the result, or
  // nullptr to let the engine allocate it (CollectiveResult::buffer). The
  // binding sets it for *Sync calls to have the result written straight
  // into memory the JavaScript heap owns (see binding/completion.h).
  std::function<void*(size_t bytes)> allocate_output;
  DoneCallback done;
  // Whatever `done` needs alive, held for as long as the entry is (the
  // binding's call: `done` then captures a plain pointer and an index,
  // which std::function stores without allocating).
  std::shared_ptr<void> owner;
};

class TensorQueue {
 public:
  // Adds all entries atomically (a group negotiates as one). Fails with
  // kDuplicateName, adding nothing, if any name is already in flight.
  // `wake` false does not signal a thread sleeping in WaitForWork.
  Status Add(std::vector<TensorTableEntry> entries, bool wake = true);

  // Moves requests added since the last call into `out`, in submission order.
  void PopNewRequests(std::vector<Request>* out);

  // Removes and returns the entry for `name`; false if it is not pending
  // (for example because shutdown already failed it).
  bool Take(const std::string& name, TensorTableEntry* entry);

  // Removes every pending entry (new or negotiating) and returns them.
  std::vector<TensorTableEntry> TakeAll();

  // Blocks until new requests arrive, Wake() is called, or `timeout` passes.
  // A negative timeout waits without limit.
  void WaitForWork(std::chrono::microseconds timeout);
  void Wake();

  size_t pending() const;
  int blocking_pending() const;
  // Whether requests were added (or Wake was called) since the last
  // PopNewRequests (no lock: for spinning on).
  bool has_new() const { return has_new_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, TensorTableEntry> table_;
  std::vector<Request> new_requests_;
  int blocking_ = 0;
  bool woken_ = false;
  std::atomic<bool> has_new_{false};
};

}  // namespace hvd::core
