/*
 * spmm_f32_check.c — the float32 spmm families (spmm.h) against their scalar twin,
 * and a microbenchmark against our dense sgemm.
 *
 *   check [cases]   every ISA family the CPU has vs irc_spmm_f32_scalar_run on random
 *                   cases: W built directly in spmm.h's packed row-block format
 *                   (R = 1, 2, 4, 8; stored blocks of 1..5 consecutive columns, some
 *                   stored weights 0; densities 0 .. 100 %, empty row blocks), N not a
 *                   multiple of R, sub-ranges b0..b1 × m0..m1 of every length mod 16
 *                   (all column tails), ldx / ldy wider than the range, bias NULL or
 *                   not, clamp on or off.  Y outside the rows < N of b0..b1 × m0..m1
 *                   must keep its guard value, X's columns outside m0..m1 hold NaN (a
 *                   kernel that used them would show it), X and bias are allocated to
 *                   the last element the contract lets a kernel read (ASan catches
 *                   more).  The scalar twin itself is checked against a double sum.
 *
 *                   Tolerance: the families use FMA (one rounding per step where the
 *                   twin rounds the product and the sum), entries in the same order.
 *                   Both are within γ_n · S of the exact sum, n = entries + 1 terms,
 *                   S = |bias| + Σ|w·x|, γ_n ≈ n·2⁻²⁴; so |family − twin| ≤ 2·(n + 1)·2⁻²⁴·S
 *                   (clamping only shrinks differences).  Rows with no entries must
 *                   match exactly.
 *
 *   bench [family] [reps] [N K M]
 *                   single-thread medians (reps samples, default 21, of about 2 ms each):
 *                   for sparse layers W[N][K] · X[K][M] (the shapes below, or N K M) at
 *                   50/70/80/90/95 % sparsity and four patterns — unstructured (R = 1),
 *                   1×4 blocks (R = 1, runs of 4 columns), 4×4 (R = 4) and 8×1 (R = 8) —
 *                   the family's spmm time next to the dense sgemm family of the same
 *                   name on the same shape (W packed by pack_a, X by pack_b once, so the
 *                   dense time is the kernel's alone; its per-run packing of X is shown
 *                   separately).  Dense and sparse samples alternate; GFLOP/s counts the
 *                   dense 2·N·K·M for both ("effective"), and the sparse kernel's own
 *                   2·stored·M ("actual").
 *
 * Built and run by tests/runtime/test_spmm_f32_kernels.py (optimized, under ASan/UBSan,
 * and for arm64 under qemu):
 *   cc -O2 -std=c99 -ffp-contract=off -Iruntime/include -Iruntime/src \
 *      tests/runtime/c/spmm_f32_check.c runtime/src/cpu.c runtime/src/kernels/spmm_scalar.c \
 *      runtime/src/kernels/spmm_f32_*.c runtime/src/kernels/sgemm_*.c -lm -o /tmp/spmm_f32_check
 *   /tmp/spmm_f32_check check 4000 && /tmp/spmm_f32_check bench avx512 15
 * Prints "FAIL ..." lines and exits 1 on a failure; "ok" otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "kernels/kernels.h"
#include "kernels/sgemm.h"
#include "kernels/spmm.h"

static int failures;

#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            if (failures < 30) {                            \
                printf("FAIL %s:%d: ", __FILE__, __LINE__); \
                printf(__VA_ARGS__);                        \
                printf("\n");                               \
            }                                               \
            failures++;                                     \
        }                                                   \
    } while (0)

/* xorshift64*: deterministic inputs */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}
static int rnd_int(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static double rnd_unit(void) { return (double)rnd() / 4294967296.0; }
static float rnd_float(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() >> 8) / 16777216.0f; }

static void *xmalloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64)) {
        printf("out of memory\n");
        exit(2);
    }
    return p;
}

/* --- families the CPU runs ------------------------------------------------------------------ */

static int isa_families(const irc_spmm_f32_family **out) {
    int n = 0;
    uint32_t have = irc_cpu_isas();
    (void)have;
#if defined(__x86_64__) || defined(_M_X64)
    if (have & IRC_ISA_AVX2) out[n++] = &irc_spmm_f32_avx2;
    if (have & IRC_ISA_AVX512VNNI) out[n++] = &irc_spmm_f32_avx512;
#endif
#if defined(__aarch64__)
    out[n++] = &irc_spmm_f32_neon;
#endif
    return n;
}

