#include "fusion_buffer.h"

#include <cstdlib>
#include <new>

#include "pool.h"

namespace hvd::core {

FusionBuffer::~FusionBuffer() { Release(); }

void FusionBuffer::Release() {
  if (pooled_) GlobalPool().Free(data_);
  else std::free(data_);
  data_ = nullptr;
  capacity_ = 0;
  pooled_ = false;
}

void* FusionBuffer::Get(size_t bytes) {
  if (bytes <= capacity_ && data_ != nullptr) return data_;
  Release();
  size_t want = (bytes + 63) / 64 * 64;
  if (want == 0) want = 64;
  // hvd's pool first: huge pages, and the block stays warm across responses.
  if (void* p = GlobalPool().Allocate(want)) {
    data_ = p;
    capacity_ = GlobalPool().ClassSize(want);
    pooled_ = true;
    return data_;
  }
  if (posix_memalign(&data_, 64, want) != 0) throw std::bad_alloc();
  capacity_ = want;
  return data_;
}

}  // namespace hvd::core
