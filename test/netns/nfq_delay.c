/* Delays every packet of an NFQUEUE by DELAY ms (the test kernel has no
 * netem). Usage: nfq_delay QUEUE DELAY_MS. Prints its counts on SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXQ 65536
static struct { uint32_t id; double due; } pending[MAXQ];
static int head = 0, tail = 0;
static volatile sig_atomic_t stop = 0;
static unsigned long seen = 0, accepted = 0;
static double delay_s;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
  (void)msg; (void)data; (void)qh;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (!ph) return 0;
  seen++;
  pending[tail].id = ntohl(ph->packet_id);
  pending[tail].due = now() + delay_s;
  tail = (tail + 1) % MAXQ;
  return 0;
}

static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: nfq_delay QUEUE DELAY_MS\n"); return 2; }
  int qnum = atoi(argv[1]);
  delay_s = atof(argv[2]) / 1000.0;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  struct nfq_handle *h = nfq_open();
  if (!h) { perror("nfq_open"); return 1; }
  struct nfq_q_handle *qh = nfq_create_queue(h, qnum, &on_packet, NULL);
  if (!qh) { perror("nfq_create_queue"); return 1; }
  nfq_set_mode(qh, NFQNL_COPY_META, 0);
  nfq_set_queue_maxlen(qh, MAXQ - 1);
  int fd = nfq_fd(h);
  char buf[65536] __attribute__((aligned));
  printf("ready\n");
  fflush(stdout);
  while (!stop) {
    int timeout_ms = 1;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) > 0) {
      int rv = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (rv > 0) nfq_handle_packet(h, buf, rv);
    }
    double t = now();
    while (head != tail && pending[head].due <= t) {
      nfq_set_verdict(qh, pending[head].id, NF_ACCEPT, 0, NULL);
      accepted++;
      head = (head + 1) % MAXQ;
    }
  }
  while (head != tail) { nfq_set_verdict(qh, pending[head].id, NF_ACCEPT, 0, NULL); accepted++; head = (head + 1) % MAXQ; }
  printf("seen=%lu accepted=%lu\n", seen, accepted);
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
