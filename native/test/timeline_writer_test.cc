// TraceFile and the trace writer hvd-timeline (native/timeline_writer.h): the
// file is "[\n" + complete records + "]\n" after every append; the writer
// drops a record cut short, drops one longer than its buffer without losing
// the records around it, ignores SIGTERM and SIGINT, holds only its own
// memory, and exits when the socket closes.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "timeline_writer.h"

using namespace hvd::core;

namespace {

struct TempFile {
  TempFile() {
    char name[] = "/tmp/hvd-trace-XXXXXX";
    fd = mkstemp(name);
    path = name;
  }
  ~TempFile() {
    if (fd >= 0) close(fd);
    unlink(path.c_str());
  }
  std::string Read() const {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  int fd;
  std::string path;
};

void SendAll(int sock, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(sock, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    off += static_cast<size_t>(n);
  }
}

// A trace started in a temporary file with hvd-timeline writing it.
struct Writer {
  Writer() {
    started = trace.Start(file.fd);
    if (started) pid = StartTimelineWriter(HVD_TIMELINE_WRITER, trace, &sock);
  }
  // Closes the rank's end and returns the writer's wait status.
  int Finish() {
    close(sock);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }
  TempFile file;
  TraceFile trace;
  bool started = false;
  int sock = -1;
  pid_t pid = -1;
};

}  // namespace

TEST(TraceFile, ValidAfterEveryAppend) {
  TempFile f;
  TraceFile t;
  ASSERT_TRUE(t.Start(f.fd));
  EXPECT_EQ(f.Read(), "[\n]\n");
  ASSERT_TRUE(t.Append("{\"a\":1}\n", 8));
  EXPECT_EQ(f.Read(), "[\n{\"a\":1}\n]\n");
  ASSERT_TRUE(t.Append(",{\"b\":2}\n,{\"c\":3}\n", 18));
  EXPECT_EQ(f.Read(), "[\n{\"a\":1}\n,{\"b\":2}\n,{\"c\":3}\n]\n");
  ASSERT_TRUE(t.Append(nullptr, 0));
  EXPECT_EQ(f.Read(), "[\n{\"a\":1}\n,{\"b\":2}\n,{\"c\":3}\n]\n");
}

TEST(TimelineWriter, WritesWhatWasSentAndDropsACutRecord) {
  Writer w;
  ASSERT_TRUE(w.started);
  ASSERT_GT(w.pid, 0);
  // The job's signals do not end the writer, not even right after its start.
  ASSERT_EQ(kill(w.pid, SIGTERM), 0);
  ASSERT_EQ(kill(w.pid, SIGINT), 0);
  // Records split across sends arrive whole; the last one is never finished.
  SendAll(w.sock, "{\"name\":\"first\"}\n,{\"na");
  SendAll(w.sock, "me\":\"second\"}\n,{\"name\":\"thi");
  SendAll(w.sock, "rd\"}\n,{\"name\":\"cut");
  int status = w.Finish();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(w.file.Read(), "[\n{\"name\":\"first\"}\n,{\"name\":\"second\"}\n,{\"name\":\"third\"}\n]\n");
}

TEST(TimelineWriter, DropsARecordLongerThanItsBuffer) {
  Writer w;
  ASSERT_TRUE(w.started);
  ASSERT_GT(w.pid, 0);
  SendAll(w.sock, "{\"k\":1}\n,{\"huge\":\"" + std::string(3u << 20, 'x') + "\"}\n,{\"k\":2}\n");
  int status = w.Finish();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(w.file.Read(), "[\n{\"k\":1}\n,{\"k\":2}\n]\n");
}

TEST(TimelineWriter, AMissingHelperIsReported) {
  TempFile f;
  TraceFile t;
  ASSERT_TRUE(t.Start(f.fd));
  int sock = -1;
  EXPECT_EQ(StartTimelineWriter("/nonexistent/hvd-timeline", t, &sock), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(sock, -1);
}

TEST(TimelineWriter, PathIsBesideThisBinary) {
  std::string path = TimelineWriterPath();
  ASSERT_GE(path.size(), 13u);
  EXPECT_EQ(path.substr(path.size() - 13), "/hvd-timeline");
}
