// Hands blocks of hvd's pool (native/pool.h) to JavaScript as ArrayBuffers
// without a copy, and gives them back when the ArrayBuffer dies.
//
// Why V8's BackingStore API and not napi_create_external_arraybuffer: Node-API
// runs an external buffer's finalizer from a SetImmediate, i.e. only when the
// event loop turns, never inside the GC that found the buffer dead. A loop of
// *Sync calls never lets the loop turn, so its outputs would never come back
// (that leaked every allgatherSync output before issue 8's fix). A
// BackingStore deleter is called by V8 itself when the backing store is
// freed (after the GC that collected the ArrayBuffer, on whichever thread
// V8 sweeps on; the pool is thread safe), event loop or not, and V8 counts
// the bytes as external memory, so a Sync loop triggers those GCs.
//
// Where V8's sandbox forbids memory from outside its cage
// (V8_ENABLE_SANDBOX builds, e.g. Electron), the Node-API external buffer is
// used instead, and where that too is refused (napi_no_external_buffers_allowed)
// the block is copied into a plain ArrayBuffer and returned at once.
#pragma once

#include <napi.h>

#include <cstddef>

namespace hvd::binding {

// Takes ownership of `data`, a GlobalPool() block of at least `size` bytes.
// `deferred_ok`: a Node-API finalizer that waits for the event loop is
// acceptable (Promise results); Sync results copy instead when the V8 path
// is unavailable.
Napi::ArrayBuffer PoolArrayBuffer(Napi::Env env, void* data, size_t size, bool deferred_ok);

// An ArrayBuffer of `bytes` on pool memory (zero-filled when `zero`), or,
// when the pool has no room or bytes is below its minimum, an ordinary one
// (zero-filled, or uninitialized V8 memory when !zero).
Napi::ArrayBuffer NewHvdArrayBuffer(Napi::Env env, size_t bytes, bool zero);

}  // namespace hvd::binding
