#include "pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

namespace hvd::core {
namespace {

constexpr size_t kSmallMax = Pool::kHugePage / 2;  // classes up to 1 MiB share 2 MiB chunks

size_t RoundUp(size_t x, size_t to) { return (x + to - 1) / to * to; }

size_t NextPow2(size_t x) {
  size_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

uintptr_t ChunkBase(const void* p) { return reinterpret_cast<uintptr_t>(p) & ~(uintptr_t{Pool::kHugePage} - 1); }

}  // namespace

Pool::Pool(Options options) : options_(options) {
  stats_.max_bytes = options_.max_bytes;
}

Pool::~Pool() {
  // Every mapping: cached large blocks, live large blocks, and the chunks.
  for (auto& [cls, blocks] : free_) {
    if (cls <= kSmallMax) continue;
    for (void* p : blocks) munmap(p, cls);
  }
  for (auto& [addr, cls] : live_) {
    if (cls > kSmallMax) munmap(reinterpret_cast<void*>(addr), cls);
  }
  for (auto& [base, chunk] : chunks_) munmap(reinterpret_cast<void*>(base), kHugePage);
}

size_t Pool::ClassSize(size_t bytes) const {
  bytes = std::max(bytes, options_.min_bytes);
  if (bytes <= kSmallMax) return NextPow2(bytes);
  // A quarter power of two (at most 25% over), then whole huge pages.
  size_t p = NextPow2(bytes) / 2;
  size_t step = std::max<size_t>(p / 4, 1);
  return RoundUp(RoundUp(bytes, step), kHugePage);
}

void* Pool::MapAligned(size_t bytes) {
  // Over-map by one huge page and trim, so the block starts on a 2 MiB boundary
  // (the kernel backs a huge page only where the aligned 2 MiB lies inside the mapping).
  const size_t len = bytes + kHugePage;
  void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = RoundUp(start, kHugePage);
  if (aligned > start) munmap(raw, aligned - start);
  uintptr_t end = aligned + bytes;
  uintptr_t raw_end = start + len;
  if (raw_end > end) munmap(reinterpret_cast<void*>(end), raw_end - end);
  void* p = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  if (options_.huge_pages) madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

void Pool::ReleaseLarge(size_t cls, size_t count) {
  auto it = free_.find(cls);
  if (it == free_.end()) return;
  auto& blocks = it->second;
  // Release the coldest first (the front of the LIFO).
  count = std::min(count, blocks.size());
  for (size_t i = 0; i < count; ++i) munmap(blocks[i], cls);
  blocks.erase(blocks.begin(), blocks.begin() + static_cast<std::ptrdiff_t>(count));
  mapped_ -= cls * count;
  stats_.released_bytes += cls * count;
  if (blocks.empty()) free_.erase(it);
}

bool Pool::ReleaseFreeChunk(size_t keep_class) {
  for (auto it = chunks_.begin(); it != chunks_.end(); ++it) {
    Chunk& c = it->second;
    if (c.block == keep_class || c.free_blocks != kHugePage / c.block) continue;
    const uintptr_t base = it->first;
    auto& blocks = free_[c.block];
    blocks.erase(std::remove_if(blocks.begin(), blocks.end(), [&](void* p) { return ChunkBase(p) == base; }),
                 blocks.end());
    if (blocks.empty()) free_.erase(c.block);
    munmap(reinterpret_cast<void*>(base), kHugePage);
    chunks_.erase(it);
    mapped_ -= kHugePage;
    stats_.released_bytes += kHugePage;
    return true;
  }
  return false;
}

bool Pool::MakeRoom(size_t need, size_t keep_class) {
  if (need > options_.max_bytes) return false;
  // Large cached blocks of other classes, biggest first, then whole free chunks.
  while (mapped_ + need > options_.max_bytes) {
    size_t best = 0;
    for (auto& [cls, blocks] : free_) {
      if (cls > kSmallMax && cls != keep_class && !blocks.empty()) best = cls;
    }
    if (best != 0) {
      ReleaseLarge(best, 1);
      continue;
    }
    if (!ReleaseFreeChunk(keep_class)) return false;
  }
  return true;
}

void* Pool::Allocate(size_t bytes) {
  if (bytes < options_.min_bytes) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.max_bytes == 0) {
    stats_.fallbacks++;
    return nullptr;
  }
  const size_t cls = ClassSize(bytes);
  auto it = free_.find(cls);
  if (it != free_.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    if (it->second.empty()) free_.erase(it);
    live_[reinterpret_cast<uintptr_t>(p)] = cls;
    unclaimed_.insert(reinterpret_cast<uintptr_t>(p));
    if (cls <= kSmallMax) chunks_[ChunkBase(p)].free_blocks--;
    stats_.hits++;
    stats_.in_use_bytes += cls;
    return p;
  }
  const size_t map_bytes = cls <= kSmallMax ? kHugePage : cls;
  if (!MakeRoom(map_bytes, cls)) {
    stats_.fallbacks++;
    return nullptr;
  }
  void* base = MapAligned(map_bytes);
  if (base == nullptr) {
    stats_.fallbacks++;
    return nullptr;
  }
  mapped_ += map_bytes;
  stats_.misses++;
  stats_.in_use_bytes += cls;
  unclaimed_.insert(reinterpret_cast<uintptr_t>(base));
  if (cls > kSmallMax) {
    live_[reinterpret_cast<uintptr_t>(base)] = cls;
    return base;
  }
  // A new chunk: hand out its first block and cache the rest.
  const size_t n = kHugePage / cls;
  chunks_[reinterpret_cast<uintptr_t>(base)] = Chunk{cls, n - 1};
  auto& blocks = free_[cls];
  for (size_t i = n; i-- > 1;) blocks.push_back(static_cast<char*>(base) + i * cls);
  live_[reinterpret_cast<uintptr_t>(base)] = cls;
  return base;
}

bool Pool::Free(void* p) {
  if (p == nullptr) return false;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(reinterpret_cast<uintptr_t>(p));
  if (it == live_.end()) return false;
  const size_t cls = it->second;
  live_.erase(it);
  unclaimed_.erase(reinterpret_cast<uintptr_t>(p));
  stats_.in_use_bytes -= cls;
  if (cls <= kSmallMax) chunks_[ChunkBase(p)].free_blocks++;
  free_[cls].push_back(p);
  return true;
}

bool Pool::Owns(const void* p) const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.count(reinterpret_cast<uintptr_t>(p)) != 0;
}

bool Pool::ClaimFresh(const void* p) {
  std::lock_guard<std::mutex> lock(mu_);
  return unclaimed_.erase(reinterpret_cast<uintptr_t>(p)) != 0;
}

void Pool::Trim() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<size_t> large;
  for (auto& [cls, blocks] : free_) {
    if (cls > kSmallMax) large.push_back(cls);
  }
  for (size_t cls : large) ReleaseLarge(cls, free_[cls].size());
  while (ReleaseFreeChunk(0)) {
  }
}

