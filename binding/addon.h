// Per-environment state of the addon and the JS-callable entry points.
// MPI is per process, so only one environment (the first to load the
// addon) may use it; others get a clear error at require time.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "completion.h"
#include "engine.h"

namespace hvd::binding {

class HvdAddon : public Napi::Addon<HvdAddon> {
 public:
  HvdAddon(Napi::Env env, Napi::Object exports);

  CompletionQueue* completion() { return completion_.get(); }
  // HorovodError (src/errors.ts), handed over once by setErrorConstructor.
  const Napi::FunctionReference& error_constructor() const { return error_constructor_; }

 private:
  Napi::Value JsInit(const Napi::CallbackInfo& info);
  Napi::Value JsShutdown(const Napi::CallbackInfo& info);
  Napi::Value JsIsInitialized(const Napi::CallbackInfo& info);
  Napi::Value JsTopology(const Napi::CallbackInfo& info);
  Napi::Value JsBuildInfo(const Napi::CallbackInfo& info);
  Napi::Value JsStats(const Napi::CallbackInfo& info);
  Napi::Value JsCodes(const Napi::CallbackInfo& info);
  Napi::Value JsSetErrorConstructor(const Napi::CallbackInfo& info);
  Napi::Value JsAbort(const Napi::CallbackInfo& info);
  Napi::Value JsEnqueue(const Napi::CallbackInfo& info);
  Napi::Value JsEnqueueOne(const Napi::CallbackInfo& info);
  // What enqueue and enqueueOne read, however they were passed.
  struct ItemArgs {
    Napi::Value name, input, output, dtype, shape, splits;
  };
  struct CallArgs {
    Napi::Value op, root, prescale, postscale, process_set, group;
  };
  Napi::Value Submit(Napi::Env env, Napi::Value kind, const std::vector<ItemArgs>& items, const CallArgs& opts,
                     bool blocking);
  std::shared_ptr<PendingCall> NewCall(size_t n, bool blocking);
  Napi::Value JsAllocBuffer(const Napi::CallbackInfo& info);
  Napi::Value JsFloat32ToFloat16(const Napi::CallbackInfo& info);
  Napi::Value JsFloat16ToFloat32(const Napi::CallbackInfo& info);

  std::unique_ptr<CompletionQueue> completion_;
  // The last Sync call's PendingCall, for the next to reuse (NewCall).
  std::shared_ptr<PendingCall> spare_sync_;
  // A Sync call's result when its one entry returns nothing (frozen).
  Napi::Reference<Napi::Array> none_result_;
  Napi::FunctionReference error_constructor_;
  // enqueue()'s property names, made once and kept in an array (Node-API
  // before 10 cannot reference a string itself): a Get by a kept string
  // skips the UTF-8 decode and string-table lookup of each Get("name")
  // (about 2 us of a 4-byte allreduceSync).
  enum Key { kName, kDtype, kShape, kSplits, kInput, kOutput, kOp, kRoot, kPrescale, kPostscale, kProcessSet, kGroup, kNumKeys };
  Napi::ObjectReference keys_;
  // The process's engine. Deliberately never destroyed: the environment's
  // cleanup hook and process exit may still use it after the addon is gone.
  core::Engine* engine_ = new core::Engine();
  bool cleanup_registered_ = false;
};

}  // namespace hvd::binding
