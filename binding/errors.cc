#include "errors.h"

#include "addon.h"

namespace hvd::binding {

Napi::Error StatusToJsError(Napi::Env env, const core::Status& status) {
  auto* addon = env.GetInstanceData<HvdAddon>();
  if (addon != nullptr && !addon->error_constructor().IsEmpty()) {
    Napi::Object e = addon->error_constructor().New(
        {Napi::String::New(env, status.reason()), Napi::String::New(env, core::StatusCode(status.type()))});
    return Napi::Error(env, e);
  }
  Napi::Error err = Napi::Error::New(env, status.reason());
  err.Set("code", Napi::String::New(env, core::StatusCode(status.type())));
  return err;
}

}  // namespace hvd::binding