PoolStats Pool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PoolStats s = stats_;
  s.cached_bytes = mapped_ - stats_.in_use_bytes;
  return s;
}

Pool& GlobalPool() {
  static Pool* pool = [] {
    Pool::Options o;
    if (const char* v = std::getenv("HVD_POOL_MAX_BYTES")) {
      char* end = nullptr;
      errno = 0;
      unsigned long long n = std::strtoull(v, &end, 10);
      if (errno == 0 && end != v && *end == '\0') o.max_bytes = static_cast<size_t>(n);
    }
    return new Pool(o);  // never destroyed (see pool.h)
  }();
  return *pool;
}

HostBuffer::HostBuffer(size_t bytes, bool try_pool) : size(bytes) {
  data = try_pool ? GlobalPool().Allocate(bytes) : nullptr;
  if (data != nullptr) {
    pooled = true;
    return;
  }
  // malloc(0) may return nullptr; keep a valid pointer for empty results.
  data = std::malloc(bytes == 0 ? 1 : bytes);
  if (data == nullptr) throw std::bad_alloc();
}

void HostBuffer::Reset() {
  FreeHostMemory(data, pooled);
  data = nullptr;
  size = 0;
  pooled = false;
}

void FreeHostMemory(void* p, bool pooled) {
  if (p == nullptr) return;
  if (pooled) GlobalPool().Free(p);
  else std::free(p);
}

}  // namespace hvd::core
