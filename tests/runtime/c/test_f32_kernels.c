/*
 * test_f32_kernels.c — the float32 kernel families (sgemm.h, f32.h) against their
 * scalar twins and the scalar twins against double-precision references.
 *
 *   sgemm   every ISA family the CPU has vs the scalar family on random shapes
 *           (tile tails in M, N and K, K blocks, sub-blocks m0..m1 × n0..n1, bias per
 *           row / column / none, clamps, lda and ldc wider than the matrix), with
 *           guard values around C that must stay untouched; the scalar family vs a
 *           double-precision product.
 *   f32     every ISA family vs the scalar family bit for bit (every unary opcode, the
 *           binary and comparison kernels in all stride cases, softmax, log-softmax,
 *           layer norm, sum, max, depthwise conv) over lengths 1..700 at odd offsets and
 *           in place;
 *           the scalar family vs libm's double functions (exp, log, tanh, erf, GELU,
 *           ...) in ulps over dense grids and special values.
 *
 * Built and run by tests/runtime/test_f32_kernels.py (also under ASan/UBSan):
 *   cc -O2 -std=c99 -ffp-contract=off -Iruntime/include -Iruntime/src \
 *      tests/runtime/c/test_f32_kernels.c runtime/src/cpu.c \
 *      runtime/src/kernels/sgemm_*.c runtime/src/kernels/f32_*.c -lm
 * Prints "FAIL ..." lines and exits 1 on a failure; "ok" otherwise.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kernels/f32.h"
#include "kernels/kernels.h"
#include "kernels/sgemm.h"

static int failures;

#define CHECK(cond, ...)                                         \
    do {                                                         \
        if (!(cond)) {                                           \
            if (failures < 40) {                                 \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);      \
                printf(__VA_ARGS__);                             \
                printf("\n");                                    \
            }                                                    \
            failures++;                                          \
        }                                                        \
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
static float rnd_float(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() >> 8) / 16777216.0f; }

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    return p;
}

static int same_bits(float a, float b) {
    if (a != a && b != b) return 1;  /* any NaN */
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y;
}

/* distance in units in the last place of the float result `got` from the exact `want` */
static double ulps(float got, double want) {
    if (want != want) return got != got ? 0.0 : 1e30;
    if (got != got) return 1e30;
    if (isinf(want) || fabs(want) > 3.4028234663852886e38) {
        float w = (float)want;
        return got == w ? 0.0 : 1e30;
    }
    if (isinf(got)) return 1e30;
    double aw = fabs(want) < 1.1754943508222875e-38 ? 1.1754943508222875e-38 : fabs(want);
    int e;
    frexp(aw, &e);
    double ulp = ldexp(1.0, e - 24);
    return fabs((double)got - want) / ulp;
}

/* --- families the CPU runs ------------------------------------------------------------------ */

typedef struct {
    const irc_sgemm_family *sgemm;
    const irc_f32_family *f32;
} family_pair;

static int isa_families(family_pair *out) {
    int n = 0;
    uint32_t have = irc_cpu_isas();
    (void)have;
#if defined(__x86_64__) || defined(_M_X64)
    if (have & IRC_ISA_AVX2) out[n++] = (family_pair){&irc_sgemm_avx2, &irc_f32_avx2};
    if (have & IRC_ISA_AVX512VNNI) out[n++] = (family_pair){&irc_sgemm_avx512, &irc_f32_avx512};
#endif
#if defined(__aarch64__)
    out[n++] = (family_pair){&irc_sgemm_neon, &irc_f32_neon};
#endif
    return n;
}

/* --- sgemm ------------------------------------------------------------------------------------ */

#define GUARD 12345.0f

typedef struct {
    int M, N, K, lda, ldc, m0, m1, n0, n1, bias_kind;  /* bias_kind 0 none, 1 per row, 2 per col */
    int packed_a;                                      /* A packed by pack_a (m0 a multiple of mr) */
    float lo, hi;
} gemm_case;

