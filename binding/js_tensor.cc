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
  if (!value.IsTypedArray()) {
    throw Napi::TypeError::New(env, std::string(arg) + " must be a TypedArray");
  }
  auto ta = value.As<Napi::TypedArray>();
  if (!Compatible(ta.TypedArrayType(), dtype)) {
    throw Napi::TypeError::New(env, std::string(arg) + " does not hold " +
                                        core::DataTypeName(dtype) + " elements");
  }
  napi_value buffer_value = nullptr;
  napi_get_typedarray_info(env, ta, nullptr, nullptr, nullptr, &buffer_value, nullptr);
  bool is_ab = false;
  napi_is_arraybuffer(env, buffer_value, &is_ab);
  if (!is_ab) {
    throw Napi::TypeError::New(env, std::string(arg) +
                                        " is backed by a SharedArrayBuffer; hvd needs memory "
                                        "no other thread writes while the collective runs");
  }
  Napi::ArrayBuffer ab(env, buffer_value);
  if (ab.IsDetached()) {
    throw Napi::TypeError::New(env, std::string(arg) + " is backed by a detached ArrayBuffer");
  }
  JsTensor t;
  t.dtype = dtype;
  t.length = ta.ElementLength();
  t.byte_length = ta.ByteLength();
  t.data = static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset();
  return t;
}

}  // namespace hvd::binding
