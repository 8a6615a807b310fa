/*
 * nfq_delay: a fixed-delay line for packets, for kernels without sch_netem.
 *
 *   nfq_delay QUEUE DELAY_MS [LOSS_PCT]
 *
 * Binds to NFQUEUE number QUEUE, holds every packet it is given for DELAY_MS
 * milliseconds and then accepts it (or drops it, with probability LOSS_PCT
 * percent). Only packet metadata is copied to user space, and GSO packets are
 * queued whole, so the cost per packet is small. Packets leave in arrival
 * order, because every one gets the same delay.
 *
 * Prints "nfq_delay ready queue=Q delay_ms=D loss_pct=L" once bound.
 * SIGUSR1 prints the counters; SIGTERM/SIGINT accept every held packet,
 * print the counters ("nfq_delay counts in=N accepted=N dropped=N
 * max_held=N") and exit 0.
 *
 * Build: gcc -O2 -o nfq_delay nfq_delay.c -lnetfilter_queue -lnfnetlink
 * Part of hvd's multi-host test harness (test/multihost/).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING_SIZE 65536u /* power of two */

struct held {
  uint32_t id;
  int64_t due_ns;
};

static struct held ring[RING_SIZE];
static uint32_t ring_head, ring_tail; /* head: oldest; tail: next free */
static int64_t delay_ns;
static double loss_fraction;
static unsigned long long n_in, n_accepted, n_dropped, n_overflow;
static uint32_t max_held;
static volatile sig_atomic_t stop_requested, report_requested;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void print_counts(const char *what) {
  printf("nfq_delay %s in=%llu accepted=%llu dropped=%llu overflow=%llu max_held=%u\n", what, n_in, n_accepted,
         n_dropped, n_overflow, max_held);
  fflush(stdout);
}

static void release(struct nfq_q_handle *qh, uint32_t id, int allow_loss) {
  int verdict = NF_ACCEPT;
  if (allow_loss && loss_fraction > 0 && drand48() < loss_fraction) verdict = NF_DROP;
  if (nfq_set_verdict(qh, id, verdict, 0, NULL) < 0) {
    /* The kernel may have dropped it already (e.g. the queue was flushed). */
  }
  if (verdict == NF_ACCEPT)
    n_accepted++;
  else
    n_dropped++;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfad, void *data) {
  (void)msg;
  (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfad);
  if (!ph) return 0;
  uint32_t id = ntohl(ph->packet_id);
  n_in++;
  if (ring_tail - ring_head >= RING_SIZE) {
    /* Full: fail open rather than stall the link. */
    n_overflow++;
    release(qh, id, 1);
    return 0;
  }
  ring[ring_tail % RING_SIZE].id = id;
  ring[ring_tail % RING_SIZE].due_ns = now_ns() + delay_ns;
  ring_tail++;
  if (ring_tail - ring_head > max_held) max_held = ring_tail - ring_head;
  return 0;
}

static void on_signal(int sig) {
  if (sig == SIGUSR1)
    report_requested = 1;
  else
    stop_requested = 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s QUEUE DELAY_MS [LOSS_PCT]\n", argv[0]);
    return 2;
  }
  int queue = atoi(argv[1]);
  double delay_ms = atof(argv[2]);
  double loss_pct = argc > 3 ? atof(argv[3]) : 0.0;
  if (queue < 0 || queue > 65535 || delay_ms < 0 || loss_pct < 0 || loss_pct > 100) {
    fprintf(stderr, "nfq_delay: bad arguments\n");
    return 2;
  }
  delay_ns = (int64_t)(delay_ms * 1e6);
  loss_fraction = loss_pct / 100.0;
  srand48((long)now_ns() ^ (long)getpid());

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);

  struct nfq_handle *h = nfq_open();
  if (!h) {
    perror("nfq_delay: nfq_open");
    return 1;
  }
  /* Harmless on current kernels; required by old ones. */
  nfq_unbind_pf(h, AF_INET);
  if (nfq_bind_pf(h, AF_INET) < 0) {
    perror("nfq_delay: nfq_bind_pf");
    return 1;
  }
  struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
  if (!qh) {
    perror("nfq_delay: nfq_create_queue");
    return 1;
  }
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
    perror("nfq_delay: nfq_set_mode");
    return 1;
  }
  nfq_set_queue_maxlen(qh, RING_SIZE);
  /* Whole GSO packets (no segmentation on the way to us); accept when full. */
  nfq_set_queue_flags(qh, NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 8 * 1024 * 1024);

  int fd = nfq_fd(h);
  static char buf[65536] __attribute__((aligned));
  printf("nfq_delay ready queue=%d delay_ms=%g loss_pct=%g\n", queue, delay_ms, loss_pct);
  fflush(stdout);

  while (!stop_requested) {
    if (report_requested) {
      report_requested = 0;
      print_counts("counts");
    }
    /* Release everything that is due. */
    int64_t t = now_ns();
    while (ring_head != ring_tail && ring[ring_head % RING_SIZE].due_ns <= t) {
      release(qh, ring[ring_head % RING_SIZE].id, 1);
      ring_head++;
    }
    int timeout_ms = -1;
    if (ring_head != ring_tail) {
      int64_t wait_ns = ring[ring_head % RING_SIZE].due_ns - t;
      timeout_ms = (int)((wait_ns + 999999) / 1000000);
      if (timeout_ms < 0) timeout_ms = 0;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      perror("nfq_delay: poll");
      break;
    }
    if (r == 0) continue;
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        if (errno == ENOBUFS) continue; /* the kernel dropped messages; keep going */
        perror("nfq_delay: recv");
        stop_requested = 1;
        break;
      }
      nfq_handle_packet(h, buf, (int)n);
    }
  }

  /* Let every held packet through before leaving. */
  while (ring_head != ring_tail) {
    release(qh, ring[ring_head % RING_SIZE].id, 0);
    ring_head++;
  }
  print_counts("counts");
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
