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

void PendingCall::Wait() {
  // Most small collectives finish within tens of microseconds: spinning a
  // little avoids a futex sleep/wake pair on the critical path.
  auto start = std::chrono::steady_clock::now();
  while (!done.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() - start > std::chrono::microseconds(200)) break;
    sched_yield();
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [this] { return done.load(std::memory_order_acquire); });
}

Napi::Value ResultsToJs(Napi::Env env, PendingCall& call) {
  Napi::Array out = Napi::Array::New(env, call.results.size());
  for (size_t i = 0; i < call.results.size(); ++i) {
    core::CollectiveResult& r = call.results[i];
    if (call.kind == static_cast<int>(core::RequestType::kAllgather)) {
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
      out.Set(i, o);
    } else if (call.kind == static_cast<int>(core::RequestType::kJoin)) {
      out.Set(i, Napi::Number::New(env, static_cast<double>(r.scalar)));
    } else {
      out.Set(i, env.Undefined());
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