/* the block a family computes for a case: n0 (and m0 with packed A) rounded down to its tile */
static int block_m0(const irc_sgemm_family *fam, const gemm_case *g) {
    return g->packed_a ? g->m0 / fam->mr * fam->mr : g->m0;
}
static int block_n0(const irc_sgemm_family *fam, const gemm_case *g) { return g->n0 / fam->nr * fam->nr; }

/* run one family; returns C (M × ldc, guards outside the block) */
static float *run_gemm(const irc_sgemm_family *fam, const gemm_case *g, const float *a,
                       const float *b, const float *bias) {
    size_t psize = fam->packed_size(g->K, g->N);
    /* pack into a buffer with guard floats after it */
    float *bp = xmalloc(psize + 64 * sizeof(float));
    for (int i = 0; i < 64; i++) bp[psize / sizeof(float) + (size_t)i] = GUARD;
    int panels = (g->N + fam->nr - 1) / fam->nr;
    int split = rnd_int(0, panels);
    fam->pack_b(g->K, g->N, b, g->N, 1, 0, split, bp);
    fam->pack_b(g->K, g->N, b, g->N, 1, split, panels, bp);
    for (int i = 0; i < 64; i++) CHECK(bp[psize / sizeof(float) + (size_t)i] == GUARD, "%s pack_b wrote past packed_size", fam->name);
    float *c = xmalloc((size_t)g->M * (size_t)g->ldc * sizeof(float));
    for (size_t i = 0; i < (size_t)g->M * (size_t)g->ldc; i++) c[i] = GUARD;
    float *ap = NULL;
    if (g->packed_a) {
        size_t asize = fam->packed_a_size(g->M, g->K);
        ap = xmalloc(asize + 64 * sizeof(float));
        for (int i = 0; i < 64; i++) ap[asize / sizeof(float) + (size_t)i] = GUARD;
        fam->pack_a(g->M, g->K, a, (size_t)g->lda, ap);
        for (int i = 0; i < 64; i++)
            CHECK(ap[asize / sizeof(float) + (size_t)i] == GUARD, "%s pack_a wrote past packed_a_size", fam->name);
    }
    int m0 = block_m0(fam, g), n0 = block_n0(fam, g);
    irc_sgemm_args p = {g->M, g->N, g->K, g->packed_a ? NULL : a, (size_t)g->lda, ap, bp,
                        g->bias_kind ? bias : NULL, g->bias_kind == 2, g->lo, g->hi, c,
                        (size_t)g->ldc, m0, g->m1, n0, g->n1};
    fam->run(&p);
    free(ap);
    for (int m = 0; m < g->M; m++)
        for (int n = 0; n < g->ldc; n++) {
            int inside = m >= m0 && m < g->m1 && n >= n0 && n < g->n1;
            if (!inside)
                CHECK(c[(size_t)m * g->ldc + n] == GUARD, "%s wrote outside the block at (%d,%d) M=%d N=%d K=%d block [%d,%d)x[%d,%d)",
                      fam->name, m, n, g->M, g->N, g->K, m0, g->m1, n0, g->n1);
        }
    free(bp);
    return c;
}

