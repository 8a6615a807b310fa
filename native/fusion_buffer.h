// The staging buffer that several small allreduces are packed into so they
// travel as one MPI message. Grows on demand up to the fusion threshold and
// is reused across responses; only the engine thread touches it. The memory
// comes from hvd's pool (huge pages) when it has room, else posix_memalign.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvd::core {

class FusionBuffer {
 public:
  FusionBuffer() = default;
  ~FusionBuffer();
  FusionBuffer(const FusionBuffer&) = delete;
  FusionBuffer& operator=(const FusionBuffer&) = delete;

  // Returns a 64-byte aligned block of at least `bytes`; contents undefined.
  void* Get(size_t bytes);
  size_t capacity() const { return capacity_; }

 private:
  void Release();
  void* data_ = nullptr;
  size_t capacity_ = 0;
  bool pooled_ = false;
};

}  // namespace hvd::core
