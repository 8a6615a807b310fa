// The response cache (HOROVOD_CACHE_CAPACITY): once a request or response
// has been sent in full, later identical ones travel as a small integer.
//
// Horovod keeps one cache replicated on every rank and agrees on hits with
// a bit-vector allreduce each cycle, which needs its lockstep cycle. hvd's
// negotiation is point-to-point and asynchronous, so the cache is a
// dictionary over each ordered channel instead: the sender assigns ids (LRU,
// reusing an evicted id by redefining it) and the receiver mirrors them.
// Because MPI delivers messages between two ranks on one tag in order, the
// receiver's dictionary always equals the sender's at the moment it sent,
// with no agreement round at all. Workers each encode their requests for
// rank 0; rank 0 encodes its response lists once for all workers (every
// worker receives the same lists in the same order).
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hvd::core {

// Sender side: key -> id, least recently used id reused when full.
class CacheEncoder {
 public:
  explicit CacheEncoder(int capacity) : capacity_(capacity) {}
  bool enabled() const { return capacity_ > 0; }
  // Returns {id, defines}: defines is true when the receiver must store the
  // full value under id (first use, or id reused after eviction).
  std::pair<int32_t, bool> Encode(const std::string& key);

 private:
  int capacity_;
  std::list<std::pair<std::string, int32_t>> lru_;  // front = most recent
  std::unordered_map<std::string, std::list<std::pair<std::string, int32_t>>::iterator> index_;
};

// Receiver side: id -> stored value, mirroring one CacheEncoder.
template <typename T>
class CacheDecoder {
 public:
  void Define(int32_t id, const T& value) {
    if (static_cast<size_t>(id) >= values_.size()) values_.resize(static_cast<size_t>(id) + 1);
    values_[static_cast<size_t>(id)] = value;
  }
  const T* Lookup(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < values_.size() ? &values_[static_cast<size_t>(id)] : nullptr;
  }

 private:
  std::vector<T> values_;
};

}  // namespace hvd::core
