#include "config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace hvd::core {
namespace {

bool GetDouble(const char* name, double* out) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return false;
  char* end = nullptr;
  double d = std::strtod(v, &end);
  if (end == v) return false;
  *out = d;
  return true;
}

bool GetInt(const char* name, int64_t* out) {
  double d;
  if (!GetDouble(name, &d)) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

}  // namespace

Config Config::FromEnv() {
  Config c;
  GetInt("HOROVOD_FUSION_THRESHOLD", &c.fusion_threshold);
  if (c.fusion_threshold < 0) c.fusion_threshold = 0;
  GetDouble("HOROVOD_CYCLE_TIME", &c.cycle_time_ms);
  if (c.cycle_time_ms < 0) c.cycle_time_ms = 0;
  GetInt("HVD_SPIN_TIME_US", &c.spin_time_us);
  GetInt("HVD_BLOCKING_SPIN_TIME_US", &c.blocking_spin_time_us);
  GetInt("HVD_IDLE_SPIN_US", &c.idle_spin_us);
  if (int64_t v; GetInt("HVD_INLINE_SYNC", &v)) c.inline_sync = v != 0;
  GetInt("HOROVOD_CACHE_CAPACITY", &c.cache_capacity);
  GetInt("HVD_EAGER_BYTES", &c.eager_bytes);
  if (c.eager_bytes < 0) c.eager_bytes = 0;
  GetInt("HVD_EAGER_DIRECT_MAX_RANKS", &c.eager_direct_max_ranks);
  int64_t disable = 0;
  if (GetInt("HOROVOD_STALL_CHECK_DISABLE", &disable)) c.stall_check = disable <= 0;
  GetDouble("HOROVOD_STALL_CHECK_TIME_SECONDS", &c.stall_warning_s);
  GetDouble("HOROVOD_STALL_SHUTDOWN_TIME_SECONDS", &c.stall_shutdown_s);
  int64_t threads = 0;
  if (GetInt("HOROVOD_MPI_THREADS_DISABLE", &threads)) c.mpi_threads_disable = threads > 0;
  GetInt("HVD_MPI_MAX_CHUNK_BYTES", &c.max_chunk_bytes);
  c.max_chunk_bytes = std::clamp<int64_t>(c.max_chunk_bytes, 8, int64_t{1} << 30);
  if (const char* a = std::getenv("HVD_ALLREDUCE_ALGORITHM")) {
    std::string s(a);
    if (s == "mpi") c.allreduce_algorithm = Algorithm::kMpi;
    else if (s == "ring") c.allreduce_algorithm = Algorithm::kRing;
    else c.allreduce_algorithm = Algorithm::kAuto;
  }
  GetInt("HVD_RING_THRESHOLD_BYTES", &c.ring_threshold_bytes);
  GetInt("HVD_RING_SEGMENT_BYTES", &c.ring_segment_bytes);
  c.ring_segment_bytes = std::clamp<int64_t>(c.ring_segment_bytes, 64, int64_t{1} << 30);
  int64_t div = 0;
  if (GetInt("HVD_CHECK_DIVERGENCE", &div)) c.check_divergence = div > 0;
  GetInt("HVD_ABORT_GRACE_MS", &c.abort_grace_ms);
  if (const char* tl = std::getenv("HOROVOD_TIMELINE")) c.timeline_path = tl;
  int64_t marks = 0;
  if (GetInt("HOROVOD_TIMELINE_MARK_CYCLES", &marks)) c.timeline_mark_cycles = marks > 0;
  if (const char* lvl = std::getenv("HOROVOD_LOG_LEVEL")) {
    std::string s(lvl);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (s == "trace") c.log_level = LogLevel::kTrace;
    else if (s == "debug") c.log_level = LogLevel::kDebug;
    else if (s == "info") c.log_level = LogLevel::kInfo;
    else if (s == "warning" || s == "warn") c.log_level = LogLevel::kWarning;
    else if (s == "error") c.log_level = LogLevel::kError;
    else if (s == "fatal") c.log_level = LogLevel::kFatal;
  }
  return c;
}

}  // namespace hvd::core
