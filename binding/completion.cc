#include "completion.h"

#include <sched.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "errors.h"

namespace hvd::binding {

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

void PendingCall::Wait() {
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
  cv.wait(lock, [this] { return done.load(std::memory_order_acquire); });
}

Napi::Value ResultsToJs(Napi::Env env, PendingCall& call) {
  Napi::Array out = Napi::Array::New(env, call.results.size());
  for (size_t i = 0; i < call.results.size(); ++i) {
    core::CollectiveResult& r = call.results[i];
    switch (r.kind) {
      case core::CollectiveResult::Kind::kBuffer: {
        size_t size = r.buffer.size;
        Napi::ArrayBuffer ab;
        void* data = r.buffer.Release();
        try {
          ab = Napi::ArrayBuffer::New(env, data, size, [](Napi::Env, void* p) { std::free(p); });
        } catch (const Napi::Error&) {
          // Runtimes that forbid external buffers: copy instead.
          ab = Napi::ArrayBuffer::New(env, size);
          if (size) std::memcpy(ab.Data(), data, size);
          std::free(data);
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
  if (call.status.ok()) {
    js->deferred.Resolve(ResultsToJs(env, call));
  } else {
    js->deferred.Reject(StatusToJsError(env, call.status).Value());
  }
  js.reset();
  ctx->RemovePending(env);
}

}  // namespace hvd::binding
