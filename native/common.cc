#include "common.h"

namespace hvd::core {

size_t DataTypeSize(DataType t) {
  switch (t) {
#define HVD_X(e, v, n, b) \
  case DataType::e:       \
    return b;
    HVD_DATA_TYPES(HVD_X)
#undef HVD_X
  }
  return 0;
}

const char* DataTypeName(DataType t) {
  switch (t) {
#define HVD_X(e, v, n, b) \
  case DataType::e:       \
    return n;
    HVD_DATA_TYPES(HVD_X)
#undef HVD_X
  }
  return "unknown";
}

bool IsFloatingPoint(DataType t) {
  return t == DataType::kFloat16 || t == DataType::kFloat32 || t == DataType::kFloat64;
}

const char* ReduceOpName(ReduceOp op) {
  switch (op) {
#define HVD_X(e, v, n) \
  case ReduceOp::e:    \
    return n;
    HVD_REDUCE_OPS(HVD_X)
#undef HVD_X
  }
  return "unknown";
}

const char* CollectiveKindName(CollectiveKind k) {
  switch (k) {
#define HVD_X(e, v, n, op)     \
  case CollectiveKind::e:  \
    return n;
    HVD_COLLECTIVE_KINDS(HVD_X)
#undef HVD_X
  }
  return "unknown";
}

const char* StatusCode(StatusType t) {
  switch (t) {
#define HVD_X(e, v, n) \
  case StatusType::e:  \
    return n;
    HVD_STATUS_CODES(HVD_X)
#undef HVD_X
  }
  return "HVD_INTERNAL";
}

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace hvd::core
