// The registry of reduction algorithms. Ops that reduce (allreduce,
// reducescatter) do not pick an algorithm by a flag: the coordinator asks
// each candidate, in order, whether it applies to the response (its size,
// the set's size, HVD_ALLREDUCE_ALGORITHM), takes the first that does and
// records its id in the response, so every rank of the set runs the same
// one. This is Horovod's OperationManager with its Enabled() checks; the
// difference is that the choice is made once, by the coordinator, so ranks
// whose environments differ cannot choose differently.
//
// Algorithms are stateless and take the set's Communicator, so the same
// ring runs on the global set and on any process set.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "../common.h"
#include "../communicator.h"
#include "../config.h"

namespace hvd::core {

class AlgorithmTuner;

struct AlgorithmQuery {
  int64_t bytes = 0;     // payload of the response (all fused tensors)
  int set_size = 1;
  const Config* config = nullptr;
  // Every candidate gives this response the same values (ResultIsOrderFree),
  // so the coordinator may pick by measurement.
  bool order_free = false;
  AlgorithmTuner* tuner = nullptr;  // the coordinator's, when Config::measure_algorithm
  int32_t process_set = 0;
  bool in_place = false;  // the coordinator's own entries are in place (Response::in_place)
  bool fresh_output = false;  // ... or write into results allocated for the call (Response::fresh_output)
};

class ReduceAlgorithm {
 public:
  virtual ~ReduceAlgorithm() = default;
  virtual const char* name() const = 0;
  virtual bool Applies(const AlgorithmQuery& q) const = 0;
  // Reduces `count` elements of every rank's `send` into every rank's
  // `recv` (send == recv: in place). Average reduces as sum.
  virtual Status Allreduce(Communicator& comm, const Config& config, const void* send, void* recv, int64_t count,
                           DataType dtype, ReduceOp op) const = 0;
  // `buf` is every rank's full input (counts[r] elements for rank r, back
  // to back); it may be used as scratch. Leaves the reduced block rank()
  // in `recv`.
  virtual Status ReduceScatter(Communicator& comm, const Config& config, void* buf, void* recv,
                               const std::vector<int64_t>& counts, DataType dtype, ReduceOp op) const = 0;
};

// Candidates in order of preference; the last always applies.
const std::vector<const ReduceAlgorithm*>& ReduceAlgorithms();
// Id (index) of the candidate to run: the tuner's pick where it measures
// (see AlgorithmTuner), else the first candidate that applies.
uint8_t ChooseReduceAlgorithm(const AlgorithmQuery& q);
const ReduceAlgorithm& ReduceAlgorithmById(uint8_t id);

// True when every candidate computes the same values for a reduction of
// `dtype` with `op` over `set_size` ranks: floating-point sums and products
// round differently in another order, except over two ranks (a + b is
// b + a); min, max and unscaled integer arithmetic (wrapping) are exact in
// any order.
bool ResultIsOrderFree(DataType dtype, ReduceOp op, double prescale, double postscale, int set_size);

// The measured choice between the candidates (HVD_ALLREDUCE_ALGORITHM=auto
// with HVD_RING_THRESHOLD_BYTES unset). Which one is faster at a size
// depends on the machine: on the AMD VM hvd's ring led Open MPI from
// 16 MiB on one host, on the Intel VM Open MPI led up to 28 MiB and the
// ring was twice as fast from 32 MiB, where Open MPI's time doubles
// (README, Performance). A fixed threshold is wrong on one of them.
//
// The coordinator runs each candidate on the first responses of a size
// class (powers of two from kMinBytes), alternating, and its own engine
// records how long each took; once every candidate has kSamples timings
// after kWarmup discarded ones, the class keeps the one with the best
// time per byte for the rest of the job. A timing is also discarded when
// hvd's pool mapped new memory since the previous one (up to kMaxUnclean
// times per class): a fresh output's first touch of a new huge-page block
// costs this VM 11-20 ms per 4 MiB, far more than the algorithms differ,
// and a loop of fresh outputs maps blocks for its first 10-16 calls. Results do not depend on it: it
// measures only responses whose values every candidate computes alike
// (ResultIsOrderFree); the others keep the threshold. Classes below
// kMinBytes always take the threshold (Open MPI there, by far).
//
// The coordinator's engine thread chooses (while it builds responses) and
// records (while it executes them); engineStats() reads the decisions from
// the JS thread, hence the lock (taken only for responses of kMinBytes or
// more).
class AlgorithmTuner {
 public:
  static constexpr int64_t kMinBytes = int64_t{1} << 20;
  static constexpr int kWarmup = 1;
  static constexpr int kSamples = 3;
  static constexpr int kMaxUnclean = 32;

  struct Decision {
    int32_t process_set = 0;
    int64_t min_bytes = 0;  // the class: [min_bytes, 2 * min_bytes)
    bool in_place = false;  // and whether the coordinator's entries were in place
    bool fresh_output = false;  // or wrote into results allocated for the call
    int algorithm = -1;     // id, -1 while still measuring
    std::vector<double> best_us_per_mib;  // per candidate, 0 when not measured yet
  };

  // The candidate to run for a response of `bytes` on `process_set`;
  // `in_place`: the coordinator's own entries are in place (a class of its
  // own: the ring's edge is reducing out of place without a first copy);
  // `fresh_output`: they are out of place into results allocated for this
  // call, which are cold in the cache (another class: on the AMD VM at
  // 4 MiB the best times were 246-314 us per MiB into fresh results and
  // 139-229 into a reused `out`, further apart than the candidates, so one
  // class alternating over mixed calls would compare different workloads).
  uint8_t Choose(int32_t process_set, int64_t bytes, bool in_place = false, bool fresh_output = false);
  // How long candidate `algorithm` took for `bytes` (ignored for classes
  // that are decided or were never chosen); `pool_misses`: hvd's pool's
  // count of new mappings now (PoolStats::misses).
  void Record(int32_t process_set, uint8_t algorithm, int64_t bytes, double seconds, uint64_t pool_misses = 0,
              bool in_place = false, bool fresh_output = false);
  std::vector<Decision> Decisions() const;

 private:
  struct Class {
    std::vector<int> chosen, recorded;
    std::vector<double> best;  // seconds per byte
    int decided = -1;
    int unclean = 0;  // timings discarded because the pool had mapped memory
  };
  static int ClassOf(int64_t bytes);
  mutable std::mutex mu_;
  uint64_t last_pool_misses_ = 0;
  struct Key {
    int32_t process_set;
    int size_class;
    bool in_place;
    bool fresh_output;
    bool operator<(const Key& o) const {
      if (process_set != o.process_set) return process_set < o.process_set;
      if (size_class != o.size_class) return size_class < o.size_class;
      if (in_place != o.in_place) return in_place < o.in_place;
      return fresh_output < o.fresh_output;
    }
  };
  static Key KeyOf(int32_t process_set, int64_t bytes, bool in_place, bool fresh_output);
  std::map<Key, Class> classes_;
};

}  // namespace hvd::core