/* --- sparse W in spmm.h's packed format ------------------------------------------------------ */

typedef struct {
    irc_spmm_w w;
    int32_t *ptr, *kidx;
    float *vals;
    int64_t stored;           /* entries × R: weights the kernel multiplies */
} sparse_w;

/* Row blocks of R rows; each block column of `c` consecutive columns is stored with
 * probability `keep` (its entries are the columns of the block that are < K).  Stored
 * weights are uniform in [-1, 1], 0 with probability `zeros` and on rows ≥ N. */
static void make_w(sparse_w *s, int32_t N, int32_t K, int32_t R, int32_t c, double keep,
                   double zeros) {
    const int32_t nb = (N + R - 1) / R, bc = (K + c - 1) / c;
    s->ptr = xmalloc(sizeof(int32_t) * (size_t)(nb + 1));
    size_t cap = (size_t)nb * (size_t)K;
    s->kidx = xmalloc(sizeof(int32_t) * (cap ? cap : 1));
    s->vals = xmalloc(sizeof(float) * (cap ? cap : 1) * (size_t)R);
    int32_t e = 0;
    s->ptr[0] = 0;
    for (int32_t b = 0; b < nb; b++) {
        for (int32_t q = 0; q < bc; q++) {
            if (!(rnd_unit() < keep)) continue;
            for (int32_t k = q * c; k < K && k < (q + 1) * c; k++) {
                s->kidx[e] = k;
                for (int32_t r = 0; r < R; r++) {
                    float v = rnd_float(-1.0f, 1.0f);
                    if (b * R + r >= N || rnd_unit() < zeros) v = 0.0f;
                    s->vals[(size_t)e * R + r] = v;
                }
                e++;
            }
        }
        s->ptr[b + 1] = e;
    }
    s->stored = (int64_t)e * R;
    s->w = (irc_spmm_w){N, K, R, nb, s->ptr, s->kidx, s->vals};
}

static void free_w(sparse_w *s) {
    free(s->ptr);
    free(s->kidx);
    free(s->vals);
}

/* --- check ------------------------------------------------------------------------------------ */

#define GUARD (-12345.0f)

typedef struct {
    int32_t N, K, R, c, m0, m1, b0, b1;
    size_t ldx, ldy;
    double keep, zeros;
    int has_bias;
    float lo, hi;
} spmm_case;

static void random_case(spmm_case *t, int i) {
    static const int32_t Rs[4] = {1, 2, 4, 8};
    t->R = Rs[rnd() % 4];
    t->N = rnd_int(1, i % 7 == 0 ? 70 : 20);
    t->K = rnd_int(1, i % 5 == 0 ? 400 : 60);
    t->c = rnd() % 3 == 0 ? rnd_int(1, 5) : 1;
    const int d = (int)(rnd() % 8);
    t->keep = d == 0 ? 0.0 : d == 1 ? 1.0 : d == 2 ? 0.03 : rnd_unit();
    t->zeros = rnd() % 4 == 0 ? 0.3 : 0.0;
    t->m0 = rnd() % 2 ? 0 : rnd_int(0, 37);
    /* lengths 0 .. 300: every tail mod 16 and several full tiles of every ISA */
    const int32_t len = rnd() % 16 == 0 ? 0 : rnd() % 3 == 0 ? rnd_int(1, 40) : rnd_int(1, 300);
    t->m1 = t->m0 + len;
    t->ldx = (size_t)t->m1 + (rnd() % 2 ? 0 : (size_t)rnd_int(1, 19));
    t->ldy = (size_t)t->m1 + (rnd() % 2 ? 0 : (size_t)rnd_int(1, 19));
    const int32_t nb = (t->N + t->R - 1) / t->R;
    t->b0 = rnd() % 2 ? 0 : rnd_int(0, nb);
    t->b1 = rnd() % 2 ? nb : rnd_int(t->b0, nb);
    t->has_bias = rnd() % 3 != 0;
    const int cl = (int)(rnd() % 4);
    t->lo = cl == 1 || cl == 3 ? rnd_float(-2.0f, 0.0f) : -INFINITY;
    t->hi = cl == 2 || cl == 3 ? rnd_float(0.0f, 2.0f) : INFINITY;
}

