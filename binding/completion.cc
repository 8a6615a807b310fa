#include "completion.h"

#include <sched.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "copy.h"
#include "errors.h"
#include "pool_buffer.h"

namespace hvd::binding {

void PendingCall::Reset(size_t n) {
  remaining.store(static_cast<int>(n), std::memory_order_relaxed);
  status = core::Status::Ok();
  results.clear();
  results.resize(n);
  done.store(false, std::memory_order_relaxed);
  alloc_requested = false;
  alloc_granted = false;
  alloc_index = 0;
  alloc_bytes = 0;
  alloc_data = nullptr;
  sync_outputs.clear();
  waiter = std::thread::id();
  js.reset();
}

void PendingCall::Finish(size_t index, const core::Status& st, core::CollectiveResult&& result) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!st.ok() && status.ok()) status = st;
    results[index] = std::move(result);
  }
  if (remaining.fetch_sub(1) != 1) return;
  if (blocking) {
    {
      std::lock_guard<std::mutex> lock(mu);
      done.store(true, std::memory_order_release);
    }
    cv.notify_all();
  } else {
    queue->Post(shared_from_this());
  }
}

namespace {
// HVD_WAIT_SPIN_US: how long a blocked *Sync call spins before sleeping.
int64_t WaitSpinMicros() {
  static const int64_t us = [] {
    const char* v = std::getenv("HVD_WAIT_SPIN_US");
    return v ? std::atoll(v) : 0;
  }();
  return us;
}
}  // namespace

// Below this, a Sync output the op allocated is copied out of the engine's buffer:
// a memcpy of a few KiB is cheaper than waking the JS thread to allocate.
constexpr size_t kSyncCopyBelowBytes = 64 * 1024;

void* PendingCall::AllocateOutput(size_t index, size_t bytes) {
  if (bytes < kSyncCopyBelowBytes) return nullptr;
  // Running on the waiting thread itself (it drives the loop): it cannot
  // also wait in Wait(). The engine allocates; ResultsToJs copies.
  if (std::this_thread::get_id() == waiter) return nullptr;
  std::unique_lock<std::mutex> lock(mu);
  alloc_index = index;
  alloc_bytes = bytes;
  alloc_granted = false;
  alloc_requested = true;
  cv.notify_all();
  cv.wait(lock, [this] { return alloc_granted; });
  alloc_granted = false;
  return alloc_data;
}

void PendingCall::Wait(Napi::Env env) {
  // By default the JS thread sleeps at once: the engine thread is the one
  // that must run now, and on machines with few cores a spinning JS thread
  // steals its CPU (measured: p99 of a 4-byte allreduce rose to a 4 ms
  // scheduler tick with a 200 us spin at np=2 on 2 cores).
  const auto spin = std::chrono::microseconds(WaitSpinMicros());
  auto start = std::chrono::steady_clock::now();
  while (spin.count() > 0 && !done.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() - start > spin) break;
    sched_yield();
  }
  std::unique_lock<std::mutex> lock(mu);
  for (;;) {
    cv.wait(lock, [this] { return alloc_requested || done.load(std::memory_order_acquire); });
    if (!alloc_requested) return;
    alloc_requested = false;
    const size_t index = alloc_index, bytes = alloc_bytes;
    lock.unlock();
    void* data = nullptr;
    {
      // napi_create_buffer: V8's allocator, no zero fill, freed by the GC.
      napi_value buf;
      void* p = nullptr;
      if (napi_create_buffer(env, bytes, &p, &buf) == napi_ok) {
        if (sync_outputs.size() <= index) sync_outputs.resize(results.size());
        sync_outputs[index] = Napi::Value(env, buf);
        data = p;
      } else {
        // Too large for a Buffer, or out of memory: let the engine allocate;
        // ResultsToJs then reports the failure (or succeeds by copying).
        bool pending = false;
        napi_is_exception_pending(env, &pending);
        if (pending) {
          napi_value ignored;
          napi_get_and_clear_last_exception(env, &ignored);
        }
      }
    }
    lock.lock();
    alloc_data = data;
    alloc_granted = true;
    cv.notify_all();
  }
}

const std::string& PendingCall::OutputError() const {
  static const std::string none;
  for (const core::CollectiveResult& r : results) {
    if (!r.output_error.empty()) return r.output_error;
  }
  return none;
}

