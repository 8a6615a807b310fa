#include "logging.h"

#include <atomic>
#include <cstdio>

namespace hvd::core {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kWarning)};
std::atomic<int> g_rank{-1};

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace: return "TRACE";
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kError: return "ERROR";
    case LogLevel::kFatal: return "FATAL";
  }
  return "?";
}
}  // namespace

void SetLogContext(LogLevel level, int rank) {
  g_level = static_cast<int>(level);
  g_rank = rank;
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void LogWrite(LogLevel level, const std::string& msg) {
  std::string line = "[hvd";
  int r = g_rank.load();
  if (r >= 0) line += " rank " + std::to_string(r);
  line += "] ";
  line += LevelName(level);
  line += ": " + msg + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace hvd::core
