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

namespace hvd::core {

// Element types that can cross the wire. Values are part of the wire format
// (message.cc) and of the binding's argument list: append, never renumber.
enum class DataType : uint8_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kInt32 = 4,
  kUint32 = 5,
  kInt64 = 6,
  kFloat16 = 7,
  kFloat32 = 8,
  kFloat64 = 9,
  kBool = 10,  // one byte per element, 0 or 1; sum/max become logical or
  kUint64 = 11,
};
constexpr int kNumDataTypes = 12;

size_t DataTypeSize(DataType t);
const char* DataTypeName(DataType t);
bool IsFloatingPoint(DataType t);

enum class ReduceOp : uint8_t {
  kAverage = 0,  // sum, then postscale by 1/(contributing ranks)
  kSum = 1,
  kMin = 2,
  kMax = 3,
  kProduct = 4,
};
const char* ReduceOpName(ReduceOp op);

enum class RequestType : uint8_t {
  kAllreduce = 0,
  kAllgather = 1,
  kBroadcast = 2,
  kBarrier = 3,
  kJoin = 4,
};
const char* RequestTypeName(RequestType t);

// Result of an operation. Mirrors the error codes the TypeScript layer turns
// into HorovodError.code, so the mapping lives in exactly one place per side.
enum class StatusType : uint8_t {
  kOk = 0,
  kInvalidArgument = 1,    // bad call on this rank (TS validates most of these first)
  kPrecondition = 2,       // ranks disagree: shapes, dtypes, ops, roots...
  kDuplicateName = 3,      // a request with this name is already in flight
  kShutDown = 4,           // the engine (or a peer) has shut down
  kNotInitialized = 5,
  kMpiError = 6,           // an MPI call failed; reason carries MPI_Error_string
  kAborted = 7,            // a peer reported a fatal error (rank failure, stall shutdown)
  kInternal = 8,
  kTimedOut = 9,           // hvd.init() gave up waiting for the other ranks
};

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

// A heap block allocated with malloc, so a consumer (the binding) can hand it
// to an external ArrayBuffer and release it with free().
struct MallocBuffer {
  MallocBuffer() = default;
  explicit MallocBuffer(size_t bytes);
  ~MallocBuffer() { std::free(data); }
  MallocBuffer(const MallocBuffer&) = delete;
  MallocBuffer& operator=(const MallocBuffer&) = delete;
  MallocBuffer(MallocBuffer&& o) noexcept : data(o.data), size(o.size) {
    o.data = nullptr;
    o.size = 0;
  }
  MallocBuffer& operator=(MallocBuffer&& o) noexcept {
    std::swap(data, o.data);
    std::swap(size, o.size);
    return *this;
  }
  // Gives up ownership; the caller must free() the pointer.
  void* Release() {
    void* p = data;
    data = nullptr;
    size = 0;
    return p;
  }
  void* data = nullptr;
  size_t size = 0;
};

// What a finished operation hands back besides its Status. Allreduce and
// broadcast write into the caller's output buffer and leave this empty.
struct CollectiveResult {
  MallocBuffer buffer;          // allgather output, owned by the receiver (empty when
                                // it was written into allocate_output's memory)
  std::vector<int64_t> shape;   // allgather output shape
  int64_t scalar = -1;          // join: the last rank to join
};

int64_t NumElements(const std::vector<int64_t>& shape);
std::string ShapeToString(const std::vector<int64_t>& shape);

}  // namespace hvd::core