static void test_sgemm(void) {
    family_pair fams[4];
    int nf = isa_families(fams);
    static const int sizes[] = {1, 2, 3, 5, 7, 8, 11, 12, 13, 16, 17, 24, 31, 32, 33, 47, 64, 65, 100};
    int ns = (int)(sizeof sizes / sizeof sizes[0]);
    for (int iter = 0; iter < 400; iter++) {
        gemm_case g;
        g.M = sizes[rnd_int(0, ns - 1)];
        g.N = sizes[rnd_int(0, ns - 1)];
        g.K = iter % 25 == 0 ? rnd_int(257, 700) : sizes[rnd_int(0, ns - 1)];
        if (iter % 40 == 1) g.M = rnd_int(100, 200);
        if (iter % 40 == 2) g.N = rnd_int(100, 600);
        g.lda = g.K + rnd_int(0, 3);
        g.ldc = g.N + rnd_int(0, 3);
        g.m0 = rnd_int(0, 1) ? 0 : rnd_int(0, g.M - 1);
        g.m1 = rnd_int(0, 1) ? g.M : rnd_int(g.m0 + 1, g.M);
        g.n0 = rnd_int(0, 1) ? 0 : rnd_int(0, g.N - 1);
        g.n1 = rnd_int(0, 1) ? g.N : rnd_int(g.n0 + 1, g.N);
        g.bias_kind = rnd_int(0, 2);
        g.packed_a = rnd_int(0, 2) == 0;
        int clamp = rnd_int(0, 3);
        g.lo = clamp == 1 || clamp == 3 ? rnd_float(-2.0f, 0.0f) : -INFINITY;
        g.hi = clamp >= 2 ? rnd_float(0.0f, 2.0f) : INFINITY;
        float *a = xmalloc((size_t)g.M * g.lda * sizeof(float));
        float *b = xmalloc((size_t)g.K * g.N * sizeof(float));
        float *bias = xmalloc((size_t)(g.M > g.N ? g.M : g.N) * sizeof(float));
        for (size_t i = 0; i < (size_t)g.M * g.lda; i++) a[i] = rnd_float(-1.0f, 1.0f);
        for (size_t i = 0; i < (size_t)g.K * g.N; i++) b[i] = rnd_float(-1.0f, 1.0f);
        for (int i = 0; i < (g.M > g.N ? g.M : g.N); i++) bias[i] = rnd_float(-1.0f, 1.0f);
        if (iter % 50 == 3) a[0] = NAN;  /* NaN survives the clamp */
        float *ref = run_gemm(&irc_sgemm_scalar, &g, a, b, bias);
        int n0s = block_n0(&irc_sgemm_scalar, &g), m0s = block_m0(&irc_sgemm_scalar, &g);
        /* scalar vs double */
        for (int m = m0s; m < g.m1; m++)
            for (int n = n0s; n < g.n1; n++) {
                double s = g.bias_kind == 1 ? bias[m] : g.bias_kind == 2 ? bias[n] : 0.0, mag = fabs(s);
                for (int k = 0; k < g.K; k++) {
                    s += (double)a[(size_t)m * g.lda + k] * b[(size_t)k * g.N + n];
                    mag += fabs((double)a[(size_t)m * g.lda + k] * b[(size_t)k * g.N + n]);
                }
                if (s != s) {
                    CHECK(ref[(size_t)m * g.ldc + n] != ref[(size_t)m * g.ldc + n], "NaN lost");
                    continue;
                }
                if (s < g.lo) s = g.lo;
                if (s > g.hi) s = g.hi;
                float got = ref[(size_t)m * g.ldc + n];
                CHECK(fabs(got - s) <= 1e-6 * mag * sqrt((double)g.K) + 1e-30,
                      "scalar sgemm M=%d N=%d K=%d (%d,%d): %g vs %g", g.M, g.N, g.K, m, n, got, s);
            }
        for (int f = 0; f < nf; f++) {
            const irc_sgemm_family *fam = fams[f].sgemm;
            float *c = run_gemm(fam, &g, a, b, bias);
            int n0 = block_n0(fam, &g), m0 = block_m0(fam, &g);
            /* compare where both computed */
            for (int m = (m0 > m0s ? m0 : m0s); m < g.m1; m++)
                for (int n = (n0 > n0s ? n0 : n0s); n < g.n1; n++) {
                    float x = c[(size_t)m * g.ldc + n], y = ref[(size_t)m * g.ldc + n];
                    double mag = 0;
                    for (int k = 0; k < g.K; k++) mag += fabs((double)a[(size_t)m * g.lda + k] * b[(size_t)k * g.N + n]);
                    mag += 1.0;
                    int ok = (x != x && y != y) || fabs((double)x - y) <= 2e-6 * mag * sqrt((double)g.K);
                    CHECK(ok, "%s sgemm M=%d N=%d K=%d block [%d,%d)x[%d,%d) bias %d (%d,%d): %g vs scalar %g",
                          fam->name, g.M, g.N, g.K, g.m0, g.m1, n0, g.n1, g.bias_kind, m, n, x, y);
                }
            free(c);
        }
        free(ref);
        free(a);
        free(b);
        free(bias);
    }
}

