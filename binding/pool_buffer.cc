#include "pool_buffer.h"

#include <v8.h>

#include <cstring>
#include <memory>

#include "copy.h"
#include "pool.h"

namespace hvd::binding {
namespace {

[[maybe_unused]] Napi::ArrayBuffer CopyOut(Napi::Env env, void* data, size_t size) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, size);
  core::CopyBytes(ab.Data(), data, size);
  core::GlobalPool().Free(data);
  return ab;
}

}  // namespace

Napi::ArrayBuffer PoolArrayBuffer(Napi::Env env, void* data, size_t size, bool deferred_ok) {
#if !defined(V8_ENABLE_SANDBOX)
  // napi_value is a v8::Local's slot (Node's v8impl::JsValueFromV8LocalValue);
  // the handle lives in the HandleScope of the call or callback we are in.
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  // V8 runs a young-generation GC before it allocates a backing store once
  // young ArrayBuffers hold 2 semi-spaces' worth (32 MiB) of external bytes
  // (Heap::AllocateExternalBackingStore), which is what keeps a loop of
  // Buffer allocations flat. Memory handed in from outside skips that check,
  // and V8 then waits for an incremental mark-compact (measured: a Sync loop
  // of 4 MiB pool buffers held 264 MiB and ran 25x slower). A 1-byte
  // allocation through V8 runs the check for us.
  { std::unique_ptr<v8::BackingStore> nudge = v8::ArrayBuffer::NewBackingStore(isolate, 1); }
  std::unique_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      data, size, [](void* p, size_t, void*) { core::GlobalPool().Free(p); }, nullptr);
  v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, std::move(store));
  return Napi::ArrayBuffer(env, reinterpret_cast<napi_value>(*ab));
#else
  if (!deferred_ok) return CopyOut(env, data, size);
  napi_value result;
  napi_status st = napi_create_external_arraybuffer(
      env, data, size, [](napi_env, void* p, void*) { core::GlobalPool().Free(p); }, nullptr, &result);
  if (st == napi_ok) return Napi::ArrayBuffer(env, result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  return CopyOut(env, data, size);
#endif
}

Napi::ArrayBuffer NewHvdArrayBuffer(Napi::Env env, size_t bytes, bool zero) {
  if (void* p = core::GlobalPool().Allocate(bytes)) {
    if (zero) std::memset(p, 0, bytes);
    return PoolArrayBuffer(env, p, bytes, /*deferred_ok=*/false);
  }
  if (zero) return Napi::ArrayBuffer::New(env, bytes);
  // napi_create_buffer: V8's allocator without the zero fill.
  return Napi::Buffer<uint8_t>::New(env, bytes).ArrayBuffer();
}

}  // namespace hvd::binding
