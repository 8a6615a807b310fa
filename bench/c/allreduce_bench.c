/*
 * Raw-MPI baseline for `npm run bench`: MPI_Allreduce of float32 SUM, out of
 * place (distinct send and receive buffers) and in place (MPI_IN_PLACE), for
 * sizes min..max bytes in steps of xfactor, plus the grouped reference (one
 * allreduce of --grouped-bytes, and --grouped-count separate allreduces of
 * --grouped-bytes/--grouped-count each).
 *
 * Method (the same as bench/allreduce_hvd.js, so the two are comparable):
 *   1. Warm-up and calibration: run batches of 1, 2, 4, ... iterations until
 *      --warmup-s of wall time has passed (at least --min-warmup iterations).
 *      Rank 0's time of the last batch gives the per-iteration estimate; it is
 *      broadcast so that every rank runs exactly the same number of calls.
 *   2. Measurement: total = clamp(target_s / estimate, min_iters, max_iters)
 *      iterations, split into up to --batches batches of equal length b. Each
 *      batch starts after an MPI_Barrier and is timed with MPI_Wtime on rank 0;
 *      the batch time divided by b is one sample.
 *   3. Report: the median of the samples (and min / max / mean) in
 *      microseconds, as one JSON object per line on rank 0's stdout.
 *
 * Buffers (--buffers, each set measured in turn at every size):
 *   malloc  posix_memalign 64-byte aligned, like a V8 ArrayBuffer: 4 KiB pages
 *           (THP is madvise-only on the machines measured); modes out, inplace
 *   huge    mmap'd 2 MiB aligned + madvise(MADV_HUGEPAGE) before first touch,
 *           as hvd's own pool hands out; modes out_huge, inplace_huge. The
 *           info row reports how much of them the kernel backed with huge
 *           pages (AnonHugePages in /proc/self/smaps for their ranges).
 * Mode out_fresh (in --modes, on by default; needs --buffers huge): out of
 * place from the malloc send buffer into a different huge-page receive
 * buffer each call, rotating over --fresh-window-bytes (default 32 MiB, at
 * least 2 buffers). It models what an API that returns a new result array
 * per call costs: hvd's allreduceSync outputs come from its pool, and V8
 * returns them only at its next young-generation collection, so a loop of
 * 4 MiB calls cycles through 8-10 blocks (measured with engineStats'
 * pool figures) and writes each result into memory that is no longer in
 * cache. The plain out mode reuses one receive buffer, which stays cached.
 * ALLREDUCE_HUGEPAGE=1 (older scripts) means --buffers huge.
 * The out-of-place send buffer holds 1.0f (checked once: the result is np);
 * the in-place buffer holds 0.0f so repeated sums stay finite.
 *
 * Usage: mpirun -np N allreduce_bench [--min-bytes 4] [--max-bytes 67108864]
 *          [--factor 4] [--sizes B,B,...] [--target-s 0.25] [--warmup-s 0.03]
 *          [--batches 15] [--modes out,inplace,out_fresh] [--buffers malloc,huge]
 *          [--fresh-window-bytes 33554432]
 *          [--grouped-bytes 409600] [--grouped-count 100] [--no-grouped] [--per-call 5000]
 * --sizes replaces the min/max/factor series by an explicit list.
 */
#define _GNU_SOURCE
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "buffers.h"

typedef struct {
  long long min_bytes, max_bytes, factor;
  double target_s, warmup_s;
  int batches, min_warmup, min_iters, max_iters;
  int do_out, do_inplace, do_fresh, do_grouped;
  long long fresh_window;
  long long grouped_bytes;
  int grouped_count;
  int use_malloc, use_huge;
  long long sizes[64];
  int nsizes;
  int per_call; /* sizes up to PER_CALL_MAX_BYTES: also time this many calls one by one */
} Options;

/* Small sizes are also timed one call at a time (the gap between consecutive
 * calls on rank 0), for a per-call median and p99 that leave out the
 * preemptions a batch mean includes. hvd's bench does the same. */
#define PER_CALL_MAX_BYTES 4096

static int g_rank, g_size;

static void die(const char* msg) {
  if (g_rank == 0) fprintf(stderr, "allreduce_bench: %s\n", msg);
  MPI_Abort(MPI_COMM_WORLD, 2);
  exit(2);
}

static float* alloc_floats(size_t count, int hugepage) {
  float* p = (float*)alloc_buffer(count * sizeof(float), hugepage);
  if (!p) die(hugepage ? "mmap failed" : "out of memory");
  return p;
}

