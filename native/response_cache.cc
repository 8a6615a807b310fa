#include "response_cache.h"

namespace hvd::core {

std::pair<int32_t, bool> CacheEncoder::Encode(const std::string& key) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return {it->second->second, false};
  }
  int32_t id;
  if (static_cast<int>(lru_.size()) < capacity_) {
    id = static_cast<int32_t>(lru_.size());
  } else {
    id = lru_.back().second;
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  lru_.emplace_front(key, id);
  index_[key] = lru_.begin();
  return {id, true};
}

}  // namespace hvd::core
