// The copy glibc gets slow at (native/copy.h): memcpy against hvd's
// CopyBytes for sizes around glibc's rep movsb band, with the destination
// at a few offsets past the source modulo 4 KiB (0 and 64: outside the
// window; 8 and 16: inside it, 16 being where two back-to-back malloc'd
// arrays land). One JSON object per line: {"bytes","offset","memcpy_us","hvd_us"}.
// Built and run by `npm run bench` (scripts/bench.js):
//   g++ -O2 -Inative bench/c/copy_bench.cc native/copy.cc -o build/bench/copy_bench
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "copy.h"

namespace {
double Time(void (*fn)(void*, const void*, size_t), unsigned char* d, const unsigned char* s, size_t n, int reps) {
  fn(d, s, n);
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) fn(d, s, n);
    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
    if (us < best) best = us;
  }
  return best;
}
void Libc(void* d, const void* s, size_t n) { std::memcpy(d, s, n); }
void Hvd(void* d, const void* s, size_t n) { hvd::core::CopyBytes(d, s, n); }
}  // namespace

int main() {
  const size_t cap = size_t{4} << 20;
  auto* src = static_cast<unsigned char*>(std::aligned_alloc(4096, cap));
  auto* dst = static_cast<unsigned char*>(std::aligned_alloc(4096, cap + 8192));
  if (!src || !dst) return 1;
  std::memset(src, 1, cap);
  std::memset(dst, 2, cap + 8192);
  const size_t sizes[] = {4096, 65536, 262144, 1048576};
  const size_t offsets[] = {0, 8, 16, 64};
  for (size_t n : sizes) {
    const int reps = n <= 65536 ? 2000 : 100;
    for (size_t off : offsets) {
      const double libc = Time(Libc, dst + 4096 + off, src, n, reps);
      const double hvd = Time(Hvd, dst + 4096 + off, src, n, reps);
      std::printf("{\"bytes\":%zu,\"offset\":%zu,\"memcpy_us\":%.4f,\"hvd_us\":%.4f}\n", n, off, libc, hvd);
    }
  }
  return 0;
}
