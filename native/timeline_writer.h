// The process that writes HOROVOD_TIMELINE's file, so that the trace outlives
// the rank that records it.
//
// A rank killed while it writes its own file can leave half an event behind:
// a fatal signal (SIGKILL, or SIGTERM/SIGINT without a handler) cuts a write()
// short at a page boundary, and no layout of a JSON array survives that, since
// the closing "]" has to move from one page to the next. (Measured: 1 trace in
// 40 was cut when the old in-process writer's job got SIGTERM at 45 MB/s of
// events.) So rank 0 forks a writer at Open. The writer ignores SIGINT, SIGTERM,
// SIGHUP and SIGPIPE, leaves the terminal's process group and holds no file of
// the rank's but the trace; the rank sends it whole records over a socket, and
// it appends each batch of complete records together with a closing "]".
// When the rank closes the socket, exits or is killed, the writer reads what
// is left, drops a record cut short (there is none unless the rank died inside
// a send) and exits: the file is valid JSON at every moment, and holds every
// event the rank flushed.
//
// The stream: records, each a JSON value followed by "\n" (JSON escaping keeps
// "\n" out of a record), every record but the first preceded by ",". The file
// is "[\n" + the complete records + "]\n".
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace hvd::core {

// Appends complete records to a trace file, keeping it valid JSON between
// writes. Uses nothing but system calls (it runs in the forked writer, where
// the rank's other threads' locks may be held).
class TraceFile {
 public:
  // Writes "[\n]\n" to `fd` (an empty, writable file). False on a write error.
  bool Start(int fd);
  // Appends `n` bytes of complete records and the closing "]\n" in one write.
  bool Append(const char* records, size_t n);
  int fd() const { return fd_; }
  void Rebind(int fd) { fd_ = fd; }

 private:
  int fd_ = -1;
  off_t end_ = 0;  // where the closing "]" starts
};

// Forks the writer for `file` (started; the parent may close its copy of the
// descriptor afterwards). On success returns the writer's pid and stores the
// rank's end of the socket in *sock; -1 if the socket or fork failed (errno
// is kept).
pid_t StartTimelineWriter(const TraceFile& file, int* sock);

}  // namespace hvd::core
