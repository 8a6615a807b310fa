// HOROVOD_TIMELINE: a Chrome trace (open it in Perfetto or chrome://tracing)
// of what rank 0's engine did with each tensor: QUEUE (submitted, waiting for
// the engine), NEGOTIATE (waiting for every rank), MEMCPY_IN_FUSION_BUFFER,
// the collective itself (with its algorithm and size), MEMCPY_OUT_FUSION_BUFFER
// and CALLBACK (handing the result back). One lane per tensor name.
//
// The file is valid JSON at every moment: a separate process writes it
// (timeline_writer.h), appending complete events before a closing "]", so a
// job killed by SIGINT, SIGTERM or SIGKILL leaves a loadable trace of
// everything up to the last flush (at most kFlushInterval old). Only the
// engine thread calls it.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "timeline_writer.h"

namespace hvd::core {

class Timeline {
 public:
  using Clock = std::chrono::steady_clock;

  ~Timeline();
  // Opens `path` for writing; returns false (and logs) if it cannot.
  bool Open(const std::string& path, bool mark_cycles);
  bool enabled() const { return open_; }
  bool mark_cycles() const { return mark_cycles_; }

  // A complete event on `tensor`'s lane. `args` is a JSON object body
  // (without braces), e.g. "\"algorithm\":\"ring\",\"bytes\":4096".
  void Complete(const std::string& tensor, const char* phase, Clock::time_point start,
                Clock::time_point end, const std::string& args = "");
  void CycleStart();
  // Writes buffered events if the last flush is older than the interval.
  void MaybeFlush();
  void Flush();
  void Close();

 private:
  int Lane(const std::string& tensor);
  void Append(const std::string& event);
  int64_t Micros(Clock::time_point t) const;

  // Sends buffer_ to the writer (or writes it here when there is none).
  bool Send();

  bool open_ = false;
  int sock_ = -1;      // to the writer process
  pid_t writer_ = -1;
  TraceFile file_;     // written here only where the writer could not start
  bool mark_cycles_ = false;
  bool first_event_ = true;
  Clock::time_point origin_;
  Clock::time_point last_flush_;
  std::string buffer_;
  std::unordered_map<std::string, int> lanes_;
};

}  // namespace hvd::core
