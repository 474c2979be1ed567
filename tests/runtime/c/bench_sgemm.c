/*
 * bench_sgemm.c — single-thread GFLOP/s of each sgemm family on the benchmark shapes
 * (median of repeated runs; each run times enough calls to last >= 20 ms).
 *
 *   cc -O2 -std=c99 -ffp-contract=off -Iruntime/include -Iruntime/src \
 *      tests/runtime/c/bench_sgemm.c runtime/src/kernels/sgemm_*.c -lm -o /tmp/bench_sgemm
 *   /tmp/bench_sgemm [family] [reps]
 * (tests/runtime/test_f32_kernels.py builds it the same way: pytest -k bench -s.)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/sgemm.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *aligned(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64)) return NULL;
    return p;
}

int main(int argc, char **argv) {
    static const int shapes[][3] = {{1, 768, 768}, {128, 768, 768}, {128, 768, 3072},
                                    {3136, 64, 64}, {196, 1152, 128}, {49, 4608, 512}};
    const irc_sgemm_family *fams[4];
    int nf = 0;
#if defined(__x86_64__)
    fams[nf++] = &irc_sgemm_avx512;
    fams[nf++] = &irc_sgemm_avx2;
#endif
#if defined(__aarch64__)
    fams[nf++] = &irc_sgemm_neon;
#endif
    fams[nf++] = &irc_sgemm_scalar;
    const char *only = argc > 1 ? argv[1] : NULL;
    int reps = argc > 2 ? atoi(argv[2]) : 11;
    for (int f = 0; f < nf; f++) {
        const irc_sgemm_family *fam = fams[f];
        if (only && strcmp(only, fam->name) != 0) continue;
        printf("%-8s", fam->name);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            float *a = aligned((size_t)M * K * 4), *b = aligned((size_t)K * N * 4);
            float *bp = aligned(fam->packed_size(K, N)), *c = aligned((size_t)M * N * 4);
            for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)((i * 7 % 13) - 6) * 0.1f;
            for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)((i * 5 % 11) - 5) * 0.1f;
            fam->pack_b(K, N, b, N, 1, 0, (N + fam->nr - 1) / fam->nr, bp);
            irc_sgemm_args p = {M, N, K, a, (size_t)K, NULL, bp, NULL, 1, -INFINITY, INFINITY,
                                c, (size_t)N, 0, M, 0, N};
            double flops = 2.0 * M * N * K;
            int calls = 1;
            double t0 = now();
            fam->run(&p);
            double one = now() - t0;
            if (one < 0.02) calls = (int)(0.02 / (one > 1e-7 ? one : 1e-7)) + 1;
            double rates[64];
            int n = reps < 64 ? reps : 64;
            for (int r = 0; r < n; r++) {
                t0 = now();
                for (int i = 0; i < calls; i++) fam->run(&p);
                rates[r] = flops * calls / (now() - t0) / 1e9;
            }
            qsort(rates, (size_t)n, sizeof rates[0], cmp_double);
            printf("  %dx%dx%d %6.1f", M, K, N, rates[n / 2]);
            fflush(stdout);
            free(a); free(b); free(bp); free(c);
            if (fam->isa == 1 && s >= 1) break; /* scalar: one small shape is enough */
        }
        printf("\n");
    }
    return 0;
}
