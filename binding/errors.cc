#include "errors.h"

namespace hvd::binding {

const char* StatusCode(core::StatusType type) {
  switch (type) {
    case core::StatusType::kOk: return "HVD_OK";
    case core::StatusType::kInvalidArgument: return "HVD_INVALID_ARGUMENT";
    case core::StatusType::kPrecondition: return "HVD_MISMATCH";
    case core::StatusType::kDuplicateName: return "HVD_DUPLICATE_NAME";
    case core::StatusType::kShutDown: return "HVD_SHUT_DOWN";
    case core::StatusType::kNotInitialized: return "HVD_NOT_INITIALIZED";
    case core::StatusType::kMpiError: return "HVD_MPI_ERROR";
    case core::StatusType::kAborted: return "HVD_ABORTED";
    case core::StatusType::kInternal: return "HVD_INTERNAL";
    case core::StatusType::kTimedOut: return "HVD_START_TIMEOUT";
  }
  return "HVD_INTERNAL";
}

Napi::Error StatusToJsError(Napi::Env env, const core::Status& status) {
  Napi::Error err = Napi::Error::New(env, status.reason());
  err.Set("code", Napi::String::New(env, StatusCode(status.type())));
  return err;
}

}  // namespace hvd::binding
