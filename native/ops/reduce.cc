#include "reduce.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../copy.h"

namespace hvd::core {
namespace {

template <typename T>
void FromDoubleT(T* dst, const double* src, int64_t n, double f);

template <typename T>
void ScaleCopyT(T* dst, const T* src, int64_t n, double f) {
  if constexpr (std::is_floating_point_v<T>) {
    const T ff = static_cast<T>(f);
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i] * ff;
  } else {
    // Not used by the allreduce engine for integers (it applies the
    // scale-in-double, round-once rule of reduce.h); same rounding here.
    for (int64_t i = 0; i < n; ++i) {
      double d = static_cast<double>(src[i]);
      FromDoubleT(dst + i, &d, 1, f);
    }
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
      if constexpr (std::is_floating_point_v<T>) {
        // NaN wins (see reduce.h): `in < acc` is false when either is NaN,
        // so a NaN in `in` must be taken explicitly; one in acc stays.
        for (int64_t i = 0; i < n; ++i) acc[i] = (in[i] < acc[i] || in[i] != in[i]) ? in[i] : acc[i];
      } else {
        for (int64_t i = 0; i < n; ++i) acc[i] = in[i] < acc[i] ? in[i] : acc[i];
      }
      break;
    case ReduceOp::kMax:
      if constexpr (std::is_floating_point_v<T>) {
        for (int64_t i = 0; i < n; ++i) acc[i] = (in[i] > acc[i] || in[i] != in[i]) ? in[i] : acc[i];
      } else {
        for (int64_t i = 0; i < n; ++i) acc[i] = in[i] > acc[i] ? in[i] : acc[i];
      }
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
      case ReduceOp::kMin: r = (b < a || b != b) ? b : a; break;  // NaN wins
      case ReduceOp::kMax: r = (b > a || b != b) ? b : a; break;
      case ReduceOp::kProduct: r = a * b; break;
    }
    acc[i] = FloatToHalf(r);
  }
}

template <typename T>
void ToDoubleT(double* dst, const T* src, int64_t n, double f) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<double>(src[i]) * f;
}

// round half to even, then clamp to T's range; NaN (only from a NaN factor,
// which the TS layer rejects) becomes 0.
template <typename T>
void FromDoubleT(T* dst, const double* src, int64_t n, double f) {
  // The bounds as doubles: lo is exact; hi may round up to 2^bits (64-bit
  // types), so compare with >= and return max itself.
  constexpr double lo = static_cast<double>(std::numeric_limits<T>::min());
  constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
  for (int64_t i = 0; i < n; ++i) {
    double v = std::nearbyint(src[i] * f);  // the default mode: to nearest, ties to even
    if (!(v == v)) dst[i] = 0;
    else if (v <= lo) dst[i] = std::numeric_limits<T>::min();
    else if (v >= hi) dst[i] = std::numeric_limits<T>::max();
    else dst[i] = static_cast<T>(v);
  }
}

}  // namespace

bool IsIntegerType(DataType dtype) {
  switch (dtype) {
    case DataType::kUint8:
    case DataType::kInt8:
    case DataType::kUint16:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kUint32:
    case DataType::kInt64:
    case DataType::kUint64:
      return true;
    default:
      return false;
  }
}

#define HVD_DISPATCH_INT(FN, DST, SRC)                                                        \
  switch (dtype) {                                                                            \
    case DataType::kUint8: FN(DST(uint8_t), SRC(uint8_t), count, factor); return;             \
    case DataType::kInt8: FN(DST(int8_t), SRC(int8_t), count, factor); return;                \
    case DataType::kUint16: FN(DST(uint16_t), SRC(uint16_t), count, factor); return;          \
    case DataType::kInt16: FN(DST(int16_t), SRC(int16_t), count, factor); return;             \
    case DataType::kInt32: FN(DST(int32_t), SRC(int32_t), count, factor); return;             \
    case DataType::kUint32: FN(DST(uint32_t), SRC(uint32_t), count, factor); return;          \
    case DataType::kInt64: FN(DST(int64_t), SRC(int64_t), count, factor); return;             \
    case DataType::kUint64: FN(DST(uint64_t), SRC(uint64_t), count, factor); return;          \
    default: return;                                                                          \
  }

void ScaleToDouble(DataType dtype, double* dst, const void* src, int64_t count, double factor) {
#define HVD_DST(T) dst
#define HVD_SRC(T) static_cast<const T*>(src)
  HVD_DISPATCH_INT(ToDoubleT, HVD_DST, HVD_SRC)
#undef HVD_DST
#undef HVD_SRC
}

void ScaleFromDouble(DataType dtype, void* dst, const double* src, int64_t count, double factor) {
#define HVD_DST(T) static_cast<T*>(dst)
#define HVD_SRC(T) src
  HVD_DISPATCH_INT(FromDoubleT, HVD_DST, HVD_SRC)
#undef HVD_DST
#undef HVD_SRC
}
#undef HVD_DISPATCH_INT

#define HVD_DISPATCH_SCALE(TYPE, CTYPE) \
  case DataType::TYPE:                  \
    ScaleCopyT(static_cast<CTYPE*>(dst), static_cast<const CTYPE*>(src), count, factor); \
    return;

void ScaleCopy(DataType dtype, void* dst, const void* src, int64_t count, double factor) {
  if (count <= 0) return;  // empty tensors may come with null pointers
  if (factor == 1.0) {
    if (dst != src) MoveBytes(dst, src, static_cast<size_t>(count) * DataTypeSize(dtype));
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
      if (dst != src) MoveBytes(dst, src, static_cast<size_t>(count));
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
