// Copying bytes: memcpy, minus one slow case of glibc's.
//
// glibc (2.36 in Debian 12) copies mid-sized blocks with `rep movsb` on CPUs
// that advertise fast string moves (ERMS/FSRM), from 2,112 bytes up to a
// stop threshold near the L2 size. On AMD EPYC, measured on this project's
// VMs, `rep movsb` runs about 25x slower when the destination lies 1-31
// bytes past the source modulo 4 KiB (the two streams alias in the cache):
// 4 KiB took 2.4 us instead of 0.1, 64 KiB 28-39 us instead of 1.5-2.5,
// 256 KiB about 100 us instead of 7-10; 512 KiB and up take another path
// and are fine. Two arrays V8 allocates back to back are 16 bytes apart modulo
// 4 KiB, which is inside that window. Such copies here go in 2 KiB memcpy
// calls instead (glibc's vector loop: 0.35 us for 4 KiB, 4.6-5.9 us for
// 64 KiB in the window); every other copy is a plain memcpy.
// (glibc bug 30994; later glibc releases changed how they pick rep movsb on AMD.)
#pragma once

#include <cstddef>

namespace hvd::core {

// memcpy(dst, src, n) for ranges that do not overlap.
void CopyBytes(void* dst, const void* src, size_t n);
// memmove(dst, src, n): CopyBytes unless the ranges overlap.
void MoveBytes(void* dst, const void* src, size_t n);

// Whether CopyBytes would avoid memcpy for these ranges (for tests and for
// callers that hand a copy to MPI otherwise).
bool CopyIsAliased(const void* dst, const void* src, size_t n);

}  // namespace hvd::core