/* --- f32: ISA families vs scalar, bit for bit ------------------------------------------------ */

static float special_or_random(int i) {
    static const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, INFINITY, -INFINITY, NAN, 1e-40f,
                                     -1e-40f, 3.0f, -3.0f, 88.7f, -88.7f, 100.0f, -100.0f, 0.5f,
                                     1e-30f, 6.0f, -6.0f, 9.5f, -9.5f, 20.0f, -20.0f};
    int ns = (int)(sizeof specials / sizeof specials[0]);
    if (i % 7 == 0) return specials[rnd_int(0, ns - 1)];
    int scale = rnd_int(0, 3);
    float r = scale == 0 ? 1.0f : scale == 1 ? 5.0f : scale == 2 ? 20.0f : 0.01f;
    return rnd_float(-r, r);
}

static void test_f32_families(void) {
    family_pair fams[4];
    int nf = isa_families(fams);
    const irc_f32_family *s = &irc_f32_scalar;
    enum { MAXN = 720 };
    float *x = xmalloc((MAXN + 8) * sizeof(float)), *x2 = xmalloc((MAXN + 8) * sizeof(float));
    float *y0 = xmalloc((MAXN + 8) * sizeof(float)), *y1 = xmalloc((MAXN + 8) * sizeof(float));
    float *sc = xmalloc((MAXN + 8) * sizeof(float)), *bi = xmalloc((MAXN + 8) * sizeof(float));
    uint8_t *u0 = xmalloc(MAXN + 8), *u1 = xmalloc(MAXN + 8);
    for (int iter = 0; iter < 300; iter++) {
        size_t n = iter < 40 ? (size_t)iter + 1 : (size_t)rnd_int(1, MAXN);
        int off = rnd_int(0, 3);
        float *xa = x + off, *xb = x2 + rnd_int(0, 3);
        for (size_t i = 0; i < n; i++) {
            xa[i] = special_or_random((int)i + iter);
            xb[i] = special_or_random((int)i * 3 + iter + 1);
            sc[i] = rnd_float(-2.0f, 2.0f);
            bi[i] = rnd_float(-1.0f, 1.0f);
        }
        float p0 = rnd_float(-1.0f, 1.0f), p1 = rnd_float(0.0f, 2.0f);
        for (int f = 0; f < nf; f++) {
            const irc_f32_family *v = fams[f].f32;
            for (int op = 0; op < IRC_F32_UNARY_COUNT; op++) {
                if (op == IRC_F32_NOT || op == IRC_F32_IS_NAN || op == IRC_F32_IS_INF) continue;
                s->unary(op, xa, y0, n, p0, p1);
                v->unary(op, xa, y1, n, p0, p1);
                for (size_t i = 0; i < n; i++)
                    CHECK(same_bits(y0[i], y1[i]), "%s unary %d n=%zu x=%g: %g vs scalar %g",
                          v->name, op, n, xa[i], y1[i], y0[i]);
                /* in place */
                memcpy(y1, xa, n * sizeof(float));
                v->unary(op, y1, y1, n, p0, p1);
                for (size_t i = 0; i < n; i++)
                    CHECK(same_bits(y0[i], y1[i]), "%s unary %d in place n=%zu", v->name, op, n);
            }
            for (int op = 0; op < IRC_F32_BINARY_COUNT; op++) {
                int arith = op <= IRC_F32_MIN || op == IRC_F32_PRELU;
                int cmp = op >= IRC_F32_EQUAL && op <= IRC_F32_GREATER_EQUAL;
                if (!arith && !cmp) continue;
                for (int st = 0; st < 4; st++) {
                    size_t sa = st & 1, sb = st >> 1;
                    if (arith) {
                        float lo = iter % 3 == 0 ? -0.5f : -INFINITY, hi = iter % 5 == 0 ? 0.7f : INFINITY;
                        s->binary(op, xa, sa, xb, sb, y0, n, lo, hi);
                        v->binary(op, xa, sa, xb, sb, y1, n, lo, hi);
                        for (size_t i = 0; i < n; i++)
                            CHECK(same_bits(y0[i], y1[i]), "%s binary %d strides %zu,%zu n=%zu i=%zu: %g vs %g",
                                  v->name, op, sa, sb, n, i, y1[i], y0[i]);
                    } else {
                        s->compare(op, xa, sa, xb, sb, u0, n);
                        v->compare(op, xa, sa, xb, sb, u1, n);
                        CHECK(memcmp(u0, u1, n) == 0, "%s compare %d strides %zu,%zu n=%zu", v->name, op, sa, sb, n);
                    }
                }
            }
            for (int lg = 0; lg < 2; lg++) {
                s->softmax(xb, y0, n, lg);
                v->softmax(xb, y1, n, lg);
                for (size_t i = 0; i < n; i++)
                    CHECK(same_bits(y0[i], y1[i]), "%s softmax log=%d n=%zu", v->name, lg, n);
            }
            for (int mode = 0; mode < 4; mode++) {
                const float *scp = mode & 1 ? sc : NULL, *bip = mode & 2 ? bi : NULL;
                s->layernorm(xb, y0, n, scp, bip, 1e-5f);
                v->layernorm(xb, y1, n, scp, bip, 1e-5f);
                for (size_t i = 0; i < n; i++)
                    CHECK(same_bits(y0[i], y1[i]), "%s layernorm n=%zu", v->name, n);
            }
            for (int op = IRC_F32_IS_NAN; op <= IRC_F32_IS_INF; op++) {
                s->classify(op, xa, u0, n, (float)(iter & 1), (float)(iter & 2));
                v->classify(op, xa, u1, n, (float)(iter & 1), (float)(iter & 2));
                CHECK(memcmp(u0, u1, n) == 0, "%s classify %d n=%zu", v->name, op, n);
                for (size_t i = 0; i < n; i++) {
                    int want = op == IRC_F32_IS_NAN ? xa[i] != xa[i]
                                                    : ((iter & 1) && xa[i] == INFINITY) ||
                                                          ((iter & 2) && xa[i] == -INFINITY);
                    CHECK(u0[i] == want, "classify %d of %g", op, xa[i]);
                }
            }
            for (int st = 0; st < 8; st++) {
                size_t sc = st & 1, sa = (st >> 1) & 1, sb = st >> 2;
                uint8_t *cnd = u1;
                for (size_t i = 0; i < n; i++) cnd[i] = (uint8_t)(rnd() & 1);
                const uint32_t *ua = (const uint32_t *)xa, *ub = (const uint32_t *)xb;
                uint32_t *r0 = (uint32_t *)y0, *r1 = (uint32_t *)y1;
                s->select32(cnd, sc, ua, sa, ub, sb, r0, n);
                v->select32(cnd, sc, ua, sa, ub, sb, r1, n);
                for (size_t i = 0; i < n; i++) {
                    uint32_t want = cnd[i * sc] ? ua[i * sa] : ub[i * sb];
                    CHECK(r0[i] == want && r1[i] == want, "%s select32 strides %zu%zu%zu i=%zu", v->name, sc, sa, sb, i);
                }
            }
            CHECK(same_bits(s->sum(xa, n), v->sum(xa, n)), "%s sum n=%zu", v->name, n);
            CHECK(same_bits(s->max(xa, n), v->max(xa, n)), "%s max n=%zu", v->name, n);
        }
    }
    free(x); free(x2); free(y0); free(y1); free(sc); free(bi); free(u0); free(u1);
}

