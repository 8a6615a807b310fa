#include "errors.h"

namespace hvd::binding {

Napi::Error StatusToJsError(Napi::Env env, const core::Status& status) {
  Napi::Error err = Napi::Error::New(env, status.reason());
  err.Set("code", Napi::String::New(env, core::StatusCode(status.type())));
  return err;
}

}  // namespace hvd::binding
