#include "fusion_buffer.h"

#include <cstdlib>
#include <new>

namespace hvd::core {

FusionBuffer::~FusionBuffer() { std::free(data_); }

void* FusionBuffer::Get(size_t bytes) {
  if (bytes <= capacity_ && data_ != nullptr) return data_;
  std::free(data_);
  data_ = nullptr;
  capacity_ = 0;
  size_t want = (bytes + 63) / 64 * 64;
  if (want == 0) want = 64;
  if (posix_memalign(&data_, 64, want) != 0) throw std::bad_alloc();
  capacity_ = want;
  return data_;
}

}  // namespace hvd::core
