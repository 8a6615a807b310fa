// The process that writes HOROVOD_TIMELINE's file, so that the trace outlives
// the rank that records it.
//
// A rank killed while it writes its own file can leave half an event behind:
// a fatal signal (SIGKILL, or SIGTERM/SIGINT without a handler) cuts a write()
// short at a page boundary, and no layout of a JSON array survives that, since
// the closing "]" has to move from one page to the next. (Measured: 1 trace in
// 40 was cut when the old in-process writer's job got SIGTERM at 45 MB/s of
// events.) So rank 0 starts a writer, the small program `hvd-timeline` built
// next to the addon (native/tools/timeline_writer_main.cc), with posix_spawn:
// a fresh process, so it shares none of the rank's memory (a fork would share
// all of it copy-on-write for as long as the writer lives, doubling what the
// rank rewrites and splitting its huge pages). The writer ignores SIGINT,
// SIGTERM, SIGHUP, SIGQUIT and SIGPIPE from its first instruction, runs in a
// session of its own and holds none of the rank's files but the trace. The
// rank sends it whole records over a socket; it appends each batch of
// complete records together with a closing "]" in one write. When the rank
// closes the socket, exits or is killed, the writer writes what is left,
// drops a record cut short (there is none unless the rank died inside a
// send) and exits: the file is valid JSON at every moment and holds every
// event the rank flushed.
//
// The stream: records, each a JSON value followed by "\n" (JSON escaping keeps
// "\n" out of a record), every record but the first preceded by ",". The file
// is "[\n" + the complete records + "]\n".
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace hvd::core {

// Appends complete records to a trace file, keeping it valid JSON between
// writes. The writer uses it, and so does rank 0 where the writer could not
// start.
class TraceFile {
 public:
  // Writes "[\n]\n" to `fd` (an empty, writable file). False on a write error.
  bool Start(int fd);
  // Appends `n` bytes of complete records and the closing "]\n" in one write.
  bool Append(const char* records, size_t n);
  int fd() const { return fd_; }
  off_t end() const { return end_; }
  // Continues a trace that another TraceFile started on the same file.
  void Resume(int fd, off_t end) {
    fd_ = fd;
    end_ = end;
  }

 private:
  int fd_ = -1;
  off_t end_ = 0;  // where the closing "]" starts
};

// The writer's path: `hvd-timeline` in the directory of the binary that
// holds this code (the addon, or a test program). Empty if unknown.
std::string TimelineWriterPath();

// Starts `helper` as the writer of `file` (started; the parent may close its
// copy of the descriptor afterwards). On success returns the writer's pid and
// stores the rank's end of the socket in *sock; on failure returns -1 with
// errno set (ENOENT: no such helper).
pid_t StartTimelineWriter(const std::string& helper, const TraceFile& file, int* sock);

// The writer's loop (the helper's main): reads records from `sock` and
// appends them to the trace `fd`, whose closing "]" starts at `end`, until
// the socket closes. Returns the exit status.
int RunTimelineWriter(int sock, int fd, off_t end);

}  // namespace hvd::core
