/*
 * The C baseline inside an hvd process, for bench/interleaved.js: plain
 * MPI_Allreduce calls (float32 SUM, out of place, on MPI_COMM_WORLD) made
 * from the JS thread between hvd's own calls, so that C and hvd are timed in
 * alternating batches of the same processes. On the VM this bench was
 * written on, the speed of shared memory and TCP between the two ranks
 * changes by up to 4x from one launch to the next and sometimes inside one
 * (README, Performance): separate C and hvd launches compare two draws,
 * alternating batches compare the same one.
 *
 * The buffers are those of bench/c/allreduce_bench.c: 64-byte aligned
 * posix_memalign ("malloc") and 2 MiB aligned mmap + MADV_HUGEPAGE ("huge"),
 * allocated and touched once by init(); and its out_fresh mode ("fresh"):
 * from the malloc send buffer into a different huge-page receive buffer each
 * call, rotating over 32 MiB (at least 2 buffers), which is what an API that
 * returns a new result array per call costs (allreduce_bench.c explains). hvd initializes MPI with
 * MPI_THREAD_MULTIPLE (native/mpi_context.cc), which makes these calls from
 * a second thread legal; init() refuses any lower level.
 *
 *   init(maxBytes)                 -> { np, threadLevel, hugeBackedKb }
 *   run(kind, bytes, calls)        -> microseconds for `calls` allreduces of `bytes`;
 *                                     kind 0: malloc, 1: huge, 2: fresh
 *   release()
 *
 * Plain C over node_api.h: a bench tool, not part of hvd's addon.
 */
#define _GNU_SOURCE
#include <mpi.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "buffers.h"

static float* g_send[2];
static float* g_recv[2];
static size_t g_bytes; /* per buffer, rounded up to HUGE_ALIGN for the huge ones */
static float* g_fresh;  /* fresh receive buffers, g_fresh_bytes in all */
static size_t g_fresh_bytes;
static size_t g_fresh_next;
#define FRESH_WINDOW ((size_t)32 << 20)

static float* alloc_floats(size_t bytes, int huge) { return (float*)alloc_buffer(bytes, huge); }

static void release_all(void) {
  for (int h = 0; h < 2; h++) {
    free_buffer(g_send[h], g_bytes, h);
    free_buffer(g_recv[h], g_bytes, h);
    g_send[h] = g_recv[h] = NULL;
  }
  free_buffer(g_fresh, g_fresh_bytes, 1);
  g_fresh = NULL;
  g_fresh_bytes = g_fresh_next = 0;
  g_bytes = 0;
}

static napi_value throw_error(napi_env env, const char* msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return 0;
  return 1;
}

static napi_value set_number(napi_env env, napi_value obj, const char* key, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, key, n);
  return obj;
}

static napi_value Init(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  double max_bytes = 0;
  if (!get_args(env, info, 1, argv) || napi_get_value_double(env, argv[0], &max_bytes) != napi_ok || !(max_bytes >= 4))
    return throw_error(env, "init(maxBytes): maxBytes must be a number >= 4");
  int initialized = 0, level = 0, np = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return throw_error(env, "init: MPI is not initialized (call hvd.init() first)");
  MPI_Query_thread(&level);
  if (level < MPI_THREAD_MULTIPLE) return throw_error(env, "init: MPI runs below MPI_THREAD_MULTIPLE (HOROVOD_MPI_THREADS_DISABLE?)");
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  release_all();
  g_bytes = (size_t)max_bytes;
  size_t count = g_bytes / sizeof(float);
  for (int h = 0; h < 2; h++) {
    g_send[h] = alloc_floats(g_bytes, h);
    g_recv[h] = alloc_floats(g_bytes, h);
    if (!g_send[h] || !g_recv[h]) {
      release_all();
      return throw_error(env, "init: out of memory");
    }
    for (size_t i = 0; i < count; i++) g_send[h][i] = 1.0f;
    memset(g_recv[h], 0, g_bytes);
    /* the sum of 1.0f over np ranks, checked once */
    int n = (int)(count < 1024 ? count : 1024);
    MPI_Allreduce(g_send[h], g_recv[h], n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++) {
      if (g_recv[h][i] != (float)np) {
        release_all();
        return throw_error(env, "init: wrong MPI_Allreduce result");
      }
    }
  }
  /* fresh: at least two buffers of the largest size, and the 32 MiB window */
  g_fresh_bytes = 2 * huge_round(g_bytes) > FRESH_WINDOW ? 2 * huge_round(g_bytes) : FRESH_WINDOW;
  g_fresh = alloc_floats(g_fresh_bytes, 1);
  if (!g_fresh) {
    release_all();
    return throw_error(env, "init: out of memory");
  }
  memset(g_fresh, 0, g_fresh_bytes);
  napi_value out;
  napi_create_object(env, &out);
  set_number(env, out, "np", np);
  set_number(env, out, "threadLevel", level);
  set_number(env, out, "hugeBackedKb", (double)(huge_kb(g_send[1], g_bytes) + huge_kb(g_recv[1], g_bytes)));
  return out;
}

static napi_value Run(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t kind = -1;
  double bytes = 0, calls = 0;
  if (!get_args(env, info, 3, argv) || napi_get_value_int32(env, argv[0], &kind) != napi_ok ||
      napi_get_value_double(env, argv[1], &bytes) != napi_ok || napi_get_value_double(env, argv[2], &calls) != napi_ok)
    return throw_error(env, "run(kind, bytes, calls): three numbers");
  if (kind < 0 || kind > 2) return throw_error(env, "run: kind must be 0 (malloc), 1 (huge) or 2 (fresh)");
  if (!g_bytes) return throw_error(env, "run: call init(maxBytes) first");
  if (!(bytes >= 4) || bytes > (double)g_bytes || (long long)bytes % 4 != 0) return throw_error(env, "run: bytes must be a multiple of 4 within init's maxBytes");
  if (!(calls >= 1)) return throw_error(env, "run: calls must be >= 1");
  const int h = kind == 1 ? 1 : 0;
  const int count = (int)(bytes / 4);
  const long long n = (long long)calls;
  /* fresh: buffers 4 KiB-page aligned apart, as many as the window holds (at least 2) */
  const size_t stride = ((size_t)bytes + 4095) / 4096 * 4096;
  size_t slots = FRESH_WINDOW / stride;
  if (slots < 2) slots = 2;
  if (slots > g_fresh_bytes / stride) slots = g_fresh_bytes / stride;
  double t0 = MPI_Wtime();
  for (long long i = 0; i < n; i++) {
    float* recv = g_recv[h];
    if (kind == 2) {
      g_fresh_next = (g_fresh_next + 1) % slots;
      recv = (float*)((char*)g_fresh + g_fresh_next * stride);
    }
    MPI_Allreduce(g_send[h], recv, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
  double us = (MPI_Wtime() - t0) * 1e6;
  napi_value out;
  napi_create_double(env, us, &out);
  return out;
}

static napi_value Release(napi_env env, napi_callback_info info) {
  (void)info;
  release_all();
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

static napi_value ModuleInit(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, Init, NULL, NULL, NULL, napi_default, NULL},
      {"run", NULL, Run, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, Release, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, ModuleInit)
