#include "timeline_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>

namespace hvd::core {
namespace {

// Records held while the rest of them arrives; a record longer than this
// (a tensor name of a megabyte) is dropped.
constexpr size_t kBufferBytes = size_t{1} << 20;
constexpr int kSocketFd = 3;
constexpr int kFileFd = 4;

// Everything below runs in the forked child of a multi-threaded process:
// system calls only, no allocation, no locks.
void CloseFrom(int lowest) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, static_cast<unsigned>(lowest), ~0U, 0) == 0) return;
#endif
  for (int fd = lowest; fd < 65536; ++fd) close(fd);
}

// Leaves the writer with the socket as fd 3, the trace as fd 4 and
// /dev/null as stdin, stdout and stderr, so it holds none of mpirun's pipes
// and none of the rank's MPI or shared-memory files.
void KeepOnly(int sock, int file) {
  int s = fcntl(sock, F_DUPFD, 16);
  int f = fcntl(file, F_DUPFD, 16);
  dup2(s, kSocketFd);
  dup2(f, kFileFd);
  CloseFrom(kFileFd + 1);
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > kFileFd) close(null);
  }
}

[[noreturn]] void RunWriter(TraceFile file, int sock) {
  struct sigaction ignore;
  std::memset(&ignore, 0, sizeof(ignore));
  ignore.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) sigaction(sig, &ignore, nullptr);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  setsid();
  prctl(PR_SET_NAME, "hvd-timeline", 0, 0, 0);
  KeepOnly(sock, file.fd());
  TraceFile out = file;
  out.Rebind(kFileFd);

  void* mem = mmap(nullptr, kBufferBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) _exit(1);
  char* buf = static_cast<char*>(mem);
  size_t have = 0;        // bytes held: at most one incomplete record
  bool dropping = false;  // inside a record longer than the buffer
  bool writable = true;   // false after a write error (disk full): read on, write nothing
  for (;;) {
    if (have == kBufferBytes) {
      dropping = true;
      have = 0;
    }
    ssize_t n = read(kSocketFd, buf + have, kBufferBytes - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the rank closed the socket, exited or died
    size_t start = have;
    have += static_cast<size_t>(n);
    size_t end = have;  // just past the last complete record
    while (end > start && buf[end - 1] != '\n') --end;
    if (end == start) continue;
    size_t from = 0;
    if (dropping) {
      while (buf[from] != '\n') ++from;
      ++from;
      dropping = false;
    }
    if (writable && end > from) writable = out.Append(buf + from, end - from);
    std::memmove(buf, buf + end, have - end);
    have -= end;
  }
  // What is left is a record the rank did not finish sending: dropped.
  close(kFileFd);
  _exit(0);
}

}  // namespace

namespace {
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

pid_t StartTimelineWriter(const TraceFile& file, int* sock) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  // The child starts with every signal blocked, so none can end it before
  // it ignores the ones that end the job.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    RunWriter(file, sv[1]);
  }
  int e = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    close(sv[0]);
    close(sv[1]);
    errno = e;
    return -1;
  }
  close(sv[1]);
  // Room for bursts, so the engine thread rarely waits for the writer.
  int bytes = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  *sock = sv[0];
  return pid;
}

}  // namespace hvd::core
