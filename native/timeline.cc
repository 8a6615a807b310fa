#include "timeline.h"

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
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr) {
    HVD_LOG(kError, "HOROVOD_TIMELINE: cannot open '" << path << "' for writing (is it a directory, or is its folder missing?)");
    return false;
  }
  mark_cycles_ = mark_cycles;
  origin_ = Clock::now();
  last_flush_ = origin_;
  std::fputs("[\n", file_);
  end_offset_ = std::ftell(file_);
  std::fputs("]\n", file_);
  std::fflush(file_);
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
  if (!first_event_) buffer_ += ",\n";
  first_event_ = false;
  buffer_ += event;
  if (buffer_.size() >= kFlushBytes) Flush();
}

void Timeline::Complete(const std::string& tensor, const char* phase, Clock::time_point start,
                        Clock::time_point end, const std::string& args) {
  if (!file_) return;
  int lane = Lane(tensor);
  int64_t ts = Micros(start);
  int64_t dur = std::max<int64_t>(0, Micros(end) - ts);
  Append("{\"name\":\"" + std::string(phase) + "\",\"ph\":\"X\",\"pid\":0,\"tid\":" + std::to_string(lane) +
         ",\"ts\":" + std::to_string(ts) + ",\"dur\":" + std::to_string(dur) + ",\"args\":{\"tensor\":\"" +
         JsonEscape(tensor) + "\"" + (args.empty() ? "" : "," + args) + "}}");
}

void Timeline::CycleStart() {
  if (!file_ || !mark_cycles_) return;
  Append("{\"name\":\"CYCLE_START\",\"ph\":\"i\",\"s\":\"g\",\"pid\":0,\"tid\":0,\"ts\":" +
         std::to_string(Micros(Clock::now())) + "}");
}

void Timeline::MaybeFlush() {
  if (file_ && !buffer_.empty() && Clock::now() - last_flush_ >= kFlushInterval) Flush();
}

void Timeline::Flush() {
  if (!file_) return;
  last_flush_ = Clock::now();
  if (buffer_.empty()) return;
  // Overwrite the closing bracket, append, and close the array again.
  std::fseek(file_, end_offset_, SEEK_SET);
  std::fwrite(buffer_.data(), 1, buffer_.size(), file_);
  end_offset_ = std::ftell(file_);
  std::fputs("\n]\n", file_);
  std::fflush(file_);
  buffer_.clear();
}

void Timeline::Close() {
  if (!file_) return;
  Flush();
  std::fclose(file_);
  file_ = nullptr;
}

}  // namespace hvd::core
