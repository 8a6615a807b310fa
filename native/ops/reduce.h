// Local elementwise kernels on raw buffers: scaling (prescale/postscale,
// average) and reduction of one buffer into another (used by the ring
// algorithm and by fp16 MPI ops). Integer scaling is done in double and
// truncated toward zero, as Horovod does.
#pragma once

#include <cstdint>

#include "../common.h"

namespace hvd::core {

// buf[i] *= factor
void ScaleBuffer(DataType dtype, void* buf, int64_t count, double factor);
// dst[i] = src[i] * factor (dst and src may be the same buffer)
void ScaleCopy(DataType dtype, void* dst, const void* src, int64_t count, double factor);
// acc[i] = acc[i] (op) in[i]; average reduces as sum.
void ReduceInto(DataType dtype, ReduceOp op, void* acc, const void* in, int64_t count);

// IEEE 754 binary16 conversions, round-to-nearest-even.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
void FloatToHalfArray(const float* src, uint16_t* dst, int64_t count);
void HalfToFloatArray(const uint16_t* src, float* dst, int64_t count);

}  // namespace hvd::core
