// hvd's memory pool (native/pool.h): blocks are reused after Free, the cap
// is never exceeded (cached blocks are released first, then Allocate falls
// back), blocks are aligned and madvised, and it is safe across threads.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pool.h"

using namespace hvd::core;

namespace {
constexpr size_t KiB = 1024, MiB = 1024 * 1024;

Pool::Options Opts(size_t max_bytes) {
  Pool::Options o;
  o.max_bytes = max_bytes;
  return o;
}

bool Aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

// The VMA flags of the mapping holding p ("hg" = MADV_HUGEPAGE), from /proc/self/smaps.
std::string VmFlags(const void* p) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  bool inside = false;
  while (std::getline(f, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') != std::string::npos &&
        line.find('-') < 17) {
      inside = addr >= lo && addr < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}
}  // namespace

TEST(Pool, ClassSizes) {
  Pool pool(Opts(64 * MiB));
  EXPECT_EQ(pool.ClassSize(1), 64 * KiB);
  EXPECT_EQ(pool.ClassSize(64 * KiB), 64 * KiB);
  EXPECT_EQ(pool.ClassSize(64 * KiB + 1), 128 * KiB);
  EXPECT_EQ(pool.ClassSize(MiB), MiB);
  EXPECT_EQ(pool.ClassSize(MiB + 1), 2 * MiB);
  EXPECT_EQ(pool.ClassSize(4 * MiB), 4 * MiB);
  EXPECT_EQ(pool.ClassSize(4 * MiB + 1), 6 * MiB);
  EXPECT_EQ(pool.ClassSize(16 * MiB), 16 * MiB);
  EXPECT_EQ(pool.ClassSize(17 * MiB), 20 * MiB);
  for (size_t b : {65 * KiB, 3 * MiB, 9 * MiB + 7, 100 * MiB + 1}) {
    const size_t c = pool.ClassSize(b);
    EXPECT_GE(c, b);
    if (b > 2 * MiB) EXPECT_LE(c, b + b / 4 + 2 * MiB) << b;
  }
}

TEST(Pool, BelowMinimumIsNotServed) {
  Pool pool(Opts(64 * MiB));
  EXPECT_EQ(pool.Allocate(64 * KiB - 1), nullptr);
  EXPECT_EQ(pool.stats().fallbacks, 0u);  // not a fallback: small requests are not the pool's
  EXPECT_EQ(pool.stats().misses, 0u);
}

TEST(Pool, AlignmentAndHugePageAdvice) {
  Pool pool(Opts(64 * MiB));
  void* big = pool.Allocate(4 * MiB);
  ASSERT_NE(big, nullptr);
  EXPECT_TRUE(Aligned(big, Pool::kHugePage));
  void* small = pool.Allocate(100 * KiB);
  ASSERT_NE(small, nullptr);
  EXPECT_TRUE(Aligned(small, 128 * KiB));  // carved at class offsets out of a 2 MiB-aligned chunk
  std::memset(big, 1, 4 * MiB);
  std::memset(small, 2, 100 * KiB);
#ifdef MADV_HUGEPAGE
  EXPECT_NE(VmFlags(big).find(" hg"), std::string::npos) << VmFlags(big);
  EXPECT_NE(VmFlags(small).find(" hg"), std::string::npos) << VmFlags(small);
#endif
  EXPECT_TRUE(pool.Free(big));
  EXPECT_TRUE(pool.Free(small));
}

TEST(Pool, ReuseAfterFree) {
  Pool pool(Opts(64 * MiB));
  void* a = pool.Allocate(3 * MiB);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(pool.stats().misses, 1u);
  EXPECT_EQ(pool.stats().in_use_bytes, 4 * MiB);
  EXPECT_TRUE(pool.Free(a));
  EXPECT_EQ(pool.stats().in_use_bytes, 0u);
  EXPECT_EQ(pool.stats().cached_bytes, 4 * MiB);
  void* b = pool.Allocate(4 * MiB);  // same class
  EXPECT_EQ(b, a);
  EXPECT_EQ(pool.stats().hits, 1u);
  EXPECT_EQ(pool.stats().misses, 1u);
  // Small classes: one chunk serves 2 MiB / class blocks before a second miss.
  std::vector<void*> s;
  for (int i = 0; i < 8; ++i) s.push_back(pool.Allocate(256 * KiB));
  EXPECT_EQ(pool.stats().misses, 2u);
  EXPECT_EQ(std::set<void*>(s.begin(), s.end()).size(), 8u);
  void* ninth = pool.Allocate(256 * KiB);
  EXPECT_EQ(pool.stats().misses, 3u);
  EXPECT_TRUE(pool.Free(s[3]));
  EXPECT_EQ(pool.Allocate(200 * KiB), s[3]);  // the freed block comes back first
  EXPECT_FALSE(pool.Free(reinterpret_cast<char*>(s[0]) + 64));  // not a block start
  int on_stack = 0;
  EXPECT_FALSE(pool.Free(&on_stack));
  EXPECT_FALSE(pool.Owns(&on_stack));
  EXPECT_TRUE(pool.Owns(ninth));
}

TEST(Pool, ClaimFreshIsTrueOncePerAllocation) {
  // The engine claims a large output when it is enqueued: a result array
  // allocated for the call is fresh, a reused `out` array only on its first use.
  Pool pool(Opts(64 * MiB));
  void* a = pool.Allocate(4 * MiB);
  void* s = pool.Allocate(256 * KiB);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(pool.ClaimFresh(a));
  EXPECT_FALSE(pool.ClaimFresh(a));  // used before
  EXPECT_TRUE(pool.ClaimFresh(s));   // small classes too
  EXPECT_FALSE(pool.ClaimFresh(reinterpret_cast<char*>(a) + 64));  // not a block start
  int on_stack = 0;
  EXPECT_FALSE(pool.ClaimFresh(&on_stack));  // not pool memory (a JS-heap `out`)
  // Freed and handed out again (the same block, LIFO): fresh again.
  EXPECT_TRUE(pool.Free(a));
  EXPECT_FALSE(pool.ClaimFresh(a));  // not live
  EXPECT_EQ(pool.Allocate(4 * MiB), a);
  EXPECT_TRUE(pool.ClaimFresh(a));
  // A block freed unclaimed leaves nothing behind.
  void* b = pool.Allocate(8 * MiB);
  EXPECT_TRUE(pool.Free(b));
  EXPECT_FALSE(pool.ClaimFresh(b));
}

TEST(Pool, CapIsNeverExceeded) {
  Pool pool(Opts(8 * MiB));
  void* a = pool.Allocate(4 * MiB);
  void* b = pool.Allocate(4 * MiB);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(pool.Allocate(4 * MiB), nullptr);  // full: the caller uses ordinary memory
  EXPECT_EQ(pool.stats().fallbacks, 1u);
  EXPECT_EQ(pool.Allocate(9 * MiB), nullptr);  // larger than the cap
  EXPECT_EQ(pool.stats().fallbacks, 2u);
  EXPECT_LE(pool.stats().in_use_bytes + pool.stats().cached_bytes, 8 * MiB);
  // A cached block of another class is released to make room.
  EXPECT_TRUE(pool.Free(a));
  void* c = pool.Allocate(2 * MiB);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(pool.stats().released_bytes, 4 * MiB);
  EXPECT_LE(pool.stats().in_use_bytes + pool.stats().cached_bytes, 8 * MiB);
  // Small blocks count whole chunks against the cap.
  void* d = pool.Allocate(64 * KiB);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(pool.stats().in_use_bytes + pool.stats().cached_bytes, 8 * MiB);
  EXPECT_EQ(pool.Allocate(128 * KiB), nullptr);  // would need a third chunk's 2 MiB
  // Freeing the 64 KiB block frees its whole chunk, which can then go.
  EXPECT_TRUE(pool.Free(d));
  EXPECT_NE(pool.Allocate(128 * KiB), nullptr);
  EXPECT_LE(pool.stats().in_use_bytes + pool.stats().cached_bytes, 8 * MiB);
}

TEST(Pool, ZeroCapDisablesThePool) {
  Pool pool(Opts(0));
  EXPECT_EQ(pool.Allocate(MiB), nullptr);
  EXPECT_EQ(pool.stats().fallbacks, 1u);
}

TEST(Pool, TrimReleasesCachedMemory) {
  Pool pool(Opts(64 * MiB));
  void* a = pool.Allocate(4 * MiB);
  void* b = pool.Allocate(64 * KiB);
  void* keep = pool.Allocate(MiB);
  pool.Free(a);
  pool.Free(b);
  pool.Trim();
  EXPECT_EQ(pool.stats().cached_bytes, MiB);  // the chunk holding `keep` stays, with its free half
  EXPECT_EQ(pool.stats().in_use_bytes, MiB);
  pool.Free(keep);
  pool.Trim();
  EXPECT_EQ(pool.stats().cached_bytes, 0u);
}

TEST(Pool, ThreadSafe) {
  Pool pool(Opts(64 * MiB));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&pool, t] {
      for (int i = 0; i < 2000; ++i) {
        const size_t bytes = (t % 2 ? 96 * KiB : 3 * MiB) + static_cast<size_t>(i % 7) * KiB;
        auto* p = static_cast<unsigned char*>(pool.Allocate(bytes));
        if (p == nullptr) continue;  // cap: allowed
        p[0] = static_cast<unsigned char>(t);
        p[bytes - 1] = static_cast<unsigned char>(t);
        ASSERT_EQ(p[0], t);
        ASSERT_TRUE(pool.Free(p));
      }
    });
  }
  for (auto& th : threads) th.join();
  PoolStats s = pool.stats();
  EXPECT_EQ(s.in_use_bytes, 0u);
  EXPECT_LE(s.cached_bytes, 64 * MiB);
  EXPECT_GT(s.hits, s.misses);
}

TEST(Pool, HostBufferPrefersThePool) {
  HostBuffer small(100);
  EXPECT_FALSE(small.pooled);
  if (GlobalPool().max_bytes() >= 4 * MiB) {
    HostBuffer big(2 * MiB);
    EXPECT_TRUE(big.pooled);
    EXPECT_TRUE(GlobalPool().Owns(big.data));
  }
  HostBuffer forced(2 * MiB, /*try_pool=*/false);
  EXPECT_FALSE(forced.pooled);
}