static void free_floats(float* p, size_t count, int hugepage) { free_buffer(p, count * sizeof(float), hugepage); }

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

/* One timing unit: `calls` allreduces of `count` floats each (count*calls
 * floats laid out back to back in send/recv). */
typedef struct {
  float* send; /* NULL for in place */
  float* recv;
  int count;
  int calls;
  int rotate; /* out_fresh: receive buffers (count floats, `stride` apart) used in turn; 0 = one */
  size_t stride;
  int next;
} Op;

static void run_op(Op* op) {
  float* base = op->recv;
  if (op->rotate > 1) {
    base += (size_t)op->next * op->stride;
    op->next = (op->next + 1) % op->rotate;
  }
  for (int c = 0; c < op->calls; c++) {
    float* r = base + (size_t)c * op->count;
    if (op->send)
      MPI_Allreduce(op->send + (size_t)c * op->count, r, op->count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    else
      MPI_Allreduce(MPI_IN_PLACE, r, op->count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
}

static void measure(const Options* o, Op* op, const char* mode, long long bytes, const char* kind) {
  /* 1. warm-up + calibration (decisions taken on rank 0's clock, broadcast) */
  double est = 0, spent = 0;
  int warm_iters = 0;
  for (int k = 1;; k *= 2) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < k; i++) run_op(op);
    double dt = MPI_Wtime() - t0;
    MPI_Bcast(&dt, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    est = dt / k;
    spent += dt;
    warm_iters += k;
    if (spent >= o->warmup_s && warm_iters >= o->min_warmup) break;
    if (k >= (1 << 20)) break;
  }
  /* 2. measurement */
  long long total = (long long)(o->target_s / (est > 0 ? est : 1e-9));
  if (total < o->min_iters) total = o->min_iters;
  if (total > o->max_iters) total = o->max_iters;
  int nb = total < o->batches ? (int)total : o->batches;
  long long b = total / nb;
  if (b < 1) b = 1;
  double* samples = (double*)malloc(sizeof(double) * nb);
  for (int j = 0; j < nb; j++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (long long i = 0; i < b; i++) run_op(op);
    samples[j] = (MPI_Wtime() - t0) / (double)b * 1e6;
  }
  if (g_rank == 0) {
    double sum = 0;
    for (int j = 0; j < nb; j++) sum += samples[j];
    qsort(samples, nb, sizeof(double), cmp_double);
    double med = nb % 2 ? samples[nb / 2] : 0.5 * (samples[nb / 2 - 1] + samples[nb / 2]);
    printf(
        "{\"impl\":\"c\",\"kind\":\"%s\",\"mode\":\"%s\",\"bytes\":%lld,\"calls\":%d,\"np\":%d,"
        "\"warmup_iters\":%d,\"iters\":%lld,\"batches\":%d,\"batch_len\":%lld,"
        "\"median_us\":%.4f,\"min_us\":%.4f,\"max_us\":%.4f,\"mean_us\":%.4f}\n",
        kind, mode, bytes, op->calls, g_size, warm_iters, b * nb, nb, b, med, samples[0], samples[nb - 1], sum / nb);
    fflush(stdout);
  }
  free(samples);
  /* 3. per call (small sizes, one allreduce per unit) */
  if (o->per_call > 0 && bytes <= PER_CALL_MAX_BYTES && op->calls == 1) {
    double* t = (double*)malloc(sizeof(double) * (size_t)o->per_call);
    MPI_Barrier(MPI_COMM_WORLD);
    double prev = MPI_Wtime();
    for (int i = 0; i < o->per_call; i++) {
      run_op(op);
      double now = MPI_Wtime();
      t[i] = (now - prev) * 1e6;
      prev = now;
    }
    if (g_rank == 0) {
      qsort(t, (size_t)o->per_call, sizeof(double), cmp_double);
      printf("{\"impl\":\"c\",\"kind\":\"percall\",\"mode\":\"%s\",\"bytes\":%lld,\"np\":%d,\"percall_n\":%d,"
             "\"percall_p50_us\":%.4f,\"percall_p99_us\":%.4f}\n",
             mode, bytes, g_size, o->per_call, t[o->per_call / 2], t[(int)(0.99 * (o->per_call - 1))]);
      fflush(stdout);
    }
    free(t);
  }
}

/* Floats from `count` up to a whole number of 4 KiB pages: out_fresh's buffer spacing. */
static size_t page_floats(size_t count) { return (count * sizeof(float) + 4095) / 4096 * 4096 / sizeof(float); }

/* Whether comma-separated `list` holds `word`. */
static int has_token(const char* list, const char* word) {
  size_t n = strlen(word);
  for (const char* p = list; *p;) {
    const char* e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !strncmp(p, word, n)) return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

static long long parse_ll(const char* s) {
  char* end;
  long long v = strtoll(s, &end, 10);
  if (*end) die("bad integer argument");
  return v;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);

  Options o = {4, 64LL << 20, 4, 0.25, 0.03, 15, 2, 5, 1 << 24, 1, 1, 1, 1, 32LL << 20, 409600, 100, 1, 0, {0}, 0};
  o.per_call = 5000;
  const char* hp = getenv("ALLREDUCE_HUGEPAGE");
  if (hp && strcmp(hp, "1") == 0) o.use_malloc = 0, o.use_huge = 1;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() \
  do {          \
    if (!v) die("missing value"); \
    i++;        \
  } while (0)
    if (!strcmp(a, "--min-bytes")) { NEEDV(); o.min_bytes = parse_ll(v); }
    else if (!strcmp(a, "--max-bytes")) { NEEDV(); o.max_bytes = parse_ll(v); }
    else if (!strcmp(a, "--factor")) { NEEDV(); o.factor = parse_ll(v); }
    else if (!strcmp(a, "--target-s")) { NEEDV(); o.target_s = atof(v); }
    else if (!strcmp(a, "--warmup-s")) { NEEDV(); o.warmup_s = atof(v); }
    else if (!strcmp(a, "--batches")) { NEEDV(); o.batches = (int)parse_ll(v); }
    else if (!strcmp(a, "--min-iters")) { NEEDV(); o.min_iters = (int)parse_ll(v); }
    else if (!strcmp(a, "--per-call")) { NEEDV(); o.per_call = (int)parse_ll(v); }
    else if (!strcmp(a, "--grouped-bytes")) { NEEDV(); o.grouped_bytes = parse_ll(v); }
    else if (!strcmp(a, "--grouped-count")) { NEEDV(); o.grouped_count = (int)parse_ll(v); }
    else if (!strcmp(a, "--no-grouped")) { o.do_grouped = 0; }
    else if (!strcmp(a, "--no-sizes")) { o.do_out = o.do_inplace = 0; }
    else if (!strcmp(a, "--buffers")) {
      NEEDV();
      o.use_malloc = strstr(v, "malloc") != NULL;
      o.use_huge = strstr(v, "huge") != NULL;
      if (!o.use_malloc && !o.use_huge) die("--buffers takes malloc, huge or malloc,huge");
    } else if (!strcmp(a, "--sizes")) {
      NEEDV();
      o.nsizes = 0;
      for (const char* q = v; *q;) {
        char* end;
        long long b = strtoll(q, &end, 10);
        if (end == q || b < 4 || o.nsizes >= 64) die("--sizes takes up to 64 byte counts >= 4, comma-separated");
        o.sizes[o.nsizes++] = b;
        q = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') die("--sizes takes up to 64 byte counts >= 4, comma-separated");
      }
    } else if (!strcmp(a, "--modes")) {
      NEEDV();
      o.do_out = has_token(v, "out");
      o.do_inplace = has_token(v, "inplace");
      o.do_fresh = has_token(v, "out_fresh");
    } else if (!strcmp(a, "--fresh-window-bytes")) {
      NEEDV();
      o.fresh_window = parse_ll(v);
    } else die("unknown argument (see the comment at the top of allreduce_bench.c)");
#undef NEEDV
  }
  if (o.min_bytes < 4 || o.factor < 2 || o.batches < 1 || o.min_iters < 1 || o.fresh_window < 0) die("bad options");
  if (!o.use_huge || !o.use_malloc) o.do_fresh = 0; /* malloc send, huge-page receive */

  if (o.nsizes == 0) {
    for (long long b = o.min_bytes; b <= o.max_bytes && o.nsizes < 64; b *= o.factor) o.sizes[o.nsizes++] = b;
  }
  size_t max_count = 0;
  for (int k = 0; k < o.nsizes; k++)
    if ((size_t)(o.sizes[k] / 4) > max_count) max_count = (size_t)(o.sizes[k] / 4);
  size_t gcount = (size_t)(o.grouped_bytes / 4);
  if (gcount > max_count) max_count = gcount;
  /* [0]: malloc, [1]: huge pages */
  float* send[2] = {NULL, NULL};
  float* recv[2] = {NULL, NULL};
  long huge_backed = -1;
  for (int h = 0; h < 2; h++) {
    if (!(h ? o.use_huge : o.use_malloc)) continue;
    send[h] = alloc_floats(max_count, h);
    recv[h] = alloc_floats(max_count, h);
    for (size_t i = 0; i < max_count; i++) send[h][i] = 1.0f;
    memset(recv[h], 0, max_count * sizeof(float));
    if (h) huge_backed = huge_kb(send[h], max_count * sizeof(float)) + huge_kb(recv[h], max_count * sizeof(float));
  }

  /* out_fresh: receive buffers of the largest size, `fresh_n` of them */
  size_t fresh_stride = page_floats(max_count);
  int fresh_n = 0;
  float* fresh = NULL;
  if (o.do_fresh) {
    fresh_n = (int)((size_t)o.fresh_window / (fresh_stride * sizeof(float)));
    if (fresh_n < 2) fresh_n = 2;
    fresh = alloc_floats(fresh_stride * (size_t)fresh_n, 1);
    memset(fresh, 0, fresh_stride * (size_t)fresh_n * sizeof(float));
  }

  if (g_rank == 0) {
    int len = 0, major = 0, minor = 0;
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    MPI_Get_library_version(lib, &len);
    MPI_Get_version(&major, &minor);
    for (char* p = lib; *p; p++)
      if (*p == '"' || *p == '\\' || *p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    printf("{\"impl\":\"c\",\"kind\":\"info\",\"np\":%d,\"mpi_version\":\"%d.%d\",\"library\":\"%s\","
           "\"buffers\":\"%s%s%s\",\"huge_buffer_kb\":%lld,\"huge_backed_kb\":%ld,\"target_s\":%g,\"batches\":%d}\n",
           g_size, major, minor, lib, o.use_malloc ? "malloc" : "", o.use_malloc && o.use_huge ? "," : "", o.use_huge ? "huge" : "",
           o.use_huge ? (long long)(2 * huge_round(max_count * sizeof(float)) / 1024) : 0LL, huge_backed, o.target_s, o.batches);
    fflush(stdout);
  }

  /* sanity check: out of place sum of 1.0f over np ranks */
  for (int h = 0; h < 2; h++) {
    if (!send[h]) continue;
    int n = (int)(max_count < 1024 ? max_count : 1024);
    MPI_Allreduce(send[h], recv[h], n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++)
      if (recv[h][i] != (float)g_size) die("wrong allreduce result");
    memset(recv[h], 0, (size_t)n * sizeof(float));
  }

  for (int k = 0; (o.do_out || o.do_inplace) && k < o.nsizes; k++) {
    long long bytes = o.sizes[k];
    int count = (int)(bytes / 4);
    for (int h = 0; h < 2; h++) {
      if (!send[h]) continue;
      if (o.do_out) {
        Op op = {send[h], recv[h], count, 1, 0, 0, 0};
        measure(&o, &op, h ? "out_huge" : "out", bytes, "size");
      }
      if (o.do_fresh && h == 0) {
        /* as many buffers of this size as fit in the window (at least 2) */
        size_t stride = page_floats((size_t)count);
        size_t n = (size_t)o.fresh_window / (stride * sizeof(float));
        if (n < 2) n = 2;
        if (n * stride > fresh_stride * (size_t)fresh_n) n = fresh_stride * (size_t)fresh_n / stride;
        Op op = {send[0], fresh, count, 1, (int)n, stride, 0};
        measure(&o, &op, "out_fresh", bytes, "size");
      }
      if (o.do_inplace) {
        memset(recv[h], 0, (size_t)count * sizeof(float));
        Op op = {NULL, recv[h], count, 1, 0, 0, 0};
        measure(&o, &op, h ? "inplace_huge" : "inplace", bytes, "size");
      }
    }
  }

  if (o.do_grouped && o.grouped_count > 0) {
    /* the reference the grouped hvd call is judged against: one allreduce of all the bytes */
    int h = send[0] ? 0 : 1; /* plain buffers, as the hvd inputs are */
    Op one = {send[h], recv[h], (int)gcount, 1, 0, 0, 0};
    measure(&o, &one, "out", o.grouped_bytes, "grouped_one");
    /* and, for context, the same bytes as separate allreduces */
    Op many = {send[h], recv[h], (int)(gcount / o.grouped_count), o.grouped_count, 0, 0, 0};
    measure(&o, &many, "out", o.grouped_bytes, "grouped_separate");
  }

  if (fresh) free_floats(fresh, fresh_stride * (size_t)fresh_n, 1);
  for (int h = 0; h < 2; h++) {
    free_floats(send[h], max_count, h);
    free_floats(recv[h], max_count, h);
  }
  MPI_Finalize();
  return 0;
}
