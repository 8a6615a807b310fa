#include "timeline_writer.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>
#include <vector>

extern char** environ;

namespace hvd::core {
namespace {

// Records held while the rest of them arrives; a record longer than this
// (a tensor name of a megabyte) is dropped.
constexpr size_t kBufferBytes = size_t{1} << 20;
// Where the helper finds the socket and the trace.
constexpr int kSocketFd = 3;
constexpr int kFileFd = 4;

// Writes all of iov at `at`; false on an error.
bool WriteAll(int fd, struct iovec* iov, int count, off_t at) {
  int first = 0;
  for (;;) {
    while (first < count && iov[first].iov_len == 0) ++first;
    if (first == count) return true;
    ssize_t w = pwritev(fd, iov + first, count - first, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    at += w;
    size_t left = static_cast<size_t>(w);
    while (first < count && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < count) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
}

char kEmpty[] = "[\n]\n";

void CloseFrom(int lowest) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, static_cast<unsigned>(lowest), ~0U, 0) == 0) return;
#endif
  for (int fd = lowest; fd < 65536; ++fd) close(fd);
}

}  // namespace

bool TraceFile::Start(int fd) {
  fd_ = fd;
  struct iovec iov = {kEmpty, 4};
  if (!WriteAll(fd_, &iov, 1, 0)) return false;
  end_ = 2;
  return true;
}

bool TraceFile::Append(const char* records, size_t n) {
  // Overwrites the closing "]\n" with the records and a new "]\n", in one
  // write (a cut inside it needs a fatal signal to this process).
  struct iovec iov[2] = {{const_cast<char*>(records), n}, {kEmpty + 2, 2}};
  if (!WriteAll(fd_, iov, 2, end_)) return false;
  end_ += static_cast<off_t>(n);
  return true;
}

std::string TimelineWriterPath() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&TimelineWriterPath), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string self = info.dli_fname;
  size_t slash = self.rfind('/');
  return (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/hvd-timeline";
}

pid_t StartTimelineWriter(const std::string& helper, const TraceFile& file, int* sock) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  // Copies above the helper's fixed numbers, so that placing one cannot
  // overwrite the other.
  int s = fcntl(sv[1], F_DUPFD_CLOEXEC, 16);
  int f = fcntl(file.fd(), F_DUPFD_CLOEXEC, 16);
  close(sv[1]);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, s, kSocketFd);
  posix_spawn_file_actions_adddup2(&actions, f, kFileFd);
  // Not mpirun's pipes: a writer that held them would keep mpirun waiting.
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&actions, kFileFd + 1);
#endif
  // Every signal blocked until the helper has ignored the ones that end a
  // job, and every disposition back to its default (the rank's handlers mean
  // nothing there); its own session, so the terminal's ^C does not reach it.
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &all);
  posix_spawnattr_setsigdefault(&attr, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
#ifdef POSIX_SPAWN_SETSID
  flags |= POSIX_SPAWN_SETSID;
#endif
  posix_spawnattr_setflags(&attr, flags);
  std::string end = std::to_string(static_cast<long long>(file.end()));
  char* argv[] = {const_cast<char*>(helper.c_str()), const_cast<char*>(end.c_str()), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, helper.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(s);
  close(f);
  if (rc != 0) {
    close(sv[0]);
    errno = rc;
    return -1;
  }
  // Room for bursts, so the engine thread rarely waits for the writer.
  int bytes = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  *sock = sv[0];
  return pid;
}

int RunTimelineWriter(int sock, int fd, off_t end) {
  struct sigaction ignore;
  std::memset(&ignore, 0, sizeof(ignore));
  ignore.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) sigaction(sig, &ignore, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  prctl(PR_SET_NAME, "hvd-timeline", 0, 0, 0);
  // Where posix_spawn could not close the rank's other files.
  CloseFrom((sock > fd ? sock : fd) + 1);

  TraceFile out;
  out.Resume(fd, end);
  std::vector<char> held(kBufferBytes);
  char* buf = held.data();
  size_t have = 0;        // bytes held: at most one incomplete record
  bool dropping = false;  // inside a record longer than the buffer
  bool writable = true;   // false after a write error (disk full): read on, write nothing
  for (;;) {
    if (have == kBufferBytes) {
      dropping = true;
      have = 0;
    }
    ssize_t n = read(sock, buf + have, kBufferBytes - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the rank closed the socket, exited or died
    size_t start = have;
    have += static_cast<size_t>(n);
    size_t last = have;  // just past the last complete record
    while (last > start && buf[last - 1] != '\n') --last;
    if (last == start) continue;
    size_t from = 0;
    if (dropping) {
      while (buf[from] != '\n') ++from;
      ++from;
      dropping = false;
    }
    if (writable && last > from) writable = out.Append(buf + from, last - from);
    std::memmove(buf, buf + last, have - last);
    have -= last;
  }
  // What is left is a record the rank did not finish sending: dropped.
  close(fd);
  return writable ? 0 : 1;
}

}  // namespace hvd::core
