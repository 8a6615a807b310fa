#include "tensor_queue.h"

#include "ops/algorithm.h"
#include "pool.h"

namespace hvd::core {

Status TensorQueue::Add(std::vector<TensorTableEntry> entries, bool wake) {
  // What the coordinator's own requests tell the algorithm tuner
  // (ops/algorithm.h): in place, or out of place into a result allocated
  // for this call (claimed outside the queue's lock: the pool has its own).
  for (auto& e : entries) {
    e.request.in_place = e.input != nullptr && e.input == e.output;
    e.request.fresh_output =
        !e.request.in_place && e.output != nullptr &&
        NumElements(e.request.shape) * static_cast<int64_t>(DataTypeSize(e.request.dtype)) >= AlgorithmTuner::kMinBytes &&
        GlobalPool().ClaimFresh(e.output);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < entries.size(); ++i) {
      const std::string& name = entries[i].request.name;
      bool dup = table_.count(name) > 0;
      for (size_t j = 0; j < i && !dup; ++j) dup = entries[j].request.name == name;
      if (dup) {
        return Status::Error(
            StatusType::kDuplicateName,
            "a collective named '" + name +
                "' is already in flight on this rank; names must be unique among "
                "pending operations (pass a different `name`, or await the first one)");
      }
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto& e : entries) {
      e.request.enqueued = now;
      if (e.blocking) ++blocking_;
      // The payload (eager calls) travels with the request only.
      std::vector<uint8_t> payload = std::move(e.request.payload);
      new_requests_.push_back(e.request);
      new_requests_.back().payload = std::move(payload);
      std::string name = e.request.name;
      table_.emplace(std::move(name), std::move(e));
    }
    has_new_.store(true, std::memory_order_release);
  }
  if (wake) cv_.notify_one();
  return Status::Ok();
}

void TensorQueue::PopNewRequests(std::vector<Request>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  has_new_.store(false, std::memory_order_relaxed);
  if (out->empty()) {
    out->swap(new_requests_);
  } else {
    out->insert(out->end(), new_requests_.begin(), new_requests_.end());
    new_requests_.clear();
  }
}

bool TensorQueue::Take(const std::string& name, TensorTableEntry* entry) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = table_.find(name);
  if (it == table_.end()) return false;
  *entry = std::move(it->second);
  table_.erase(it);
  if (entry->blocking) --blocking_;
  return true;
}

std::vector<TensorTableEntry> TensorQueue::TakeAll() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TensorTableEntry> out;
  out.reserve(table_.size());
  for (auto& kv : table_) out.push_back(std::move(kv.second));
  table_.clear();
  new_requests_.clear();
  blocking_ = 0;
  return out;
}

void TensorQueue::WaitForWork(std::chrono::microseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [this] { return !new_requests_.empty() || woken_; };
  if (timeout.count() < 0) {
    cv_.wait(lock, ready);
  } else {
    cv_.wait_for(lock, timeout, ready);
  }
  woken_ = false;
}

void TensorQueue::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
    has_new_.store(true, std::memory_order_release);
  }
  cv_.notify_one();
}

size_t TensorQueue::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return table_.size();
}

int TensorQueue::blocking_pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return blocking_;
}

}  // namespace hvd::core
