#include "reduce.h"

#include <cmath>
#include <cstring>

namespace hvd::core {
namespace {

template <typename T>
void ScaleCopyT(T* dst, const T* src, int64_t n, double f) {
  if constexpr (std::is_floating_point_v<T>) {
    const T ff = static_cast<T>(f);
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i] * ff;
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(static_cast<double>(src[i]) * f);
  }
}

void ScaleCopyHalf(uint16_t* dst, const uint16_t* src, int64_t n, double f) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = FloatToHalf(static_cast<float>(HalfToFloat(src[i]) * f));
}

template <typename T>
void ReduceT(ReduceOp op, T* acc, const T* in, int64_t n) {
  switch (op) {
    case ReduceOp::kAverage:
    case ReduceOp::kSum:
      for (int64_t i = 0; i < n; ++i) acc[i] = static_cast<T>(acc[i] + in[i]);
      break;
    case ReduceOp::kMin:
      for (int64_t i = 0; i < n; ++i) acc[i] = in[i] < acc[i] ? in[i] : acc[i];
      break;
    case ReduceOp::kMax:
      for (int64_t i = 0; i < n; ++i) acc[i] = in[i] > acc[i] ? in[i] : acc[i];
      break;
    case ReduceOp::kProduct:
      for (int64_t i = 0; i < n; ++i) acc[i] = static_cast<T>(acc[i] * in[i]);
      break;
  }
}

void ReduceBool(ReduceOp op, uint8_t* acc, const uint8_t* in, int64_t n) {
  // sum and max are "any", min and product are "all".
  if (op == ReduceOp::kMin || op == ReduceOp::kProduct) {
    for (int64_t i = 0; i < n; ++i) acc[i] = (acc[i] && in[i]) ? 1 : 0;
  } else {
    for (int64_t i = 0; i < n; ++i) acc[i] = (acc[i] || in[i]) ? 1 : 0;
  }
}

void ReduceHalf(ReduceOp op, uint16_t* acc, const uint16_t* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float a = HalfToFloat(acc[i]), b = HalfToFloat(in[i]);
    float r = a;
    switch (op) {
      case ReduceOp::kAverage:
      case ReduceOp::kSum: r = a + b; break;
      case ReduceOp::kMin: r = b < a ? b : a; break;
      case ReduceOp::kMax: r = b > a ? b : a; break;
      case ReduceOp::kProduct: r = a * b; break;
    }
    acc[i] = FloatToHalf(r);
  }
}

}  // namespace

#define HVD_DISPATCH_SCALE(TYPE, CTYPE) \
  case DataType::TYPE:                  \
    ScaleCopyT(static_cast<CTYPE*>(dst), static_cast<const CTYPE*>(src), count, factor); \
    return;

void ScaleCopy(DataType dtype, void* dst, const void* src, int64_t count, double factor) {
  if (factor == 1.0) {
    if (dst != src) std::memmove(dst, src, static_cast<size_t>(count) * DataTypeSize(dtype));
    return;
  }
  switch (dtype) {
    HVD_DISPATCH_SCALE(kUint8, uint8_t)
    HVD_DISPATCH_SCALE(kInt8, int8_t)
    HVD_DISPATCH_SCALE(kUint16, uint16_t)
    HVD_DISPATCH_SCALE(kInt16, int16_t)
    HVD_DISPATCH_SCALE(kInt32, int32_t)
    HVD_DISPATCH_SCALE(kUint32, uint32_t)
    HVD_DISPATCH_SCALE(kInt64, int64_t)
    HVD_DISPATCH_SCALE(kUint64, uint64_t)
    HVD_DISPATCH_SCALE(kFloat32, float)
    HVD_DISPATCH_SCALE(kFloat64, double)
    case DataType::kFloat16:
      ScaleCopyHalf(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), count, factor);
      return;
    case DataType::kBool:
      // Scaling a boolean has no meaning; TS rejects it before it gets here.
      if (dst != src) std::memmove(dst, src, static_cast<size_t>(count));
      return;
  }
}
#undef HVD_DISPATCH_SCALE

void ScaleBuffer(DataType dtype, void* buf, int64_t count, double factor) {
  if (factor != 1.0) ScaleCopy(dtype, buf, buf, count, factor);
}

#define HVD_DISPATCH_REDUCE(TYPE, CTYPE) \
  case DataType::TYPE:                   \
    ReduceT(op, static_cast<CTYPE*>(acc), static_cast<const CTYPE*>(in), count); \
    return;

void ReduceInto(DataType dtype, ReduceOp op, void* acc, const void* in, int64_t count) {
  switch (dtype) {
    HVD_DISPATCH_REDUCE(kUint8, uint8_t)
    HVD_DISPATCH_REDUCE(kInt8, int8_t)
    HVD_DISPATCH_REDUCE(kUint16, uint16_t)
    HVD_DISPATCH_REDUCE(kInt16, int16_t)
    HVD_DISPATCH_REDUCE(kInt32, int32_t)
    HVD_DISPATCH_REDUCE(kUint32, uint32_t)
    HVD_DISPATCH_REDUCE(kInt64, int64_t)
    HVD_DISPATCH_REDUCE(kUint64, uint64_t)
    HVD_DISPATCH_REDUCE(kFloat32, float)
    HVD_DISPATCH_REDUCE(kFloat64, double)
    case DataType::kFloat16:
      ReduceHalf(op, static_cast<uint16_t*>(acc), static_cast<const uint16_t*>(in), count);
      return;
    case DataType::kBool:
      ReduceBool(op, static_cast<uint8_t*>(acc), static_cast<const uint8_t*>(in), count);
      return;
  }
}
#undef HVD_DISPATCH_REDUCE

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mant = x & 0x007fffffu;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xffu);
  if (exp == 0xff) {  // inf or NaN (keep NaN quiet and non-zero)
    return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
  }
  int32_t e = exp - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);  // underflow -> signed zero
    mant |= 0x00800000u;                               // make the implicit bit explicit
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into exp: correct
  return static_cast<uint16_t>(half);
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalize
      int32_t e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

void FloatToHalfArray(const float* src, uint16_t* dst, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dst[i] = FloatToHalf(src[i]);
}

void HalfToFloatArray(const uint16_t* src, float* dst, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dst[i] = HalfToFloat(src[i]);
}

}  // namespace hvd::core
