// Views a JS TypedArray as raw memory for the engine, with the checks the
// engine relies on: attached, not shared, and of the dtype the caller claims.
#pragma once

#include <napi.h>

#include <string>

#include "common.h"

namespace hvd::binding {

struct JsTensor {
  void* data = nullptr;
  size_t byte_length = 0;
  size_t length = 0;
  core::DataType dtype = core::DataType::kFloat32;
};

// Throws a Napi TypeError naming `arg` if `value` is not a usable TypedArray
// whose element type can carry `dtype`.
JsTensor ToJsTensor(Napi::Env env, Napi::Value value, core::DataType dtype, const char* arg);

}  // namespace hvd::binding
