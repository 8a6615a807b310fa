// Local elementwise kernels on raw buffers: scaling (prescale/postscale,
// average) and reduction of one buffer into another (used by the ring
// algorithm and by the custom MPI ops).
//
// Floating-point min/max: NaN wins. If any rank holds NaN at a position, the
// result there is NaN on every rank, whatever order the ranks are combined
// in (a plain `a < b ? a : b` keeps or drops the NaN depending on which side
// it arrives on, so the ring and MPI's tree gave rank-order-dependent
// answers).
//
// Integer scaling (prescale/postscale on an integer allreduce, and average's
// 1/n when the engine is asked for it): one rule for every integer dtype,
// applied by the allreduce and reducescatter ops (ops/allreduce_op.cc,
// ops/reducescatter_op.cc): each rank's values are
// converted to double and multiplied by prescale (ScaleToDouble), the
// reduction runs in double, and the result is multiplied by postscale and
// converted back once (ScaleFromDouble): rounded to nearest, ties to even,
// and saturated to the type's range. So Int32Array([3]) summed over 2 ranks
// with prescale 0.5 gives round(0.5*3 + 0.5*3) = 3, not 1 + 1 = 2.
// Exact for 8-, 16- and 32-bit integers; 64-bit values above 2^53 in
// magnitude are rounded to double like any float scaling.
#pragma once

#include <cstdint>

#include "../common.h"

namespace hvd::core {

// buf[i] *= factor
void ScaleBuffer(DataType dtype, void* buf, int64_t count, double factor);
// dst[i] = src[i] * factor (dst and src may be the same buffer)
void ScaleCopy(DataType dtype, void* dst, const void* src, int64_t count, double factor);
// dst[i] = double(src[i]) * factor, for an integer dtype.
void ScaleToDouble(DataType dtype, double* dst, const void* src, int64_t count, double factor);
// dst[i] = saturate(round_half_even(src[i] * factor)), for an integer dtype.
void ScaleFromDouble(DataType dtype, void* dst, const double* src, int64_t count, double factor);
// True for the integer dtypes (not bool, not floating point).
bool IsIntegerType(DataType dtype);
// acc[i] = acc[i] (op) in[i]; average reduces as sum.
void ReduceInto(DataType dtype, ReduceOp op, void* acc, const void* in, int64_t count);

// IEEE 754 binary16 conversions, round-to-nearest-even.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
void FloatToHalfArray(const float* src, uint16_t* dst, int64_t count);
void HalfToFloatArray(const uint16_t* src, float* dst, int64_t count);

}  // namespace hvd::core