/* --- f32: scalar vs double references --------------------------------------------------------- */

static double gelu_ref(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double gelu_tanh_ref(double x) {
    /* 0.5·x·(1 + tanh t) = x / (1 + e^{−2t}): exact in the tail where 1 + tanh t cancels */
    return x / (1.0 + exp(-2.0 * 0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}
static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

typedef struct {
    int op;
    double (*ref)(double);
    double lo, hi;       /* grid */
    double max_ulps;
    const char *name;
} unary_ref;

static void test_f32_accuracy(void) {
    const irc_f32_family *s = &irc_f32_scalar;
    static const unary_ref refs[] = {
        {IRC_F32_EXP, exp, -104.0, 89.0, 2.0, "exp"},
        {IRC_F32_LOG, log, 1e-38, 1e4, 2.0, "log"},
        {IRC_F32_TANH, tanh, -12.0, 12.0, 3.0, "tanh"},
        {IRC_F32_ERF, erf, -5.0, 5.0, 3.0, "erf"},
        {IRC_F32_GELU, gelu_ref, -12.0, 12.0, 16.0, "gelu"},
        {IRC_F32_GELU_TANH, gelu_tanh_ref, -9.0, 12.0, 8.0, "gelu_tanh"},
        {IRC_F32_SIGMOID, sigmoid_ref, -80.0, 30.0, 3.0, "sigmoid"},
        {IRC_F32_SQRT, sqrt, 0.0, 1e6, 0.5, "sqrt"},
    };
    enum { G = 200000 };
    float *x = xmalloc(G * sizeof(float)), *y = xmalloc(G * sizeof(float));
    for (size_t r = 0; r < sizeof refs / sizeof refs[0]; r++) {
        const unary_ref *u = &refs[r];
        for (int i = 0; i < G; i++) {
            if (u->op == IRC_F32_LOG && i % 2) {   /* log: also geometric, down to subnormals */
                x[i] = (float)exp(-103.0 + 113.0 * i / G);
                continue;
            }
            x[i] = (float)(u->lo + (u->hi - u->lo) * i / (G - 1));
        }
        s->unary(u->op, x, y, G, 0.0f, 0.0f);
        double worst = 0;
        int at = 0;
        for (int i = 0; i < G; i++) {
            double want = u->ref((double)x[i]);
            double e = ulps(y[i], want);
            /* a result below float's normal range is judged absolutely */
            if (fabs(want) < 1e-37 && fabs(y[i] - want) < 1e-44) e = 0;
            /* gelu's far negative tail: relative 1e-5 is the contract there */
            if ((u->op == IRC_F32_GELU || u->op == IRC_F32_GELU_TANH) && x[i] < -3.0f &&
                fabs(y[i] - want) <= 1e-5 * fabs(want) + 1e-44)
                e = 0;
            if (e > worst) {
                worst = e;
                at = i;
            }
        }
        CHECK(worst <= u->max_ulps, "%s: %.2f ulps at x=%.9g (got %.9g, want %.9g)", u->name, worst,
              x[at], y[at], u->ref((double)x[at]));
    }
    /* special values */
    static const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
        float v = sp[i], r;
        s->unary(IRC_F32_EXP, &v, &r, 1, 0, 0);
        CHECK(same_bits(r, (float)exp(v)) || (v != v && r != r), "exp(%g) = %g", v, r);
        s->unary(IRC_F32_LOG, &v, &r, 1, 0, 0);
        CHECK(same_bits(r, logf(v)) || (r != r && logf(v) != logf(v)), "log(%g) = %g", v, r);
        s->unary(IRC_F32_TANH, &v, &r, 1, 0, 0);
        CHECK(same_bits(r, tanhf(v)) || (r != r && v != v), "tanh(%g) = %g", v, r);
        s->unary(IRC_F32_ERF, &v, &r, 1, 0, 0);
        CHECK(same_bits(r, erff(v)) || (r != r && v != v), "erf(%g) = %g", v, r);
        s->unary(IRC_F32_SIGMOID, &v, &r, 1, 0, 0);
        CHECK(fabsf(r - (float)sigmoid_ref(v)) <= 1e-7f || (r != r && v != v), "sigmoid(%g) = %g", v, r);
        s->unary(IRC_F32_RELU, &v, &r, 1, 0, 0);
        CHECK(same_bits(r, v < 0 ? 0.0f : v), "relu(%g) = %g", v, r);
    }
    /* numpy.clip with a NaN bound: every result NaN */
    {
        float v[3] = {1.0f, -2.0f, 0.5f}, r[3];
        s->unary(IRC_F32_CLIP, v, r, 3, NAN, 1.0f);
        CHECK(r[0] != r[0] && r[1] != r[1] && r[2] != r[2], "clip with a NaN bound");
        s->unary(IRC_F32_CLIP, v, r, 3, 1.0f, 0.0f);   /* lo > hi: hi */
        CHECK(r[0] == 0.0f && r[1] == 0.0f && r[2] == 0.0f, "clip with lo > hi");
    }
    /* activations with parameters, exactly as the interpreter computes them in float32 */
    for (int i = 0; i < 2000; i++) {
        float v = i < 20 ? (float)(i - 10) * 0.5f : rnd_float(-10.0f, 10.0f), r;
        float alpha = 0.2f, beta = 0.5f;
        s->unary(IRC_F32_HARDSWISH, &v, &r, 1, 0, 0);
        float t = v + 3.0f;
        t = t < 0 ? 0 : t > 6 ? 6 : t;
        CHECK(same_bits(r, v * t / 6.0f), "hardswish(%g) = %g", v, r);
        s->unary(IRC_F32_HARDSIGMOID, &v, &r, 1, alpha, beta);
        t = v * alpha + beta;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        CHECK(same_bits(r, t), "hardsigmoid(%g) = %g", v, r);
        s->unary(IRC_F32_LEAKY_RELU, &v, &r, 1, 0.01f, 0);
        CHECK(same_bits(r, v >= 0 ? v : v * 0.01f), "leaky_relu(%g) = %g", v, r);
        s->unary(IRC_F32_CLIP, &v, &r, 1, -1.5f, 2.5f);
        CHECK(same_bits(r, v < -1.5f ? -1.5f : v > 2.5f ? 2.5f : v), "clip(%g) = %g", v, r);
    }
    /* softmax and layer norm against double */
    float row[300], out[300];
    for (int iter = 0; iter < 50; iter++) {
        int n = rnd_int(1, 300);
        for (int i = 0; i < n; i++) row[i] = rnd_float(-30.0f, 30.0f);
        double m = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++) m = row[i] > m ? row[i] : m;
        for (int i = 0; i < n; i++) sum += exp(row[i] - m);
        s->softmax(row, out, (size_t)n, 0);
        for (int i = 0; i < n; i++) {
            double want = exp(row[i] - m) / sum;
            CHECK(fabs(out[i] - want) <= 1e-5 * want + 1e-40, "softmax n=%d i=%d %g vs %g", n, i, out[i], want);
        }
        s->softmax(row, out, (size_t)n, 1);
        for (int i = 0; i < n; i++) {
            double want = (row[i] - m) - log(sum);
            CHECK(fabs(out[i] - want) <= 1e-5 * fabs(want) + 1e-5, "log_softmax n=%d i=%d %g vs %g", n, i, out[i], want);
        }
        double mu = 0, var = 0;
        for (int i = 0; i < n; i++) mu += row[i];
        mu /= n;
        for (int i = 0; i < n; i++) var += (row[i] - mu) * (row[i] - mu);
        var /= n;
        s->layernorm(row, out, (size_t)n, NULL, NULL, 1e-5f);
        for (int i = 0; i < n; i++) {
            double want = (row[i] - mu) / sqrt(var + 1e-5);
            CHECK(fabs(out[i] - want) <= 1e-4 * sqrt((double)n) * (fabs(want) + 1e-3), "layernorm n=%d %g vs %g", n, out[i], want);
        }
    }
    free(x);
    free(y);
}

/* --- depthwise conv: scalar vs a direct double loop, ISA families vs scalar bit for bit ---- */

static void test_dwconv(void) {
    family_pair fams[4];
    int nf = isa_families(fams);
    for (int iter = 0; iter < 150; iter++) {
        irc_f32_dwconv_args p;
        memset(&p, 0, sizeof p);
        p.KH = rnd_int(1, 5), p.KW = rnd_int(1, 5);
        p.dh = rnd_int(1, 2), p.dw = rnd_int(1, 2);
        p.sh = rnd_int(1, 3), p.sw = rnd_int(1, 3);
        p.pt = rnd_int(0, 2), p.pl = rnd_int(0, 2);
        int pb = rnd_int(0, 2), pr = rnd_int(0, 2);
        p.H = rnd_int((p.KH - 1) * p.dh + 1, 20), p.W = rnd_int((p.KW - 1) * p.dw + 1, 40);
        p.OH = (p.H + p.pt + pb - (p.KH - 1) * p.dh - 1) / p.sh + 1;
        p.OW = (p.W + p.pl + pr - (p.KW - 1) * p.dw - 1) / p.sw + 1;
        p.mult = rnd_int(1, 2);
        int C = rnd_int(1, 6), OC = C * p.mult;
        p.lo = iter % 3 ? -INFINITY : -0.5f;
        p.hi = iter % 4 ? INFINITY : 0.5f;
        size_t nx = (size_t)C * p.H * p.W, nw = (size_t)OC * p.KH * p.KW, ny = (size_t)OC * p.OH * p.OW;
        float *x = xmalloc(nx * 4), *w = xmalloc(nw * 4), *bias = xmalloc((size_t)OC * 4);
        float *y0 = xmalloc(ny * 4), *y1 = xmalloc(ny * 4);
        for (size_t i = 0; i < nx; i++) x[i] = rnd_float(-1, 1);
        for (size_t i = 0; i < nw; i++) w[i] = rnd_float(-1, 1);
        for (int i = 0; i < OC; i++) bias[i] = rnd_float(-1, 1);
        p.x = x, p.w = w, p.bias = iter % 2 ? bias : NULL, p.c0 = 0, p.c1 = OC;
        p.y = y0;
        irc_f32_scalar.dwconv(&p);
        for (int o = 0; o < OC; o++)
            for (int oh = 0; oh < p.OH; oh++)
                for (int ow = 0; ow < p.OW; ow++) {
                    double s = 0;
                    for (int i = 0; i < p.KH; i++)
                        for (int j = 0; j < p.KW; j++) {
                            int ih = oh * p.sh + i * p.dh - p.pt, iw = ow * p.sw + j * p.dw - p.pl;
                            if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                            s += (double)w[(o * p.KH + i) * p.KW + j] * x[((size_t)(o / p.mult) * p.H + ih) * p.W + iw];
                        }
                    if (p.bias) s += bias[o];
                    s = s < p.lo ? p.lo : s > p.hi ? p.hi : s;
                    float got = y0[((size_t)o * p.OH + oh) * p.OW + ow];
                    CHECK(fabs(got - s) <= 1e-5 * (1 + p.KH * p.KW), "dwconv (%d,%d,%d): %g vs %g", o, oh, ow, got, s);
                }
        for (int f = 0; f < nf; f++) {
            p.y = y1;
            fams[f].f32->dwconv(&p);
            for (size_t i = 0; i < ny; i++)
                CHECK(same_bits(y0[i], y1[i]), "%s dwconv differs at %zu", fams[f].f32->name, i);
        }
        free(x); free(w); free(bias); free(y0); free(y1);
    }
}

int main(void) {
    test_sgemm();
    test_dwconv();
    test_f32_families();
    test_f32_accuracy();
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
