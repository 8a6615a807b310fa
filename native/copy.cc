#include "copy.h"

#include <cstdint>
#include <cstring>

namespace hvd::core {
namespace {
// The measured window (copy.h): sizes from glibc's rep movsb threshold to
// below 512 KiB, with the destination 1-31 bytes past the source modulo 4 KiB.
constexpr size_t kMinBytes = 2112;
constexpr size_t kMaxBytes = size_t{512} << 10;
constexpr size_t kChunk = 2048;  // below kMinBytes: glibc's vector loop
}  // namespace

bool CopyIsAliased(const void* dst, const void* src, size_t n) {
  if (n < kMinBytes || n >= kMaxBytes) return false;
  const uintptr_t d = reinterpret_cast<uintptr_t>(dst) - reinterpret_cast<uintptr_t>(src);
  const uintptr_t m = d & 4095;
  return m >= 1 && m <= 31;
}

void CopyBytes(void* dst, const void* src, size_t n) {
  if (!CopyIsAliased(dst, src, n)) {
    if (n) std::memcpy(dst, src, n);
    return;
  }
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  for (; n >= kChunk; n -= kChunk, d += kChunk, s += kChunk) std::memcpy(d, s, kChunk);
  if (n) std::memcpy(d, s, n);
}

void MoveBytes(void* dst, const void* src, size_t n) {
  const auto d = reinterpret_cast<uintptr_t>(dst), s = reinterpret_cast<uintptr_t>(src);
  if (d < s + n && s < d + n) {
    std::memmove(dst, src, n);
  } else {
    CopyBytes(dst, src, n);
  }
}

}  // namespace hvd::core
