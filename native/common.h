// Core vocabulary of the hvd engine: data types, reduce ops, request kinds,
// and the Status value every operation reports. Nothing here knows about
// Node or MPI, so the same types serve the binding, the engine and tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "codes.h"
#include "pool.h"

namespace hvd::core {

// The enums come from codes.h, the table shared with TypeScript.
enum class DataType : uint8_t {
#define HVD_X(e, v, n, b) e = v,
  HVD_DATA_TYPES(HVD_X)
#undef HVD_X
};
constexpr int kNumDataTypes = 0
#define HVD_X(e, v, n, b) +1
    HVD_DATA_TYPES(HVD_X)
#undef HVD_X
    ;

size_t DataTypeSize(DataType t);
const char* DataTypeName(DataType t);
bool IsFloatingPoint(DataType t);

enum class ReduceOp : uint8_t {
#define HVD_X(e, v, n) e = v,
  HVD_REDUCE_OPS(HVD_X)
#undef HVD_X
};
constexpr int kNumReduceOps = 0
#define HVD_X(e, v, n) +1
    HVD_REDUCE_OPS(HVD_X)
#undef HVD_X
    ;
const char* ReduceOpName(ReduceOp op);

// What a request asks for. Each kind is one op (native/ops/op.h).
enum class CollectiveKind : uint8_t {
#define HVD_X(e, v, n, op) e = v,
  HVD_COLLECTIVE_KINDS(HVD_X)
#undef HVD_X
};
constexpr int kNumCollectiveKinds = 0
#define HVD_X(e, v, n, op) +1
    HVD_COLLECTIVE_KINDS(HVD_X)
#undef HVD_X
    ;
const char* CollectiveKindName(CollectiveKind k);

// Result of an operation; the codes are HorovodError.code on the JS side.
enum class StatusType : uint8_t {
#define HVD_X(e, v, n) e = v,
  HVD_STATUS_CODES(HVD_X)
#undef HVD_X
};
const char* StatusCode(StatusType t);

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(StatusType type, std::string reason) {
    Status s;
    s.type_ = type;
    s.reason_ = std::move(reason);
    return s;
  }
  bool ok() const { return type_ == StatusType::kOk; }
  StatusType type() const { return type_; }
  const std::string& reason() const { return reason_; }

 private:
  StatusType type_ = StatusType::kOk;
  std::string reason_;
};

// Thrown only inside the engine thread and caught once per operation, where
// it becomes a Status (see Engine::PerformResponse). Never crosses threads.
class EnforceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

#define HVD_ENFORCE(cond, msg)                                             \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::ostringstream hvd_enforce_os_;                                  \
      hvd_enforce_os_ << "hvd internal check failed at " << __FILE__ << ":" \
                      << __LINE__ << ": " << #cond << ": " << msg;         \
      throw ::hvd::core::EnforceError(hvd_enforce_os_.str());              \
    }                                                                      \
  } while (0)

// What a finished operation hands back besides its Status. Ops that write
// into the caller's output buffer leave it kNone; the binding converts the
// rest without knowing which collective produced them.
struct CollectiveResult {
  enum class Kind : uint8_t { kNone, kBuffer, kScalar };
  Kind kind = Kind::kNone;
  HostBuffer buffer;            // kBuffer: engine-allocated output (pool or malloc), owned by the
                                // receiver (empty when it was written into the entry's
                                // allocate_output memory or the caller's `out`)
  std::vector<int64_t> shape;   // kBuffer: its shape
  std::vector<int32_t> ints;    // kBuffer: extra per-rank integers (alltoall's received splits)
  int64_t scalar = -1;          // kScalar: e.g. join's last rank
  bool into_output = false;     // kBuffer: written into the entry's caller-provided output (`out`)
  // The caller's `out` did not fit the result (known only after negotiation):
  // the collective ran (received into `buffer`, then dropped) and this
  // rank's call fails with a RangeError carrying this message.
  std::string output_error;
};

int64_t NumElements(const std::vector<int64_t>& shape);
std::string ShapeToString(const std::vector<int64_t>& shape);

}  // namespace hvd::core
