// CopyBytes and MoveBytes (native/copy.h): byte-exact for every size class
// and every source/destination offset modulo 4 KiB around the window where
// they leave memcpy, overlapping moves included; nothing outside the
// destination range is written.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "copy.h"

using namespace hvd::core;

namespace {

struct Aligned {
  explicit Aligned(size_t n) : p(static_cast<unsigned char*>(std::aligned_alloc(4096, n))) {}
  ~Aligned() { std::free(p); }
  unsigned char* p;
};

void Fill(unsigned char* p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>((i * 131 + seed * 7 + (i >> 8)) & 0xff);
}

const size_t kSizes[] = {0, 1, 31, 2047, 2048, 2111, 2112, 2113, 4096, 4097, 65536 + 17, (256u << 10) + 3, (512u << 10) - 1, 512u << 10, (1u << 20) + 5};
const size_t kShifts[] = {0, 1, 8, 16, 31, 32, 33, 4064, 4095};

}  // namespace

TEST(Copy, AliasedWindowIsTheMeasuredOne) {
  Aligned a(1 << 20);
  EXPECT_FALSE(CopyIsAliased(a.p + 4096, a.p, 4096));       // same offset in the page
  EXPECT_TRUE(CopyIsAliased(a.p + 4096 + 1, a.p, 4096));
  EXPECT_TRUE(CopyIsAliased(a.p + 16, a.p + 8192, 4096));   // modulo 4 KiB, either order in memory
  EXPECT_TRUE(CopyIsAliased(a.p + 4096 + 31, a.p, 2112));
  EXPECT_FALSE(CopyIsAliased(a.p + 4096 + 32, a.p, 4096));
  EXPECT_FALSE(CopyIsAliased(a.p + 4096 - 16, a.p, 4096));  // destination behind the source
  EXPECT_FALSE(CopyIsAliased(a.p + 4096 + 16, a.p, 2111));  // below glibc's rep movsb threshold
  EXPECT_FALSE(CopyIsAliased(a.p + 4096 + 16, a.p, 512 << 10));
}

TEST(Copy, CopyBytesIsMemcpyAtEveryOffset) {
  const size_t cap = (1u << 20) + 16384;
  Aligned src(cap), dst(cap + 8192), want(cap + 8192);
  for (size_t n : kSizes) {
    for (size_t shift : kShifts) {
      Fill(src.p, n + 64, static_cast<unsigned>(n + shift));
      std::memset(dst.p, 0xa5, n + shift + 64);
      std::memset(want.p, 0xa5, n + shift + 64);
      std::memcpy(want.p + shift, src.p + 3, n);
      CopyBytes(dst.p + shift, src.p + 3, n);
      ASSERT_EQ(0, std::memcmp(dst.p, want.p, n + shift + 64)) << "n=" << n << " shift=" << shift;
    }
  }
}

TEST(Copy, MoveBytesHandlesOverlapBothWays) {
  const size_t cap = (1u << 20) + 16384;
  Aligned buf(cap), want(cap);
  for (size_t n : kSizes) {
    for (size_t shift : kShifts) {
      if (n + shift + 64 > cap) continue;
      for (int forward = 0; forward < 2; ++forward) {
        Fill(buf.p, n + shift + 64, static_cast<unsigned>(n ^ shift));
        std::memcpy(want.p, buf.p, n + shift + 64);
        unsigned char* d = forward ? buf.p + shift : buf.p;
        unsigned char* s = forward ? buf.p : buf.p + shift;
        std::memmove(want.p + (d - buf.p), want.p + (s - buf.p), n);
        MoveBytes(d, s, n);
        ASSERT_EQ(0, std::memcmp(buf.p, want.p, n + shift + 64)) << "n=" << n << " shift=" << shift << " forward=" << forward;
      }
    }
  }
}
