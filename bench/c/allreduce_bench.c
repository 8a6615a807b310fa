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
 * Buffers come from malloc (64-byte aligned), like a V8 ArrayBuffer: no huge
 * pages unless ALLREDUCE_HUGEPAGE=1 (then 2 MiB aligned + MADV_HUGEPAGE).
 * The out-of-place send buffer holds 1.0f (checked once: the result is np);
 * the in-place buffer holds 0.0f so repeated sums stay finite.
 *
 * Usage: mpirun -np N allreduce_bench [--min-bytes 4] [--max-bytes 67108864]
 *          [--factor 4] [--target-s 0.25] [--warmup-s 0.03] [--batches 15]
 *          [--modes out,inplace] [--grouped-bytes 409600] [--grouped-count 100]
 *          [--no-grouped]
 */
#define _GNU_SOURCE
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct {
  long long min_bytes, max_bytes, factor;
  double target_s, warmup_s;
  int batches, min_warmup, min_iters, max_iters;
  int do_out, do_inplace, do_grouped;
  long long grouped_bytes;
  int grouped_count;
  int hugepage;
} Options;

static int g_rank, g_size;

static void die(const char* msg) {
  if (g_rank == 0) fprintf(stderr, "allreduce_bench: %s\n", msg);
  MPI_Abort(MPI_COMM_WORLD, 2);
  exit(2);
}

static float* alloc_floats(size_t count, int hugepage) {
  size_t bytes = count * sizeof(float);
  if (bytes == 0) bytes = sizeof(float);
  void* p = NULL;
  size_t align = hugepage ? (size_t)2 << 20 : 64;
  if (hugepage) bytes = (bytes + align - 1) / align * align;
  if (posix_memalign(&p, align, bytes) != 0) die("out of memory");
  if (hugepage) madvise(p, bytes, MADV_HUGEPAGE);
  return (float*)p;
}

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
} Op;

static void run_op(const Op* op) {
  for (int c = 0; c < op->calls; c++) {
    float* r = op->recv + (size_t)c * op->count;
    if (op->send)
      MPI_Allreduce(op->send + (size_t)c * op->count, r, op->count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    else
      MPI_Allreduce(MPI_IN_PLACE, r, op->count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
}

static void measure(const Options* o, const Op* op, const char* mode, long long bytes, const char* kind) {
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

  Options o = {4, 64LL << 20, 4, 0.25, 0.03, 15, 2, 5, 1 << 24, 1, 1, 1, 409600, 100, 0};
  const char* hp = getenv("ALLREDUCE_HUGEPAGE");
  o.hugepage = hp && strcmp(hp, "1") == 0;
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
    else if (!strcmp(a, "--grouped-bytes")) { NEEDV(); o.grouped_bytes = parse_ll(v); }
    else if (!strcmp(a, "--grouped-count")) { NEEDV(); o.grouped_count = (int)parse_ll(v); }
    else if (!strcmp(a, "--no-grouped")) { o.do_grouped = 0; }
    else if (!strcmp(a, "--no-sizes")) { o.do_out = o.do_inplace = 0; }
    else if (!strcmp(a, "--modes")) {
      NEEDV();
      o.do_out = strstr(v, "out") != NULL;
      o.do_inplace = strstr(v, "inplace") != NULL;
    } else die("unknown argument (see the comment at the top of allreduce_bench.c)");
#undef NEEDV
  }
  if (o.min_bytes < 4 || o.factor < 2 || o.batches < 1 || o.min_iters < 1) die("bad options");

  size_t max_count = (size_t)(o.max_bytes / 4);
  size_t gcount = (size_t)(o.grouped_bytes / 4);
  if (gcount > max_count) max_count = gcount;
  float* send = alloc_floats(max_count, o.hugepage);
  float* recv = alloc_floats(max_count, o.hugepage);
  for (size_t i = 0; i < max_count; i++) send[i] = 1.0f;
  memset(recv, 0, max_count * sizeof(float));

  if (g_rank == 0) {
    int len = 0, major = 0, minor = 0;
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    MPI_Get_library_version(lib, &len);
    MPI_Get_version(&major, &minor);
    for (char* p = lib; *p; p++)
      if (*p == '"' || *p == '\\' || *p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    printf("{\"impl\":\"c\",\"kind\":\"info\",\"np\":%d,\"mpi_version\":\"%d.%d\",\"library\":\"%s\","
           "\"hugepage\":%s,\"target_s\":%g,\"batches\":%d}\n",
           g_size, major, minor, lib, o.hugepage ? "true" : "false", o.target_s, o.batches);
    fflush(stdout);
  }

  /* sanity check: out of place sum of 1.0f over np ranks */
  {
    int n = (int)(max_count < 1024 ? max_count : 1024);
    MPI_Allreduce(send, recv, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++)
      if (recv[i] != (float)g_size) die("wrong allreduce result");
    memset(recv, 0, (size_t)n * sizeof(float));
  }

  for (long long bytes = o.min_bytes; (o.do_out || o.do_inplace) && bytes <= o.max_bytes; bytes *= o.factor) {
    int count = (int)(bytes / 4);
    if (o.do_out) {
      Op op = {send, recv, count, 1};
      measure(&o, &op, "out", bytes, "size");
    }
    if (o.do_inplace) {
      memset(recv, 0, (size_t)count * sizeof(float));
      Op op = {NULL, recv, count, 1};
      measure(&o, &op, "inplace", bytes, "size");
    }
  }

  if (o.do_grouped && o.grouped_count > 0) {
    /* the reference the grouped hvd call is judged against: one allreduce of all the bytes */
    Op one = {send, recv, (int)gcount, 1};
    measure(&o, &one, "out", o.grouped_bytes, "grouped_one");
    /* and, for context, the same bytes as separate allreduces */
    Op many = {send, recv, (int)(gcount / o.grouped_count), o.grouped_count};
    measure(&o, &many, "out", o.grouped_bytes, "grouped_separate");
  }

  free(send);
  free(recv);
  MPI_Finalize();
  return 0;
}
