// The one table of codes that crosses the boundary between the native core
// and TypeScript: element types, reduce ops, collective kinds and status
// codes. Each list is an X-macro; common.h expands them into the C++ enums
// and name tables, and scripts/gen_codes.js turns this file into
// src/codes.ts. A test (test/single/codes.test.js) compares the compiled
// addon's table with the generated TypeScript, so the two cannot drift.
//
// Values are part of the wire format and of the binding's arguments:
// append, never renumber. Keep one entry per line (the generator reads
// lines of the form `X(Identifier, value, "name", ...)`).
#pragma once

// X(enumerator, value, name, element bytes)
#define HVD_DATA_TYPES(X)        \
  X(kUint8, 0, "uint8", 1)       \
  X(kInt8, 1, "int8", 1)         \
  X(kUint16, 2, "uint16", 2)     \
  X(kInt16, 3, "int16", 2)       \
  X(kInt32, 4, "int32", 4)       \
  X(kUint32, 5, "uint32", 4)     \
  X(kInt64, 6, "int64", 8)       \
  X(kFloat16, 7, "float16", 2)   \
  X(kFloat32, 8, "float32", 4)   \
  X(kFloat64, 9, "float64", 8)   \
  X(kBool, 10, "bool", 1)        \
  X(kUint64, 11, "uint64", 8)

// X(enumerator, value, name). Average sums, then postscales by
// 1/(contributing ranks); bool sum/max are logical or, min/product and.
#define HVD_REDUCE_OPS(X)        \
  X(kAverage, 0, "average")      \
  X(kSum, 1, "sum")              \
  X(kMin, 2, "min")              \
  X(kMax, 3, "max")              \
  X(kProduct, 4, "product")

// The op registry. X(enumerator, value, name, op): each kind is one op,
// defined in native/ops/<name>_op.cc by a function `const Op& op()`
// (see native/ops/op.h); native/ops/registry.cc builds the table from here.
#define HVD_COLLECTIVE_KINDS(X)                         \
  X(kAllreduce, 0, "allreduce", AllreduceOp)            \
  X(kAllgather, 1, "allgather", AllgatherOp)            \
  X(kBroadcast, 2, "broadcast", BroadcastOp)            \
  X(kBarrier, 3, "barrier", BarrierOp)                  \
  X(kJoin, 4, "join", JoinOp)                           \
  X(kAlltoall, 5, "alltoall", AlltoallOp)               \
  X(kReducescatter, 6, "reducescatter", ReducescatterOp)  \
  X(kAddProcessSet, 7, "addProcessSet", AddProcessSetOp)  \
  X(kRemoveProcessSet, 8, "removeProcessSet", RemoveProcessSetOp)

// X(enumerator, value, HorovodError code). The code is what JS sees.
#define HVD_STATUS_CODES(X)                            \
  X(kOk, 0, "HVD_OK")                                  \
  X(kInvalidArgument, 1, "HVD_INVALID_ARGUMENT")       \
  X(kPrecondition, 2, "HVD_MISMATCH")                  \
  X(kDuplicateName, 3, "HVD_DUPLICATE_NAME")           \
  X(kShutDown, 4, "HVD_SHUT_DOWN")                     \
  X(kNotInitialized, 5, "HVD_NOT_INITIALIZED")         \
  X(kMpiError, 6, "HVD_MPI_ERROR")                     \
  X(kAborted, 7, "HVD_ABORTED")                        \
  X(kInternal, 8, "HVD_INTERNAL")                      \
  X(kTimedOut, 9, "HVD_START_TIMEOUT")