Napi::Value ResultsToJs(Napi::Env env, PendingCall& call) {
  Napi::Array out = Napi::Array::New(env, call.results.size());
  for (size_t i = 0; i < call.results.size(); ++i) {
    core::CollectiveResult& r = call.results[i];
    switch (r.kind) {
      case core::CollectiveResult::Kind::kBuffer: {
        // Whatever op produced it: a block of hvd's pool, an engine-malloc'd
        // buffer, (Sync calls whose op used the entry's allocate_output) a
        // JS Buffer the result was written into, or the caller's `out`.
        Napi::Value ab = env.Undefined();
        const size_t size = r.buffer.size;
        const bool pooled = r.buffer.pooled;
        void* data = r.buffer.Release();
        if (r.into_output) {
          // Written into the caller's out: the TS layer returns that.
          core::FreeHostMemory(data, pooled);
        } else if (pooled) {
          // No copy, Sync or Promise: V8 returns the block to the pool when
          // the ArrayBuffer is collected (pool_buffer.h).
          ab = PoolArrayBuffer(env, data, size, /*deferred_ok=*/!call.blocking);
        } else if (call.blocking && i < call.sync_outputs.size() && !call.sync_outputs[i].IsEmpty()) {
          // The op wrote straight into this Buffer (AllocateOutput).
          ab = call.sync_outputs[i].As<Napi::Buffer<uint8_t>>().ArrayBuffer();
          std::free(data);
        } else if (call.blocking) {
          // Small Sync outputs (and the rare large one when both the pool
          // and the JS heap refused): copy into memory V8 owns
          // (napi_create_buffer: no zero fill, counted by V8, freed inside
          // the GC that finds it dead) and free the engine's buffer now.
          // Handing malloc'd memory to V8 as a Node-API external
          // ArrayBuffer leaks in Sync loops: see completion.h.
          Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(env, size);
          core::CopyBytes(buf.Data(), data, size);
          std::free(data);
          ab = buf.ArrayBuffer();
        } else {
          // Promise calls: the event loop turns between calls (the result
          // arrives through it), so the deferred finalizer runs and the
          // engine's buffer can be handed over without a copy.
          try {
            ab = Napi::ArrayBuffer::New(env, data, size, [](Napi::Env, void* p) { std::free(p); });
          } catch (const Napi::Error&) {
            // Runtimes that forbid external buffers: copy instead.
            Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, size);
            core::CopyBytes(copy.Data(), data, size);
            std::free(data);
            ab = copy;
          }
        }
        Napi::Object o = Napi::Object::New(env);
        o.Set("buffer", ab);
        Napi::Array shape = Napi::Array::New(env, r.shape.size());
        for (size_t d = 0; d < r.shape.size(); ++d) shape.Set(d, Napi::Number::New(env, static_cast<double>(r.shape[d])));
        o.Set("shape", shape);
        if (!r.ints.empty()) {
          auto ints = Napi::Int32Array::New(env, r.ints.size());
          std::memcpy(ints.Data(), r.ints.data(), r.ints.size() * sizeof(int32_t));
          o.Set("ints", ints);
        }
        out.Set(i, o);
        break;
      }
      case core::CollectiveResult::Kind::kScalar:
        out.Set(i, Napi::Number::New(env, static_cast<double>(r.scalar)));
        break;
      case core::CollectiveResult::Kind::kNone:
        out.Set(i, env.Undefined());
        break;
    }
  }
  return out;
}

CompletionQueue::CompletionQueue(Napi::Env env) {
  tsfn_ = Tsfn::New(env, "hvd.completion", 0, 1, this);
  tsfn_.Unref(env);
}

CompletionQueue::~CompletionQueue() = default;

void CompletionQueue::AddPending(Napi::Env env) {
  if (pending_++ == 0) tsfn_.Ref(env);
}

void CompletionQueue::RemovePending(Napi::Env env) {
  if (--pending_ == 0) tsfn_.Unref(env);
}

void CompletionQueue::Post(std::shared_ptr<PendingCall> call) {
  auto* data = new std::shared_ptr<PendingCall>(std::move(call));
  if (tsfn_.NonBlockingCall(data) != napi_ok) {
    // The environment is going away; the handles die with it.
    if ((*data)->js) {
      for (auto& ref : (*data)->js->keep_alive) ref.SuppressDestruct();
      (*data)->js.release();  // NOLINT: deliberately leaked with the dying env
    }
    delete data;
  }
}

void CompletionQueue::CallJs(Napi::Env env, Napi::Function, CompletionQueue* ctx,
                             std::shared_ptr<PendingCall>* data) {
  std::unique_ptr<std::shared_ptr<PendingCall>> owner(data);
  PendingCall& call = **data;
  if (env == nullptr) {
    if (call.js) {
      for (auto& ref : call.js->keep_alive) ref.SuppressDestruct();
      call.js.release();  // NOLINT: the env is gone, its handles with it
    }
    return;
  }
  Napi::HandleScope scope(env);
  std::unique_ptr<JsHandles> js = std::move(call.js);
  if (call.status.ok() && !call.OutputError().empty()) {
    js->deferred.Reject(Napi::RangeError::New(env, call.OutputError()).Value());
    call.results.clear();  // frees the buffers the result was received into
  } else if (call.status.ok()) {
    js->deferred.Resolve(ResultsToJs(env, call));
  } else {
    js->deferred.Reject(StatusToJsError(env, call.status).Value());
  }
  js.reset();
  ctx->RemovePending(env);
}

}  // namespace hvd::binding
