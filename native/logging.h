// Minimal leveled logging to stderr, prefixed with the rank so interleaved
// mpirun output stays readable. Level comes from HOROVOD_LOG_LEVEL.
#pragma once

#include <sstream>
#include <string>

#include "config.h"

namespace hvd::core {

void SetLogContext(LogLevel level, int rank);
bool LogEnabled(LogLevel level);
void LogWrite(LogLevel level, const std::string& msg);

#define HVD_LOG(level, expr)                                   \
  do {                                                         \
    if (::hvd::core::LogEnabled(::hvd::core::LogLevel::level)) { \
      std::ostringstream hvd_log_os_;                          \
      hvd_log_os_ << expr;                                     \
      ::hvd::core::LogWrite(::hvd::core::LogLevel::level, hvd_log_os_.str()); \
    }                                                          \
  } while (0)

}  // namespace hvd::core
