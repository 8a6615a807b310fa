/*
 * The C baselines' buffers (bench/c/allreduce_bench.c and mpi_baseline.c):
 * plain 64-byte aligned posix_memalign memory, like a V8 ArrayBuffer (4 KiB
 * pages: THP is madvise-only on the machines measured), and 2 MiB aligned
 * mmap + MADV_HUGEPAGE memory, as hvd's pool hands out.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_ALIGN ((size_t)2 << 20)

static inline size_t huge_round(size_t bytes) { return (bytes + HUGE_ALIGN - 1) / HUGE_ALIGN * HUGE_ALIGN; }

/* `bytes` (at least 1) of plain or huge-page memory, NULL when out of memory. */
static inline void* alloc_buffer(size_t bytes, int huge) {
  if (bytes == 0) bytes = 1;
  if (!huge) {
    void* p = NULL;
    return posix_memalign(&p, 64, bytes) == 0 ? p : NULL;
  }
  /* mmap one huge page more than needed, keep the 2 MiB aligned middle */
  size_t len = huge_round(bytes);
  char* raw = (char*)mmap(NULL, len + HUGE_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  char* p = (char*)(((uintptr_t)raw + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
  if (p > raw) munmap(raw, (size_t)(p - raw));
  size_t tail = (size_t)(raw + len + HUGE_ALIGN - (p + len));
  if (tail) munmap(p + len, tail);
  madvise(p, len, MADV_HUGEPAGE);
  return p;
}

static inline void free_buffer(void* p, size_t bytes, int huge) {
  if (!p) return;
  if (huge) munmap(p, huge_round(bytes ? bytes : 1));
  else free(p);
}

/* kB of [p, p+bytes) backed by transparent huge pages (/proc/self/smaps), -1 if unknown. */
static inline long huge_kb(const void* p, size_t bytes) {
  FILE* f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char line[512];
  uintptr_t lo = (uintptr_t)p, hi = lo + bytes;
  int inside = 0;
  long total = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = a < hi && b > lo;
      continue;
    }
    long kb;
    if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) total += kb;
  }
  fclose(f);
  return total;
}
