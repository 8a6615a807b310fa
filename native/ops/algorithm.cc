#include "algorithm.h"

#include <cstring>

#include "../logging.h"
#include "reduce.h"
#include "ring.h"

namespace hvd::core {
namespace {

// The MPI library's own collectives: always applicable.
class MpiReduce : public ReduceAlgorithm {
 public:
  const char* name() const override { return "mpi"; }
  bool Applies(const AlgorithmQuery&) const override { return true; }
  Status Allreduce(Communicator& comm, const Config&, const void* send, void* recv, int64_t count, DataType dtype,
                   ReduceOp op) const override {
    return comm.Allreduce(send, recv, count, dtype, op);
  }
  Status ReduceScatter(Communicator& comm, const Config&, void* buf, void* recv, const std::vector<int64_t>& counts,
                       DataType dtype, ReduceOp op) const override {
    return comm.ReduceScatter(buf, recv, counts, dtype, op);
  }
};

// hvd's ring: when forced, or from the size where it beats the library.
class RingReduce : public ReduceAlgorithm {
 public:
  const char* name() const override { return "ring"; }
  bool Applies(const AlgorithmQuery& q) const override {
    const Config& c = *q.config;
    return c.allreduce_algorithm == Config::Algorithm::kRing ||
           (c.allreduce_algorithm == Config::Algorithm::kAuto && c.ring_threshold_bytes >= 0 &&
            q.bytes >= c.ring_threshold_bytes);
  }
  Status Allreduce(Communicator& comm, const Config& config, const void* send, void* recv, int64_t count,
                   DataType dtype, ReduceOp op) const override {
    return RingAllreduce(comm, config.ring_segment_bytes, send, recv, count, dtype, op);
  }
  Status ReduceScatter(Communicator& comm, const Config& config, void* buf, void* recv,
                       const std::vector<int64_t>& counts, DataType dtype, ReduceOp op) const override {
    return RingReduceScatter(comm, config.ring_segment_bytes, buf, recv, counts, dtype, op);
  }
};

}  // namespace

const std::vector<const ReduceAlgorithm*>& ReduceAlgorithms() {
  static const RingReduce ring;
  static const MpiReduce mpi;
  static const std::vector<const ReduceAlgorithm*> all = {&ring, &mpi};
  return all;
}

uint8_t ChooseReduceAlgorithm(const AlgorithmQuery& q) {
  const auto& all = ReduceAlgorithms();
  if (q.tuner && q.order_free && q.set_size > 1 && q.config->allreduce_algorithm == Config::Algorithm::kAuto &&
      q.bytes >= AlgorithmTuner::kMinBytes) {
    return q.tuner->Choose(q.process_set, q.bytes, q.in_place, q.fresh_output);
  }
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i]->Applies(q)) return static_cast<uint8_t>(i);
  }
  return static_cast<uint8_t>(all.size() - 1);
}

const ReduceAlgorithm& ReduceAlgorithmById(uint8_t id) {
  const auto& all = ReduceAlgorithms();
  HVD_ENFORCE(id < all.size(), "unknown reduce algorithm id " << static_cast<int>(id));
  return *all[id];
}

bool ResultIsOrderFree(DataType dtype, ReduceOp op, double prescale, double postscale, int set_size) {
  if (set_size <= 2) return true;
  if (op == ReduceOp::kMin || op == ReduceOp::kMax) return true;
  return !IsFloatingPoint(dtype) && prescale == 1.0 && postscale == 1.0;
}

int AlgorithmTuner::ClassOf(int64_t bytes) {
  int k = 0;
  while (k < 62 && (int64_t{2} << k) <= bytes) ++k;
  return k;  // 2^k <= bytes < 2^(k+1)
}

// In place, the output is the input: whether it was fresh says nothing.
AlgorithmTuner::Key AlgorithmTuner::KeyOf(int32_t process_set, int64_t bytes, bool in_place, bool fresh_output) {
  return Key{process_set, ClassOf(bytes), in_place, fresh_output && !in_place};
}

uint8_t AlgorithmTuner::Choose(int32_t process_set, int64_t bytes, bool in_place, bool fresh_output) {
  const size_t n = ReduceAlgorithms().size();
  std::lock_guard<std::mutex> lock(mu_);
  Class& c = classes_[KeyOf(process_set, bytes, in_place, fresh_output)];
  if (c.decided >= 0) return static_cast<uint8_t>(c.decided);
  if (c.chosen.empty()) {
    c.chosen.assign(n, 0);
    c.recorded.assign(n, 0);
    c.best.assign(n, 0.0);
  }
  // The candidate chosen least often so far (the first on a tie): runs
  // alternate, and each reaches its samples even while earlier responses
  // are still executing.
  size_t pick = 0;
  for (size_t i = 1; i < n; ++i) {
    if (c.chosen[i] < c.chosen[pick]) pick = i;
  }
  c.chosen[pick]++;
  return static_cast<uint8_t>(pick);
}

void AlgorithmTuner::Record(int32_t process_set, uint8_t algorithm, int64_t bytes, double seconds,
                            uint64_t pool_misses, bool in_place, bool fresh_output) {
  if (bytes < kMinBytes) return;
  std::lock_guard<std::mutex> lock(mu_);
  const bool mapped = pool_misses != last_pool_misses_;
  last_pool_misses_ = pool_misses;
  auto it = classes_.find(KeyOf(process_set, bytes, in_place, fresh_output));
  if (it == classes_.end() || it->second.decided >= 0 || it->second.chosen.empty()) return;
  Class& c = it->second;
  if (algorithm >= c.recorded.size()) return;
  // New pool memory since the last timing: this call probably touched it
  // first (a fresh output), which says nothing about the algorithm.
  if (mapped && c.unclean < kMaxUnclean) {
    ++c.unclean;
    return;
  }
  // The first runs of each pay for first touches (the ring's segments,
  // Open MPI's buffers): not counted.
  if (++c.recorded[algorithm] <= kWarmup) return;
  const double per_byte = seconds / static_cast<double>(bytes);
  // The best run: a slow one waited for a late peer or was preempted.
  if (c.best[algorithm] == 0.0 || per_byte < c.best[algorithm]) c.best[algorithm] = per_byte;
  for (int r : c.recorded) {
    if (r < kWarmup + kSamples) return;
  }
  size_t best = 0;
  for (size_t i = 1; i < c.best.size(); ++i) {
    if (c.best[i] < c.best[best]) best = i;
  }
  c.decided = static_cast<int>(best);
  HVD_LOG(kInfo, "allreduce of " << (int64_t{1} << it->first.size_class) << "-" << (int64_t{2} << it->first.size_class)
                                 << " bytes" << (in_place ? " in place" : fresh_output ? " into fresh results" : "")
                                 << " on process set " << process_set << ": "
                                 << ReduceAlgorithms()[best]->name() << " (measured)");
}

std::vector<AlgorithmTuner::Decision> AlgorithmTuner::Decisions() const {
  std::vector<Decision> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, c] : classes_) {
    Decision d;
    d.process_set = key.process_set;
    d.min_bytes = int64_t{1} << key.size_class;
    d.in_place = key.in_place;
    d.fresh_output = key.fresh_output;
    d.algorithm = c.decided;
    for (double b : c.best) d.best_us_per_mib.push_back(b * 1e6 * (1 << 20));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace hvd::core
