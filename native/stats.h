// Engine counters the benchmark and tests read to prove what moved where.
// Written on the engine thread, read from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace hvd::core {

struct EngineStats {
  std::atomic<uint64_t> responses{0};         // responses executed
  std::atomic<uint64_t> tensors{0};           // tensors completed
  std::atomic<uint64_t> fused_responses{0};   // allreduces that packed >1 tensor
  std::atomic<uint64_t> fusion_copy_bytes{0}; // bytes copied into + out of the fusion buffer
  std::atomic<uint64_t> allreduce_bytes{0};   // allreduce data bytes (to the algorithms, or eager)
  std::atomic<uint64_t> negotiation_lists{0}; // ResponseLists received/produced
  std::atomic<uint64_t> ring_allreduces{0};   // allreduce responses run by hvd's ring
  std::atomic<uint64_t> eager_allreduces{0};  // allreduce responses the coordinator computed (HVD_EAGER_BYTES)
  std::atomic<uint64_t> direct_allreduces{0}; // of those, computed by this rank itself (direct_exchange.h)
  std::atomic<uint64_t> cache_hits{0};        // requests/responses sent as a cache reference
  std::atomic<uint64_t> control_bytes{0};     // negotiation bytes this rank sent
  std::atomic<uint64_t> inline_calls{0};      // *Sync calls that ran the loop on their own thread (DriveSync)
};

}  // namespace hvd::core