/* Y rows × ldy filled with GUARD, the kernel run on it */
static float *run_case(const irc_spmm_f32_family *fam, const spmm_case *t, const sparse_w *s,
                       const float *x, const float *bias, int32_t rows) {
    const size_t ny = (size_t)rows * t->ldy;
    float *y = xmalloc(sizeof(float) * (ny ? ny : 1));
    for (size_t i = 0; i < ny; i++) y[i] = GUARD;
    irc_spmm_f32_args a = {&s->w, x, t->ldx, y, t->ldy, bias, t->lo, t->hi,
                           t->b0, t->b1, t->m0, t->m1};
    fam->run(&a);
    return y;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_case(int i, const irc_spmm_f32_family *const *fams, int nf) {
    spmm_case t;
    random_case(&t, i);
    sparse_w s;
    make_w(&s, t.N, t.K, t.R, t.c, t.keep, t.zeros);
    const int32_t rows = s.w.n_blocks * t.R;    /* Y has room for the padded rows too */
    /* X: exactly K rows of ldx, the last one ending at column m1 − 1 when ldx == m1 */
    const size_t nx = t.K > 0 ? (size_t)(t.K - 1) * t.ldx + (size_t)t.m1 : 0;
    float *x = xmalloc(sizeof(float) * (nx ? nx : 1));
    for (size_t j = 0; j < nx; j++) {
        const size_t m = j % t.ldx;
        x[j] = m >= (size_t)t.m0 && m < (size_t)t.m1 ? rnd_float(-1.0f, 1.0f) : NAN;
    }
    /* bias: irc_round_up(N, 64) entries, as spmm.h promises and no more */
    const size_t nbias = irc_round_up((size_t)t.N, 64);
    float *bias = NULL;
    if (t.has_bias) {
        bias = xmalloc(sizeof(float) * nbias);
        for (size_t j = 0; j < nbias; j++) bias[j] = (int32_t)j < t.N ? rnd_float(-1.0f, 1.0f) : NAN;
    }
    float *ref = run_case(&irc_spmm_f32_scalar, &t, &s, x, bias, rows);
    /* the twin vs a double sum, and each element's bound (see the top of the file) */
    const size_t ny = (size_t)rows * t.ldy;
    double *tol = xmalloc(sizeof(double) * (ny ? ny : 1));
    for (int32_t n = 0; n < rows; n++) {
        const int32_t b = n / t.R, r = n % t.R;
        const int inside = b >= t.b0 && b < t.b1 && n < t.N;
        for (size_t m = 0; m < t.ldy; m++) {
            const size_t at = (size_t)n * t.ldy + m;
            tol[at] = 0.0;
            if (!inside || m < (size_t)t.m0 || m >= (size_t)t.m1) {
                CHECK(same_bits(ref[at], GUARD), "case %d: scalar wrote outside (n %d m %zu)", i, n, m);
                continue;
            }
            double sum = bias ? bias[n] : 0.0, mag = fabs(sum);
            const int32_t e0 = s.ptr[b], e1 = s.ptr[b + 1];
            for (int32_t e = e0; e < e1; e++) {
                const double p = (double)s.vals[(size_t)e * t.R + r] * x[(size_t)s.kidx[e] * t.ldx + m];
                sum += p;
                mag += fabs(p);
            }
            const double bound = 2.0 * (double)(e1 - e0 + 2) * ldexp(1.0, -24) * mag;
            double want = sum < t.lo ? t.lo : sum;
            want = want > t.hi ? t.hi : want;
            CHECK(fabs(ref[at] - want) <= 0.5 * bound + 1e-37,
                  "case %d: scalar %.9g vs double %.9g (n %d m %zu)", i, ref[at], want, n, m);
            tol[at] = e1 > e0 ? bound : 0.0;
        }
    }
    for (int f = 0; f < nf; f++) {
        float *y = run_case(fams[f], &t, &s, x, bias, rows);
        for (size_t at = 0; at < ny; at++) {
            const float got = y[at], want = ref[at];
            const int ok = tol[at] == 0.0 ? same_bits(got, want)
                                          : fabs((double)got - (double)want) <= tol[at] + 1e-37;
            CHECK(ok, "%s case %d (N %d K %d R %d c %d keep %.2f m %d..%d b %d..%d bias %d "
                      "clamp [%g, %g]): Y[%zu][%zu] %.9g, scalar %.9g",
                  fams[f]->name, i, t.N, t.K, t.R, t.c, t.keep, t.m0, t.m1, t.b0, t.b1,
                  t.has_bias, t.lo, t.hi, at / t.ldy, at % t.ldy, got, want);
        }
        free(y);
    }
    free(tol);
    free(ref);
    free(bias);
    free(x);
    free_w(&s);
}

static int check(int cases) {
    const irc_spmm_f32_family *fams[4];
    const int nf = isa_families(fams);
    printf("families:");
    for (int f = 0; f < nf; f++) printf(" %s", fams[f]->name);
    printf(" (vs scalar, %d cases)\n", cases);
    for (int i = 0; i < cases; i++) check_case(i, fams, nf);
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}

/* --- bench ------------------------------------------------------------------------------------ */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return v[n / 2];
}

