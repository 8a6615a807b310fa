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
#include <vector>

#include "../common.h"
#include "../communicator.h"
#include "../config.h"

namespace hvd::core {

struct AlgorithmQuery {
  int64_t bytes = 0;     // payload of the response (all fused tensors)
  int set_size = 1;
  const Config* config = nullptr;
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
// Id (index) of the first candidate that applies.
uint8_t ChooseReduceAlgorithm(const AlgorithmQuery& q);
const ReduceAlgorithm& ReduceAlgorithmById(uint8_t id);

}  // namespace hvd::core
