// Helpers the coordinator-level gtests share: a request list of one request,
// and a Config whose ring threshold keeps small test tensors on the MPI
// algorithm.
#pragma once

#include <utility>

#include "config.h"
#include "message.h"

namespace hvd::core::testing {

inline RequestList One(Request r) {
  RequestList l;
  l.requests.push_back(std::move(r));
  return l;
}

inline Config Cfg() {
  Config c;
  c.ring_threshold_bytes = 1 << 20;
  return c;
}

}  // namespace hvd::core::testing
