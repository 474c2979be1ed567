/*
 * gemm_int8_kernels.c — single-thread throughput of each int8 GEMM family (qgemm.h) on the
 * shapes of docs' comparison with onnxruntime (/work/shared/MACHINE.md has its numbers).
 *
 * Run (from the repository root):
 *
 *   gcc -std=c99 -O2 -Iruntime/include -Iruntime/src bench/gemm_int8_kernels.c \
 *       runtime/src/cpu.c runtime/src/kernels/?*.c -lm -o /tmp/gemm_int8_kernels
 *   /tmp/gemm_int8_kernels [--reps N] [--scalar] [family ...]
 *
 * For every shape M×K×N, both operand roles (a_is_act = 1: FC, A activations and B weights,
 * per-column requantization; a_is_act = 0: conv-like, A weights and B activations, per-row)
 * and both outputs (s32: int32 accumulators, like MatMulInteger; u8: requantized uint8, like
 * QLinearMatMul), the time of one run() over the whole matrix is the median of --reps
 * (default 31) samples; a sample repeats run() until it lasts ≥ 2 ms.  B is packed once
 * outside the timing; for a_is_act = 0 the activations would be packed per inference, so
 * pack_b's time is shown beside it (µs, median).  GOP/s counts 2 ops per multiply-add;
 * "%pk" is the share of 1,046 GOP/s, this machine's measured one-core vpdpbusd zmm peak at
 * full clock.  The VM's clock varies (a core can run at half speed for a while), so the
 * register-only vpdpbusd loop is timed before every row too, and "%now" is the share of
 * that same-moment peak (u8 column): the number to compare kernels by.
 * The scalar family is skipped unless asked for (it is ~100× slower).
 */
#define _POSIX_C_SOURCE 200112L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "irc_runtime.h"
#include "kernels/kernels.h"
#include "kernels/qgemm.h"

#define PEAK_GOPS 1046.0

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void *xmalloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 1) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* 24 independent vpdpbusd zmm per iteration on registers only: the core's peak right now
 * (the microkernel's shape: 6 rows × 4 vectors). */
__attribute__((target("avx512f,avx512vnni"), noinline)) static void peak_loop(long n) {
    __asm__ volatile(
        "1:\n\t"
        "vpdpbusd %%zmm24, %%zmm28, %%zmm0\n\t"
        "vpdpbusd %%zmm25, %%zmm28, %%zmm1\n\t"
        "vpdpbusd %%zmm26, %%zmm28, %%zmm2\n\t"
        "vpdpbusd %%zmm27, %%zmm28, %%zmm3\n\t"
        "vpdpbusd %%zmm24, %%zmm29, %%zmm4\n\t"
        "vpdpbusd %%zmm25, %%zmm29, %%zmm5\n\t"
        "vpdpbusd %%zmm26, %%zmm29, %%zmm6\n\t"
        "vpdpbusd %%zmm27, %%zmm29, %%zmm7\n\t"
        "vpdpbusd %%zmm24, %%zmm28, %%zmm8\n\t"
        "vpdpbusd %%zmm25, %%zmm28, %%zmm9\n\t"
        "vpdpbusd %%zmm26, %%zmm28, %%zmm10\n\t"
        "vpdpbusd %%zmm27, %%zmm28, %%zmm11\n\t"
        "vpdpbusd %%zmm24, %%zmm29, %%zmm12\n\t"
        "vpdpbusd %%zmm25, %%zmm29, %%zmm13\n\t"
        "vpdpbusd %%zmm26, %%zmm29, %%zmm14\n\t"
        "vpdpbusd %%zmm27, %%zmm29, %%zmm15\n\t"
        "vpdpbusd %%zmm24, %%zmm28, %%zmm16\n\t"
        "vpdpbusd %%zmm25, %%zmm28, %%zmm17\n\t"
        "vpdpbusd %%zmm26, %%zmm28, %%zmm18\n\t"
        "vpdpbusd %%zmm27, %%zmm28, %%zmm19\n\t"
        "vpdpbusd %%zmm24, %%zmm29, %%zmm20\n\t"
        "vpdpbusd %%zmm25, %%zmm29, %%zmm21\n\t"
        "vpdpbusd %%zmm26, %%zmm29, %%zmm22\n\t"
        "vpdpbusd %%zmm27, %%zmm29, %%zmm23\n\t"
        "dec %[n]\n\tjnz 1b"
        : [n] "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18",
          "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "cc");
}

/* Median GOP/s of peak_loop over `reps` samples of ~2 ms; 0 without AVX-512 VNNI. */
static double peak_now(int reps, uint32_t isas) {
    if (!(isas & IRC_ISA_AVX512VNNI)) return 0.0;
    double best[64];
    if (reps > 64) reps = 64;
    long n = 20000;     /* 24·128 ops per iteration: ~60 MOP, a few ms */
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        peak_loop(n);
        best[r] = (double)n * 24 * 128 / (now_s() - t0) * 1e-9;
    }
    qsort(best, (size_t)reps, sizeof(double), cmp_double);
    return best[reps / 2];
}
#else
static double peak_now(int reps, uint32_t isas) {
    (void)reps;
    (void)isas;
    return 0.0;
}
#endif


/* Median seconds per call of run(args) (or pack when pack_only). */
static double time_median(const irc_qgemm_family *f, const irc_qgemm_args *args, int reps,
                          int pack_only, const uint8_t *src, void *dst) {
    double *t = xmalloc(sizeof(double) * (size_t)reps);
    int inner = 1;
    for (;;) {   /* calibrate: a sample lasts ≥ 2 ms */
        double t0 = now_s();
        for (int i = 0; i < inner; i++) {
            if (pack_only) f->pack_b(args->K, args->K, args->N, src, args->N, 1, 0x80, dst);
            else f->run(args);
        }
        double dt = now_s() - t0;
        if (dt >= 2e-3 || inner >= (1 << 20)) break;
        inner *= 2;
    }
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        for (int i = 0; i < inner; i++) {
            if (pack_only) f->pack_b(args->K, args->K, args->N, src, args->N, 1, 0x80, dst);
            else f->run(args);
        }
        t[r] = (now_s() - t0) / inner;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_double);
    double med = t[reps / 2];
    free(t);
    return med;
}

