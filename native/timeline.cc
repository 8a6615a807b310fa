#include "timeline.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "logging.h"

namespace hvd::core {
namespace {
constexpr auto kFlushInterval = std::chrono::milliseconds(100);
constexpr size_t kFlushBytes = 1 << 16;

std::string JsonEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

Timeline::~Timeline() { Close(); }

bool Timeline::Open(const std::string& path, bool mark_cycles) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || !file_.Start(fd)) {
    HVD_LOG(kError, "HOROVOD_TIMELINE: cannot open '" << path << "' for writing (is it a directory, or is its folder missing?)");
    if (fd >= 0) close(fd);
    file_.Resume(-1, 0);
    return false;
  }
  std::string helper = TimelineWriterPath();
  writer_ = StartTimelineWriter(helper, file_, &sock_);
  if (writer_ < 0) {
    HVD_LOG(kWarning, "HOROVOD_TIMELINE: cannot start the trace writer '" << helper << "' (" << std::strerror(errno)
                          << "); rank 0 writes the trace itself, and a kill during a write can cut its last event");
  } else {
    close(fd);  // the writer has its own copy
    file_.Resume(-1, file_.end());
  }
  open_ = true;
  first_event_ = true;  // a Timeline may be opened again after Close
  lanes_.clear();
  buffer_.clear();
  mark_cycles_ = mark_cycles;
  origin_ = Clock::now();
  last_flush_ = origin_;
  Append("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"args\":{\"name\":\"hvd rank 0\"}}");
  return true;
}

int64_t Timeline::Micros(Clock::time_point t) const {
  return std::chrono::duration_cast<std::chrono::microseconds>(t - origin_).count();
}

int Timeline::Lane(const std::string& tensor) {
  auto it = lanes_.find(tensor);
  if (it != lanes_.end()) return it->second;
  int lane = static_cast<int>(lanes_.size()) + 1;
  lanes_.emplace(tensor, lane);
  Append("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":" + std::to_string(lane) +
         ",\"args\":{\"name\":\"" + JsonEscape(tensor) + "\"}}");
  return lane;
}

void Timeline::Append(const std::string& event) {
  // One record per line, every one but the first led by "," (timeline_writer.h).
  if (!first_event_) buffer_ += ',';
  first_event_ = false;
  buffer_ += event;
  buffer_ += '\n';
  if (buffer_.size() >= kFlushBytes) Flush();
}

void Timeline::Complete(const std::string& tensor, const char* phase, Clock::time_point start,
                        Clock::time_point end, const std::string& args) {
  if (!open_) return;
  int lane = Lane(tensor);
  int64_t ts = Micros(start);
  int64_t dur = std::max<int64_t>(0, Micros(end) - ts);
  Append("{\"name\":\"" + std::string(phase) + "\",\"ph\":\"X\",\"pid\":0,\"tid\":" + std::to_string(lane) +
         ",\"ts\":" + std::to_string(ts) + ",\"dur\":" + std::to_string(dur) + ",\"args\":{\"tensor\":\"" +
         JsonEscape(tensor) + "\"" + (args.empty() ? "" : "," + args) + "}}");
}

void Timeline::CycleStart() {
  if (!open_ || !mark_cycles_) return;
  Append("{\"name\":\"CYCLE_START\",\"ph\":\"i\",\"s\":\"g\",\"pid\":0,\"tid\":0,\"ts\":" +
         std::to_string(Micros(Clock::now())) + "}");
}

void Timeline::MaybeFlush() {
  if (open_ && !buffer_.empty() && Clock::now() - last_flush_ >= kFlushInterval) Flush();
}

void Timeline::Flush() {
  if (!open_) return;
  last_flush_ = Clock::now();
  if (buffer_.empty()) return;
  if (!Send()) {
    HVD_LOG(kError, "HOROVOD_TIMELINE: the trace writer stopped (" << std::strerror(errno)
                        << "); the rest of this job is not recorded");
    open_ = false;
  }
  buffer_.clear();
}

bool Timeline::Send() {
  if (writer_ < 0) return file_.Append(buffer_.data(), buffer_.size());
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    ssize_t n = send(sock_, p, left, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

void Timeline::Close() {
  if (sock_ < 0 && file_.fd() < 0) return;  // never opened, or closed
  Flush();
  open_ = false;
  if (writer_ >= 0) {
    // The writer finishes the file when the socket closes; waiting for it
    // means the trace is complete once shutdown returns.
    close(sock_);
    sock_ = -1;
    while (waitpid(writer_, nullptr, 0) < 0 && errno == EINTR) {
    }
    writer_ = -1;
  } else if (file_.fd() >= 0) {
    close(file_.fd());
  }
  file_.Resume(-1, 0);
}

}  // namespace hvd::core
