// hvd-owned memory: size-class pools of 2 MiB-aligned blocks that the
// kernel may back with transparent huge pages (madvise(MADV_HUGEPAGE); THP
// is often `madvise`-only, so plain malloc/V8 memory never gets them).
// Measured on this kind of machine, MPI moves data between two ranks' huge
// page buffers 2.2-2.6x faster than between 4 KiB-page buffers at 1-16 MiB
// (shared/reference/PEERS.md), and a block reused from the pool is already
// faulted in, where a fresh buffer takes a page fault per page.
//
// Blocks of up to 1 MiB are carved out of 2 MiB chunks (one size class per
// chunk, powers of two from min_bytes); larger ones are one mapping each,
// rounded up to a quarter power of two and to a multiple of 2 MiB (at most
// 25% waste). A freed block is cached for the next allocation of its class.
//
// The pool never maps more than max_bytes (HVD_POOL_MAX_BYTES) in total:
// when a new block would exceed it, cached blocks of other classes are
// unmapped first; if that is not enough, Allocate returns nullptr and
// counts a fallback, and the caller uses ordinary memory. Nothing fails
// because the pool is full.
//
// Thread safe: the engine thread allocates (fusion buffer, collective
// outputs), the JS thread allocates (hvd.alloc, outputs) and V8 returns
// blocks from whichever thread frees an ArrayBuffer's backing store.
// Node-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace hvd::core {

struct PoolStats {
  uint64_t in_use_bytes = 0;  // class bytes of blocks handed out and not yet freed
  uint64_t cached_bytes = 0;  // mapped but free (ready for reuse)
  uint64_t max_bytes = 0;     // the cap on in_use + cached
  uint64_t hits = 0;          // allocations served from cached blocks
  uint64_t misses = 0;        // allocations that mapped new memory
  uint64_t fallbacks = 0;     // allocations refused (cap reached, or mmap failed): ordinary memory used
  uint64_t released_bytes = 0;  // cached bytes unmapped to stay under the cap or by Trim()
};

class Pool {
 public:
  static constexpr size_t kHugePage = size_t{2} << 20;
  static constexpr size_t kDefaultMinBytes = 64 * 1024;
  static constexpr size_t kDefaultMaxBytes = size_t{1} << 30;

  struct Options {
    size_t max_bytes = kDefaultMaxBytes;  // 0 disables the pool (every Allocate falls back)
    size_t min_bytes = kDefaultMinBytes;  // smaller requests are not served (nullptr, not a fallback)
    bool huge_pages = true;               // madvise(MADV_HUGEPAGE) every mapping
  };

  explicit Pool(Options options);
  ~Pool();  // unmaps everything, blocks still in use included
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A block of at least `bytes`, 64-byte aligned (blocks of a 2 MiB class
  // or more are 2 MiB aligned); contents undefined (a reused block holds
  // old data). nullptr when bytes < min_bytes or the cap leaves no room.
  void* Allocate(size_t bytes);
  // Returns a block from Allocate to the pool; false (and nothing done)
  // for a pointer the pool does not own.
  bool Free(void* p);
  bool Owns(const void* p) const;
  // True once per allocation: whether `p` starts a block handed out by
  // Allocate that nobody has claimed since. The engine claims a large
  // collective's output when it is enqueued, which tells a result array
  // allocated for that call (cache-cold, ops/algorithm.h) from a caller's
  // reused `out` array (claimed on its first use only).
  bool ClaimFresh(const void* p);
  // Unmaps every cached block (chunks of small classes once all their blocks are free).
  void Trim();
  PoolStats stats() const;
  size_t max_bytes() const { return options_.max_bytes; }
  size_t min_bytes() const { return options_.min_bytes; }

  // The block size Allocate(bytes) hands out (bytes >= min_bytes).
  size_t ClassSize(size_t bytes) const;

 private:
  struct Chunk {  // a 2 MiB mapping split into blocks of one small class
    size_t block = 0;
    size_t free_blocks = 0;
  };
  void* MapAligned(size_t bytes);
  // Unmaps cached memory until `need` more bytes fit under the cap; whether they do.
  bool MakeRoom(size_t need, size_t keep_class);
  void ReleaseLarge(size_t cls, size_t count);
  bool ReleaseFreeChunk(size_t keep_class);

  const Options options_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;          // class size -> cached blocks (LIFO: warmest first)
  std::unordered_map<uintptr_t, size_t> live_;         // block address -> class size, for blocks handed out
  std::unordered_set<uintptr_t> unclaimed_;            // blocks handed out and not yet claimed (ClaimFresh)
  std::unordered_map<uintptr_t, Chunk> chunks_;        // chunk base -> its small class
  size_t mapped_ = 0;
  PoolStats stats_;
};

// The process's pool, configured from HVD_POOL_MAX_BYTES (bytes; default
// 1 GiB; 0 turns the pool off) on first use. Never destroyed: V8 may return
// blocks during static teardown.
Pool& GlobalPool();

// A buffer the engine allocated for a collective's result: from the global
// pool when it had room, else malloc. The binding hands pool blocks to V8
// with a deleter that returns them (binding/pool_buffer.h).
struct HostBuffer {
  HostBuffer() = default;
  // Pool memory when try_pool, bytes >= the pool's minimum and it has room, else malloc.
  explicit HostBuffer(size_t bytes, bool try_pool = true);
  ~HostBuffer() { Reset(); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  HostBuffer(HostBuffer&& o) noexcept : data(o.data), size(o.size), pooled(o.pooled) {
    o.data = nullptr;
    o.size = 0;
    o.pooled = false;
  }
  HostBuffer& operator=(HostBuffer&& o) noexcept {
    std::swap(data, o.data);
    std::swap(size, o.size);
    std::swap(pooled, o.pooled);
    return *this;
  }
  void Reset();
  // Gives up ownership: the caller frees it (GlobalPool().Free when pooled, else free()).
  void* Release() {
    void* p = data;
    data = nullptr;
    size = 0;
    pooled = false;
    return p;
  }
  void* data = nullptr;
  size_t size = 0;
  bool pooled = false;
};

// Frees memory from HostBuffer::Release (either kind).
void FreeHostMemory(void* p, bool pooled);

}  // namespace hvd::core