int main(int argc, char **argv) {
    static const int32_t shapes[][3] = {   /* M, K, N */
        {1, 768, 768}, {128, 768, 768}, {128, 768, 3072},
        {3136, 64, 64}, {196, 1152, 128}, {49, 4608, 512},
    };
    int reps = 31, with_scalar = 0;
    const char *only[8];
    int n_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scalar")) with_scalar = 1;
        else if (n_only < 8) only[n_only++] = argv[i];
    }
    /* the families: every level of the kernel registry (dispatch.c), each qgemm family once */
    int n_levels;
    const irc_kernels *const *levels = irc_kernels_all(&n_levels);
    uint32_t isas = irc_cpu_isas();
    printf("%-11s %-14s %-5s %9s %5s %9s %5s %5s %9s %9s\n", "family", "M×K×N", "A", "s32 GOP/s",
           "%pk", "u8 GOP/s", "%pk", "%now", "pack µs", "peak now");
    for (int fi = 0; fi < n_levels; fi++) {
        const irc_qgemm_family *f = levels[fi]->qgemm;
        int wanted = n_only == 0 ? (f != &irc_qgemm_scalar || with_scalar) : 0;
        for (int i = 0; i < n_only; i++) wanted |= !strcmp(only[i], f->name);
        for (int j = 0; j < fi; j++) wanted &= levels[j]->qgemm != f;
        if (!wanted || (levels[fi]->needs & ~isas)) continue;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            int32_t M = shapes[si][0], K = shapes[si][1], N = shapes[si][2];
            uint8_t *a = xmalloc((size_t)M * (size_t)K);
            uint8_t *bsrc = xmalloc((size_t)K * (size_t)N);
            for (size_t i = 0; i < (size_t)M * (size_t)K; i++) a[i] = (uint8_t)next_u32();
            for (size_t i = 0; i < (size_t)K * (size_t)N; i++) bsrc[i] = (uint8_t)next_u32();
            uint8_t *bp = xmalloc(f->packed_size(K, N));
            f->pack_b(K, K, N, bsrc, N, 1, 0, bp);
            size_t nch = (size_t)(M > N ? M : N) + 64;
            int32_t *bias = xmalloc(nch * 4), *mult = xmalloc(nch * 4), *shift = xmalloc(nch * 4);
            for (size_t c = 0; c < nch; c++) {
                bias[c] = (int32_t)(next_u32() % 20001) - 10000;
                mult[c] = (int32_t)(0x40000000u + next_u32() % 0x3FFFFFFFu);
                shift[c] = -(int32_t)(8 + next_u32() % 6);
            }
            void *c = xmalloc((size_t)M * (size_t)N * 4);
            for (int act = 1; act >= 0; act--) {
                irc_qgemm_args args;
                memset(&args, 0, sizeof args);
                args.M = M;
                args.N = N;
                args.K = K;
                args.a = a;
                args.lda = (size_t)K;
                args.b = bp;
                args.a_is_act = act;
                args.bias = bias;
                args.per_col = act;
                args.out_zp = 3;
                args.lo = 0;
                args.hi = 255;
                args.c = c;
                args.ldc = (size_t)N;
                args.m1 = M;
                args.n1 = N;
                double ops = 2.0 * M * (double)K * N;
                args.mult = NULL;
                double t32 = time_median(f, &args, reps, 0, NULL, NULL);
                args.mult = mult;
                args.shift = shift;
                double t8 = time_median(f, &args, reps, 0, NULL, NULL);
                double tp = act ? 0.0 : time_median(f, &args, reps, 1, bsrc, bp);
                double pk = peak_now(reps, isas);
                char shape[32], pack[16];
                snprintf(shape, sizeof shape, "%d×%d×%d", M, K, N);
                if (act) snprintf(pack, sizeof pack, "-");
                else snprintf(pack, sizeof pack, "%.1f", tp * 1e6);
                double g32 = ops / t32 * 1e-9, g8 = ops / t8 * 1e-9;
                printf("%-11s %-16s %-5s %9.0f %5.0f %9.0f %5.0f %5.0f %9s %9.0f\n", f->name, shape,
                       act ? "act" : "wgt", g32, g32 / PEAK_GOPS * 100, g8, g8 / PEAK_GOPS * 100,
                       pk > 0 ? g8 / pk * 100 : 0.0, pack, pk);
                fflush(stdout);
            }
            free(a);
            free(bsrc);
            free(bp);
            free(bias);
            free(mult);
            free(shift);
            free(c);
        }
    }
    return 0;
}
