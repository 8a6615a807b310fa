#include "js_tensor.h"

namespace hvd::binding {
namespace {

bool Compatible(napi_typedarray_type t, core::DataType d) {
  using core::DataType;
  switch (t) {
    case napi_int8_array: return d == DataType::kInt8;
    case napi_uint8_array: return d == DataType::kUint8 || d == DataType::kBool;
    case napi_uint8_clamped_array: return d == DataType::kUint8;
    case napi_int16_array: return d == DataType::kInt16;
    case napi_uint16_array: return d == DataType::kUint16 || d == DataType::kFloat16;
    case napi_int32_array: return d == DataType::kInt32;
    case napi_uint32_array: return d == DataType::kUint32;
    case napi_float32_array: return d == DataType::kFloat32;
    case napi_float64_array: return d == DataType::kFloat64;
    case napi_bigint64_array: return d == DataType::kInt64;
    case napi_biguint64_array: return d == DataType::kUint64;
  }
  return false;
}

}  // namespace

JsTensor ToJsTensor(Napi::Env env, Napi::Value value, core::DataType dtype, const char* arg) {
  bool is_typed = false;
  napi_is_typedarray(env, value, &is_typed);
  if (!is_typed) {
    throw Napi::TypeError::New(env, std::string(arg) + " must be a TypedArray");
  }
  // One query for everything (each Napi::TypedArray accessor is a call of
  // its own; this runs twice per small collective).
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer_value = nullptr;
  size_t byte_offset = 0;
  napi_get_typedarray_info(env, value, &type, &length, &data, &buffer_value, &byte_offset);
  if (!Compatible(type, dtype)) {
    throw Napi::TypeError::New(env, std::string(arg) + " does not hold " +
                                        core::DataTypeName(dtype) + " elements");
  }
  bool is_ab = false;
  napi_is_arraybuffer(env, buffer_value, &is_ab);
  if (!is_ab) {
    throw Napi::TypeError::New(env, std::string(arg) +
                                        " is backed by a SharedArrayBuffer; hvd needs memory "
                                        "no other thread writes while the collective runs");
  }
  bool detached = false;
  napi_is_detached_arraybuffer(env, buffer_value, &detached);
  if (detached) {
    throw Napi::TypeError::New(env, std::string(arg) + " is backed by a detached ArrayBuffer");
  }
  JsTensor t;
  t.dtype = dtype;
  t.length = length;
  t.byte_length = length * core::DataTypeSize(dtype);  // Compatible: the element size is the dtype's
  t.data = data;  // napi_get_typedarray_info adds the byte offset
  return t;
}

}  // namespace hvd::binding