typedef struct {
    const irc_sgemm_family *fam;
    irc_sgemm_args p;
} dense_job;

typedef struct {
    const irc_spmm_f32_family *fam;
    irc_spmm_f32_args a;
} sparse_job;

static void run_dense(const void *j) {
    const dense_job *d = j;
    d->fam->run(&d->p);
}
static void run_sparse(const void *j) {
    const sparse_job *s = j;
    s->fam->run(&s->a);
}

/* calls per sample: enough to last about 2 ms */
static int calls_for(void (*fn)(const void *), const void *job) {
    const double t0 = now();
    fn(job);
    const double one = now() - t0;
    return one >= 0.002 ? 1 : (int)(0.002 / (one > 1e-7 ? one : 1e-7)) + 1;
}
static double time_calls(void (*fn)(const void *), const void *job, int calls) {
    const double t0 = now();
    for (int i = 0; i < calls; i++) fn(job);
    return (now() - t0) / calls;
}

typedef struct {
    const char *name;
    int32_t R, c;
} pattern;

static int bench(const char *only, int reps, const int32_t *shape) {
    static const int32_t all_shapes[][3] = {{768, 768, 128}, {256, 128, 196}, {3072, 768, 128},
                                            {256, 256, 3136}};
    const int32_t(*shapes)[3] = shape ? (const int32_t(*)[3])shape : all_shapes;
    const size_t n_shapes = shape ? 1 : sizeof all_shapes / sizeof all_shapes[0];
    static const double sparsity[] = {0.5, 0.7, 0.8, 0.9, 0.95};
    static const pattern patterns[] = {{"1x1", 1, 1}, {"1x4", 1, 4}, {"4x4", 4, 4}, {"8x1", 8, 1}};
    const irc_spmm_f32_family *fams[4];
    const int nf = isa_families(fams);
    const irc_spmm_f32_family *fam = NULL;
    for (int f = 0; f < nf; f++)
        if (!only || strcmp(fams[f]->name, only) == 0) fam = fams[f];
    const irc_sgemm_family *dfam = NULL;
    const irc_sgemm_family *dense[] = {
#if defined(__x86_64__) || defined(_M_X64)
        &irc_sgemm_avx512, &irc_sgemm_avx2,
#endif
#if defined(__aarch64__)
        &irc_sgemm_neon,
#endif
        &irc_sgemm_scalar};
    for (size_t f = 0; fam && f < sizeof dense / sizeof dense[0]; f++)
        if (strcmp(dense[f]->name, fam->name) == 0) dfam = dense[f];
    if (!fam || !dfam) {
        printf("no family %s on this CPU\n", only ? only : "");
        return 1;
    }
    if (reps > 101) reps = 101;
    printf("spmm_f32 %s vs sgemm %s, one thread, median of %d; GFLOP/s: effective 2NKM/t, "
           "actual 2*stored*M/t\n", fam->name, dfam->name, reps);
    printf("%-16s %-4s %5s %9s %9s %8s %9s %9s %9s %9s\n", "N x K x M", "pat", "sp%", "dense ms",
           "sparse ms", "speedup", "dense GF", "eff GF", "act GF", "pack ms");
    for (size_t si = 0; si < n_shapes; si++) {
        const int32_t N = shapes[si][0], K = shapes[si][1], M = shapes[si][2];
        float *wd = xmalloc(sizeof(float) * (size_t)N * K);
        float *x = xmalloc(sizeof(float) * (size_t)K * M);
        float *y = xmalloc(sizeof(float) * (size_t)N * M);
        float *bias = xmalloc(sizeof(float) * irc_round_up((size_t)N, 64));
        for (size_t i = 0; i < (size_t)N * K; i++) wd[i] = rnd_float(-1.0f, 1.0f);
        for (size_t i = 0; i < (size_t)K * M; i++) x[i] = rnd_float(-1.0f, 1.0f);
        for (size_t i = 0; i < irc_round_up((size_t)N, 64); i++) bias[i] = rnd_float(-1.0f, 1.0f);
        /* dense: C[N][M] = A[N][K] · B[K][M], A packed (constant weights), bias per row */
        float *ap = xmalloc(dfam->packed_a_size(N, K));
        float *bp = xmalloc(dfam->packed_size(K, M));
        dfam->pack_a(N, K, wd, (size_t)K, ap);
        const int32_t panels = (M + dfam->nr - 1) / dfam->nr;
        dfam->pack_b(K, M, x, M, 1, 0, panels, bp);
        dense_job dj = {dfam, {N, M, K, NULL, 0, ap, bp, bias, 0, -INFINITY, INFINITY,
                               y, (size_t)M, 0, N, 0, M}};
        double pack[101];
        for (int r = 0; r < reps; r++) {
            const double t0 = now();
            dfam->pack_b(K, M, x, M, 1, 0, panels, bp);
            pack[r] = now() - t0;
        }
        const double pack_ms = median(pack, reps) * 1e3;
        const int dcalls = calls_for(run_dense, &dj);
        for (size_t pi = 0; pi < sizeof patterns / sizeof patterns[0]; pi++) {
            for (size_t sp = 0; sp < sizeof sparsity / sizeof sparsity[0]; sp++) {
                const pattern *pt = &patterns[pi];
                sparse_w s;
                make_w(&s, N, K, pt->R, pt->c, 1.0 - sparsity[sp], 0.0);
                sparse_job sj = {fam, {&s.w, x, (size_t)M, y, (size_t)M, bias, -INFINITY,
                                       INFINITY, 0, s.w.n_blocks, 0, M}};
                const int scalls = calls_for(run_sparse, &sj);
                double td[101], ts[101];
                for (int r = 0; r < reps; r++) {   /* alternate, so both see the same VM */
                    td[r] = time_calls(run_dense, &dj, dcalls);
                    ts[r] = time_calls(run_sparse, &sj, scalls);
                }
                const double d = median(td, reps), sv = median(ts, reps);
                const double flops = 2.0 * N * K * M;
                char shape[32];
                snprintf(shape, sizeof shape, "%dx%dx%d", N, K, M);
                printf("%-16s %-4s %5.0f %9.3f %9.3f %7.2fx %9.1f %9.1f %9.1f %9.3f\n", shape,
                       pt->name, sparsity[sp] * 100, d * 1e3, sv * 1e3, d / sv, flops / d * 1e-9,
                       flops / sv * 1e-9, 2.0 * (double)s.stored * M / sv * 1e-9, pack_ms);
                fflush(stdout);
                free_w(&s);
            }
        }
        free(wd); free(x); free(y); free(bias); free(ap); free(bp);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "bench") == 0) {
        int32_t shape[3];
        for (int i = 0; i < 3; i++) shape[i] = argc > 6 ? atoi(argv[4 + i]) : 0;
        return bench(argc > 2 ? argv[2] : NULL, argc > 3 ? atoi(argv[3]) : 21,
                     shape[0] > 0 && shape[1] > 0 && shape[2] > 0 ? shape : NULL);
    }
    const int cases = argc > 2 ? atoi(argv[2]) : 3000;
    return check(cases > 0 ? cases : 1);
}
