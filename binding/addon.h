// Per-environment state of the addon and the JS-callable entry points.
// MPI is per process, so only one environment (the first to load the
// addon) may use it; others get a clear error at require time.
#pragma once

#include <napi.h>

#include <memory>

#include "completion.h"

namespace hvd::binding {

class HvdAddon : public Napi::Addon<HvdAddon> {
 public:
  HvdAddon(Napi::Env env, Napi::Object exports);

  CompletionQueue* completion() { return completion_.get(); }

 private:
  Napi::Value JsInit(const Napi::CallbackInfo& info);
  Napi::Value JsShutdown(const Napi::CallbackInfo& info);
  Napi::Value JsIsInitialized(const Napi::CallbackInfo& info);
  Napi::Value JsTopology(const Napi::CallbackInfo& info);
  Napi::Value JsBuildInfo(const Napi::CallbackInfo& info);
  Napi::Value JsStats(const Napi::CallbackInfo& info);
  Napi::Value JsAbort(const Napi::CallbackInfo& info);
  Napi::Value JsEnqueue(const Napi::CallbackInfo& info);
  Napi::Value JsFloat32ToFloat16(const Napi::CallbackInfo& info);
  Napi::Value JsFloat16ToFloat32(const Napi::CallbackInfo& info);

  std::unique_ptr<CompletionQueue> completion_;
  bool cleanup_registered_ = false;
};

}  // namespace hvd::binding
