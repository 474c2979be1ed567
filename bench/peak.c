/*
 * peak.c — this core's arithmetic peak right now, for "% of peak" columns.
 *
 *   cc -O2 bench/peak.c -o peak && ./peak [vnni|fma] [reps]
 *
 * Register-only loops of independent instructions (no memory traffic):
 *   vnni: 16 independent vpdpbusd zmm per iteration, 64 u8×s8 MACs = 128 ops each;
 *   fma:  16 independent vfmadd231ps zmm per iteration, 16 FMAs = 32 flops each.
 * Prints the median GOP/s (GFLOP/s) over `reps` samples of ~2 ms.  A shared VM's
 * clock moves, so a benchmark measures this next to the kernels it rates.
 * ../shared/MACHINE.md lists 1,046 GOP/s (vnni) and 266 GFLOP/s (fma) for this
 * machine; the VM has also been seen at half that.
 */
#define _POSIX_C_SOURCE 199309L
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* 16 independent accumulators (latency 4-5 cycles × up to 2 per cycle needs ≥ 10 in
 * flight), written in assembly so the compiler cannot spill them. */
#define X16(op, a, b) \
    op " " a ", " b ", %%zmm0\n\t" op " " a ", " b ", %%zmm1\n\t" op " " a ", " b ", %%zmm2\n\t" \
    op " " a ", " b ", %%zmm3\n\t" op " " a ", " b ", %%zmm4\n\t" op " " a ", " b ", %%zmm5\n\t" \
    op " " a ", " b ", %%zmm6\n\t" op " " a ", " b ", %%zmm7\n\t" op " " a ", " b ", %%zmm8\n\t" \
    op " " a ", " b ", %%zmm9\n\t" op " " a ", " b ", %%zmm10\n\t" op " " a ", " b ", %%zmm11\n\t" \
    op " " a ", " b ", %%zmm12\n\t" op " " a ", " b ", %%zmm13\n\t" op " " a ", " b ", %%zmm14\n\t" \
    op " " a ", " b ", %%zmm15\n\t"
#define CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", \
    "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17"

__attribute__((target("avx512f,avx512vnni"), noinline)) static void vnni_loop(long n) {
    __asm__ volatile(
        "vpternlogd $0xff, %%zmm16, %%zmm16, %%zmm16\n\t"
        "vpternlogd $0xff, %%zmm17, %%zmm17, %%zmm17\n\t"
        "1:\n\t" X16("vpdpbusd", "%%zmm16", "%%zmm17") "dec %0\n\tjnz 1b\n\t"
        : "+r"(n) : : "cc", CLOBBERS);
}

__attribute__((target("avx512f"), noinline)) static void fma_loop(long n) {
    __asm__ volatile(
        "vxorps %%zmm16, %%zmm16, %%zmm16\n\t"
        "vxorps %%zmm17, %%zmm17, %%zmm17\n\t"
        "1:\n\t" X16("vfmadd231ps", "%%zmm16", "%%zmm17") "dec %0\n\tjnz 1b\n\t"
        : "+r"(n) : : "cc", CLOBBERS);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "vnni";
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    int vnni = strcmp(what, "fma") != 0;
    if (!__builtin_cpu_supports("avx512f") || (vnni && !__builtin_cpu_supports("avx512vnni"))) {
        printf("0\n");
        return 0;
    }
    double ops_per_iter = 16.0 * (vnni ? 128 : 32);
    long n = 1000;
    for (;;) {   /* calibrate to ~2 ms */
        double t = now();
        if (vnni) vnni_loop(n); else fma_loop(n);
        if (now() - t > 2e-3) break;
        n *= 2;
    }
    double s[64];
    if (reps > 64) reps = 64;
    for (int r = 0; r < reps; r++) {
        double t = now();
        if (vnni) vnni_loop(n); else fma_loop(n);
        s[r] = ops_per_iter * n / (now() - t) / 1e9;
    }
    qsort(s, (size_t)reps, sizeof s[0], cmp);
    printf("%.1f\n", s[reps / 2]);
    return 0;
}
