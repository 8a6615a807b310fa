// The data-plane interface: algorithms that move and reduce raw buffers over
// the engine's data communicator. The engine picks one per response; all
// ranks pick the same one because the choice depends only on the response.
#pragma once

#include <cstdint>
#include <vector>

#include "../common.h"

namespace hvd::core {

class AllreduceAlgorithm {
 public:
  virtual ~AllreduceAlgorithm() = default;
  virtual const char* name() const = 0;
  // Reduces `count` elements of every rank's `send` into every rank's
  // `recv`. send == recv means in place. Average reduces as sum: the caller
  // applies the postscale.
  virtual Status Run(const void* send, void* recv, int64_t count, DataType dtype,
                     ReduceOp op) = 0;
};

// Allgather of byte blocks: rank r contributes bytes_per_rank[r] bytes from
// `send`; recv receives all blocks in rank order.
class AllgatherAlgorithm {
 public:
  virtual ~AllgatherAlgorithm() = default;
  virtual Status Run(const void* send, void* recv,
                     const std::vector<int64_t>& bytes_per_rank) = 0;
};

}  // namespace hvd::core
