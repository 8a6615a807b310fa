#include "algorithm.h"

#include <cstring>

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

}  // namespace hvd::core
