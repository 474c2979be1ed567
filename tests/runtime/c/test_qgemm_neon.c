/*
 * test_qgemm_neon.c — the arm64 int8 GEMM families ("neon", "neondot") against
 * an exact reference, run under qemu by tests/runtime/test_qgemm_arm64.py.
 *
 *   test_qgemm_neon [--seed S] [--cases N] [--force-neondot]
 *
 * Each family available on this CPU (neondot only when HWCAP has ASIMDDP;
 * otherwise the line "neondot: skipped: HWCAP lacks ASIMDDP" is printed, and
 * --force-neondot runs it anyway, which must trap on such a CPU) is checked on
 *
 *   - the packed layout, byte for byte, against the formula in qgemm_neon.c;
 *   - random problems: shapes around the 4×16 tile and the kr groups, every
 *     block m0..m1 × n0..n1 (empty ones too), both a_is_act, per_col and
 *     per-row channels, int32 / int8 / uint8 output, lda/ldc padding;
 *   - a requantization sweep (K = kr, A = 0, so acc = bias exactly): shifts
 *     −31..30, multipliers 0, 1, 2^30, 2^31−1 and random, accumulators at
 *     INT32_MIN/MAX, exact ties of the rounding divide, left-shift wrapping;
 *   - int32 wrapping of the dot products (K = 140000 of (−128)·(−128)).
 *
 * The reference is written here from irc/fixedpoint.py's definitions (int64,
 * round-half-away written out, `+ out_zp` without wrapping), independently of
 * fixedpoint.h; where the problem has a uint8-activation twin (a_is_act == per_col),
 * irc_qgemm_scalar is checked on it too.  Every operand lives at the end of a
 * page followed by a PROT_NONE page, so a read or write past the contract's
 * bounds (A rows: K bytes; per-channel arrays: round_up(C, 64); packed B:
 * packed_size) faults; C is surrounded by sentinel bytes that must survive.
 */
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "irc_runtime.h"
#include "kernels/kernels.h"
#include "kernels/qgemm.h"

#if !defined(__aarch64__)
int main(void) {
    puts("skipped: not an arm64 build");
    return 0;
}
#else

/* --- random numbers and guarded memory -------------------------------------------------- */

static uint64_t rng_state = 1;
static uint32_t rnd(void) {                                  /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}
static int32_t rnd_range(int32_t lo, int32_t hi) {           /* inclusive */
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

typedef struct guarded { uint8_t *base; size_t len; } guarded;

/* n bytes ending exactly where a PROT_NONE page begins, filled with `fill`. */
static void *guarded_alloc(guarded *g, size_t n, uint8_t fill) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (n + page - 1) / page * page;
    if (body == 0) body = page;
    g->len = body + page;
    g->base = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->base == MAP_FAILED || mprotect(g->base + body, page, PROT_NONE) != 0) {
        perror("mmap");
        exit(2);
    }
    memset(g->base, fill, body);
    return g->base + body - n;
}
static void guarded_free(guarded *g) { munmap(g->base, g->len); }

static size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

/* --- the reference (irc/fixedpoint.py, written out in int64) ----------------------------- */

static int64_t wrap32(int64_t v) { return (int64_t)(int32_t)(uint32_t)(uint64_t)v; }

static int64_t ref_srdhm(int64_t a, int64_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t num = a * b + (a * b >= 0 ? (1LL << 30) : 1 - (1LL << 30));
    return num >= 0 ? num >> 31 : -((-num) >> 31);         /* truncate toward zero */
}
static int64_t ref_round_div_pot(int64_t x, int k) {        /* x / 2^k, half away from 0 */
    if (k == 0) return x;
    int64_t half = 1LL << (k - 1);
    return x >= 0 ? (x + half) >> k : -((-x + half) >> k);
}
/* clamp(MBQM(acc) + zp, lo, hi); *overflow set when MBQM + zp leaves int32 (where
 * fixedpoint.h's int32 sum and the int64 definition part ways). */
static int64_t ref_requant(int64_t acc, int32_t mult, int32_t shift, int32_t zp, int32_t lo,
                           int32_t hi, int *overflow) {
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    int64_t x = wrap32((int64_t)((uint64_t)acc << left));
    int64_t y = ref_round_div_pot(ref_srdhm(x, mult), right) + zp;
    if (y < INT32_MIN || y > INT32_MAX) *overflow = 1;
    return y < lo ? lo : (y > hi ? hi : y);
}

/* --- one problem ------------------------------------------------------------------------ */

enum { OUT_I32, OUT_I8, OUT_U8 };

typedef struct problem {
    int32_t M, N, K_src, K;       /* K = K_src rounded up to the family's kr */
    int a_is_act, per_col, out;
    int32_t m0, m1, n0, n1;
    size_t lda, ldc;
    ptrdiff_t rs, cs;             /* B source strides (bytes) */
    uint8_t xor_mask;             /* B stored = logical ^ xor_mask */
    int has_bias;
    int32_t out_zp, lo, hi;
    const int8_t *a;              /* [M][lda], zero for K_src <= k < K */
    const uint8_t *bsrc;          /* stored B */
    const int32_t *bias, *mult, *shift;   /* round_up(C, 64) entries */
} problem;

static int8_t logical_b(const problem *p, int32_t k, int32_t n) {
    return (int8_t)(p->bsrc[k * p->rs + n * p->cs] ^ p->xor_mask);
}

static size_t out_size(int out) { return out == OUT_I32 ? 4 : 1; }

/* The expected C element (as int64) at (m, n); *overflow as in ref_requant. */
static int64_t expected(const problem *p, int32_t m, int32_t n, int *overflow) {
    int32_t c = p->per_col ? n : m;
    int64_t acc = p->has_bias ? p->bias[c] : 0;
    for (int32_t k = 0; k < p->K_src; k++) acc += (int64_t)p->a[m * p->lda + k] * logical_b(p, k, n);
    acc = wrap32(acc);
    if (p->out == OUT_I32) return acc;
    return ref_requant(acc, p->mult[c], p->shift[c], p->out_zp, p->lo, p->hi, overflow);
}

static int64_t load_out(const void *c, size_t at, int out) {
    if (out == OUT_I32) { int32_t v; memcpy(&v, (const uint8_t *)c + at * 4, 4); return v; }
    if (out == OUT_I8) return ((const int8_t *)c)[at];
    return ((const uint8_t *)c)[at];
}

static long failures;

static void describe(const char *family, const problem *p) {
    fprintf(stderr,
            "  [%s] M=%d N=%d K_src=%d K=%d block m %d..%d n %d..%d a_is_act=%d per_col=%d "
            "out=%s lda=%zu ldc=%zu rs=%td cs=%td xor=0x%02x bias=%d zp=%d lo=%d hi=%d\n",
            family, p->M, p->N, p->K_src, p->K, p->m0, p->m1, p->n0, p->n1, p->a_is_act,
            p->per_col, p->out == OUT_I32 ? "i32" : p->out == OUT_I8 ? "i8" : "u8", p->lda,
            p->ldc, p->rs, p->cs, p->xor_mask, p->has_bias, p->out_zp, p->lo, p->hi);
}

#define SENTINEL 0xA5
#define FRONT 64

/* Run family f on p into a guarded C; compare the block with the reference and the rest
 * with the sentinel.  *overflow reports ref_requant's flag over the block. */
static void check_family(const irc_qgemm_family *f, const problem *p, int *overflow) {
    guarded gb, gc;
    size_t psize = f->packed_size(p->K, p->N);
    void *packed = guarded_alloc(&gb, psize, 0xCD);
    f->pack_b(p->K_src, p->K, p->N, p->bsrc, p->rs, p->cs, p->xor_mask, packed);

    size_t es = out_size(p->out), cbytes = (size_t)p->M * p->ldc * es + FRONT;
    uint8_t *cbuf = guarded_alloc(&gc, cbytes, SENTINEL), *c = cbuf + FRONT;
    irc_qgemm_args args = {
        p->M, p->N, p->K, p->a, p->lda, packed, p->a_is_act,
        p->has_bias ? p->bias : NULL, p->out == OUT_I32 ? NULL : p->mult, p->shift, p->per_col,
        p->out_zp, p->lo, p->hi, p->out == OUT_I8, c, p->ldc, p->m0, p->m1, p->n0, p->n1, NULL,
    };
    f->run(&args);

    long bad = 0;
    for (size_t i = 0; i < FRONT; i++)
        if (cbuf[i] != SENTINEL) bad++;
    for (int32_t m = 0; m < p->M; m++)
        for (size_t n = 0; n < p->ldc; n++) {
            size_t at = (size_t)m * p->ldc + n;
            int inside = m >= p->m0 && m < p->m1 && (int32_t)n >= p->n0 && (int32_t)n < p->n1;
            if (!inside) {
                for (size_t b = 0; b < es; b++)
                    if (c[at * es + b] != SENTINEL) {
                        if (bad++ < 4)
                            fprintf(stderr, "%s: wrote outside the block at m=%d n=%zu\n",
                                    f->name, m, n);
                        break;
                    }
                continue;
            }
            int64_t want = expected(p, m, (int32_t)n, overflow), got = load_out(c, at, p->out);
            if (p->out == OUT_U8) want = (uint8_t)want;
            if (p->out == OUT_I8) want = (int8_t)want;
            if (want != got && bad++ < 4) {
                int32_t ch = p->per_col ? (int32_t)n : m;
                fprintf(stderr, "%s: C[%d][%zu] = %" PRId64 ", expected %" PRId64
                        " (bias %d mult %d shift %d)\n", f->name, m, n, got, want,
                        p->has_bias ? p->bias[ch] : 0, p->mult[ch], p->shift[ch]);
            }
        }
    if (bad) {
        describe(f->name, p);
        failures++;
    }
    guarded_free(&gc);
    guarded_free(&gb);
}

/* The same problem in the scalar family's domain (uint8 activations, act ^ 0x80, the
 * activation offset folded into the bias: b − 128·Σ_k w), when its channels are the
 * weights' (a_is_act == per_col).  Only compared when no MBQM + zp left int32. */
static void check_scalar_twin(const problem *p) {
    guarded ga, gbias;
    int32_t C = p->per_col ? p->N : p->M;
    int32_t *bias = guarded_alloc(&gbias, round_up((size_t)C, 64) * 4, 0);
    for (int32_t c = 0; c < C; c++) {
        uint32_t sw = 0;
        for (int32_t k = 0; k < p->K_src; k++)
            sw += (uint32_t)(int32_t)(p->a_is_act ? logical_b(p, k, c) : p->a[c * p->lda + k]);
        bias[c] = (int32_t)((uint32_t)(p->has_bias ? p->bias[c] : 0) - 128u * sw);
    }
    size_t abytes = (size_t)(p->M - 1) * p->lda + (size_t)p->K;
    uint8_t *a = guarded_alloc(&ga, abytes, 0);
    for (size_t i = 0; i < abytes; i++)
        a[i] = (uint8_t)p->a[i] ^ (p->a_is_act ? 0x80 : 0);
    problem q = *p;
    q.K = p->K_src;
    q.a = (const int8_t *)a;
    q.bias = bias;
    q.has_bias = 1;
    /* check_family compares against the int8 problem p, so run the twin by hand */
    guarded gb, gc;
    const irc_qgemm_family *f = &irc_qgemm_scalar;
    void *packed = guarded_alloc(&gb, f->packed_size(q.K, q.N), 0);
    f->pack_b(q.K_src, q.K, q.N, q.bsrc, q.rs, q.cs, (uint8_t)(q.xor_mask ^ (p->a_is_act ? 0 : 0x80)),
              packed);
    size_t es = out_size(p->out);
    uint8_t *c = guarded_alloc(&gc, (size_t)p->M * p->ldc * es, SENTINEL);
    irc_qgemm_args args = {
        q.M, q.N, q.K, q.a, q.lda, packed, q.a_is_act, bias,
        p->out == OUT_I32 ? NULL : p->mult, p->shift, p->per_col, p->out_zp, p->lo, p->hi,
        p->out == OUT_I8, c, p->ldc, p->m0, p->m1, p->n0, p->n1, NULL,
    };
    f->run(&args);
    long bad = 0;
    for (int32_t m = p->m0; m < p->m1; m++)
        for (int32_t n = p->n0; n < p->n1; n++) {
            int ovf = 0;
            int64_t want = expected(p, m, n, &ovf), got = load_out(c, (size_t)m * p->ldc + n, p->out);
            if (p->out == OUT_U8) want = (uint8_t)want;
            if (p->out == OUT_I8) want = (int8_t)want;
            if (want != got && bad++ < 4)
                fprintf(stderr, "scalar twin: C[%d][%d] = %" PRId64 ", expected %" PRId64 "\n",
                        m, n, got, want);
        }
    if (bad) {
        describe("scalar twin", p);
        failures++;
    }
    guarded_free(&gc);
    guarded_free(&gb);
    guarded_free(&ga);
    guarded_free(&gbias);
}

/* --- building problems ------------------------------------------------------------------ */

typedef struct buffers { guarded a, b, bias, mult, shift; } buffers;

static void free_buffers(buffers *bu) {
    guarded_free(&bu->a);
    guarded_free(&bu->b);
    guarded_free(&bu->bias);
    guarded_free(&bu->mult);
    guarded_free(&bu->shift);
}

static int8_t rnd_s8(int extreme) {
    if (extreme == 1) return -128;
    if (extreme == 2) return (rnd() & 1) ? -128 : 127;
    return (int8_t)rnd();
}

/* Random multiplier / shift pair: edge values a quarter of the time each. */
static void rnd_requant(int32_t *mult, int32_t *shift) {
    static const int32_t mults[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX};
    *mult = rnd() % 4 == 0 ? mults[rnd() % 5] : (int32_t)(rnd() >> 1);
    *shift = rnd() % 4 == 0 ? (rnd() & 1 ? -31 : 30) : rnd_range(-31, 30);
    if (*shift > 0 && rnd() % 2) *mult = rnd_range(0, 200);   /* see the wrapped bits */
}

/* Allocate and fill p's operands for shape (M, N, K_src) and kr. */
static void fill_problem(problem *p, buffers *bu, int kr, int32_t M, int32_t N, int32_t K_src,
                         int extreme) {
    p->M = M; p->N = N; p->K_src = K_src;
    p->K = (K_src + kr - 1) / kr * kr;
    p->lda = (size_t)p->K + (rnd() % 3 == 0 ? rnd() % 40 : 0);
    p->ldc = (size_t)N + (rnd() % 3 == 0 ? rnd() % 20 : 0);
    p->xor_mask = rnd() & 1 ? 0x80 : 0;
    int8_t *a = guarded_alloc(&bu->a, (size_t)(M - 1) * p->lda + (size_t)p->K, 0x77);
    for (int32_t m = 0; m < M; m++)
        for (int32_t k = 0; k < p->K; k++) a[m * p->lda + k] = k < K_src ? rnd_s8(extreme) : 0;
    size_t bsize;
    if (rnd() & 1) {                        /* [K][N] rows: the contiguous pack path */
        p->cs = 1;
        p->rs = N + (rnd() % 3 == 0 ? (ptrdiff_t)(rnd() % 17) : 0);
        bsize = (size_t)(K_src - 1) * (size_t)p->rs + (size_t)N;
    } else {                                /* [N][K] rows: strided */
        p->rs = 1;
        p->cs = K_src + (rnd() % 3 == 0 ? (ptrdiff_t)(rnd() % 17) : 0);
        bsize = (size_t)(N - 1) * (size_t)p->cs + (size_t)K_src;
    }
    uint8_t *b = guarded_alloc(&bu->b, bsize, 0x55);
    for (int32_t k = 0; k < K_src; k++)
        for (int32_t n = 0; n < N; n++) b[k * p->rs + n * p->cs] = (uint8_t)rnd_s8(extreme) ^ p->xor_mask;
    int32_t C = p->per_col ? N : M;
    size_t cpad = round_up((size_t)C, 64);
    int32_t *bias = guarded_alloc(&bu->bias, cpad * 4, 0);
    int32_t *mult = guarded_alloc(&bu->mult, cpad * 4, 0);
    int32_t *shift = guarded_alloc(&bu->shift, cpad * 4, 0);
    for (size_t c = 0; c < cpad; c++) {     /* the padding holds garbage too */
        bias[c] = (int32_t)rnd();
        if (rnd() % 8 == 0) bias[c] = rnd() & 1 ? INT32_MAX - (int32_t)(rnd() % 1000)
                                                : INT32_MIN + (int32_t)(rnd() % 1000);
        else if (rnd() % 2) bias[c] = rnd_range(-100000, 100000);
        rnd_requant(&mult[c], &shift[c]);
        if ((int32_t)c >= C) shift[c] = rnd_range(-100, 100);
    }
    p->a = a; p->bsrc = b; p->bias = bias; p->mult = mult; p->shift = shift;
    p->has_bias = rnd() % 4 != 0;
}

static void rnd_output(problem *p) {
    p->out = (int)(rnd() % 3);
    if (p->out == OUT_I8) {
        p->out_zp = rnd_range(-128, 127);
        p->lo = rnd() % 2 ? -128 : rnd_range(-128, 0);
        p->hi = rnd() % 2 ? 127 : rnd_range(p->lo, 127);
    } else {
        p->out_zp = rnd_range(0, 255);
        p->lo = rnd() % 2 ? 0 : rnd_range(0, 128);
        p->hi = rnd() % 2 ? 255 : rnd_range(p->lo, 255);
    }
}

static void rnd_block(problem *p, int nr) {
    if (rnd() % 4 == 0) {
        p->m0 = 0; p->m1 = p->M; p->n0 = 0; p->n1 = p->N;
        return;
    }
    p->m0 = rnd_range(0, p->M - 1);
    p->m1 = rnd_range(p->m0, p->M);
    int32_t panels = (p->N + nr - 1) / nr;
    p->n0 = rnd_range(0, panels - 1) * nr;
    p->n1 = rnd_range(p->n0, p->N);
}

/* --- the checks -------------------------------------------------------------------------- */

/* The packed layout of qgemm_neon.c: packed[p·16·K + g·16·kr + j·kr + i] = B[g·kr+i][16p+j]. */
static void check_layout(const irc_qgemm_family *f, int kr) {
    for (int t = 0; t < 40; t++) {
        problem p;
        buffers bu;
        memset(&p, 0, sizeof p);
        p.per_col = 1;
        fill_problem(&p, &bu, kr, 1, rnd_range(1, 70), rnd_range(1, 40), 0);
        size_t size = f->packed_size(p.K, p.N);
        size_t want_size = (size_t)(p.N + 15) / 16 * 16 * (size_t)p.K;
        guarded gb;
        uint8_t *packed = guarded_alloc(&gb, size, 0xCD);
        f->pack_b(p.K_src, p.K, p.N, p.bsrc, p.rs, p.cs, p.xor_mask, packed);
        long bad = size != want_size;
        for (size_t i = 0; i < size && !bad; i++) {
            size_t panel = i / (16 * (size_t)p.K), r = i % (16 * (size_t)p.K);
            int32_t g = (int32_t)(r / (16 * (size_t)kr)), j = (int32_t)(r % (16 * (size_t)kr)) / kr,
                    ii = (int32_t)(r % (size_t)kr);
            int32_t k = g * kr + ii, n = (int32_t)panel * 16 + j;
            uint8_t want = k < p.K_src && n < p.N ? (uint8_t)logical_b(&p, k, n) : 0;
            if (packed[i] != want) bad++;
        }
        if (bad) {
            fprintf(stderr, "%s: packed layout differs (size %zu, expected %zu)\n", f->name, size,
                    want_size);
            describe(f->name, &p);
            failures++;
        }
        guarded_free(&gb);
        free_buffers(&bu);
    }
}

static void check_random(const irc_qgemm_family *f, int cases, long *twins) {
    for (int t = 0; t < cases; t++) {
        problem p;
        buffers bu;
        memset(&p, 0, sizeof p);
        p.a_is_act = rnd() & 1;
        p.per_col = rnd() % 4 == 0 ? !p.a_is_act : p.a_is_act;
        int big = t % 10 == 0;
        int32_t M = rnd_range(1, big ? 40 : 13), N = rnd_range(1, big ? 100 : 50),
                K_src = rnd_range(1, big ? 700 : 70);
        fill_problem(&p, &bu, f->kr, M, N, K_src, rnd() % 10 == 0 ? 1 + (int)(rnd() % 2) : 0);
        rnd_output(&p);
        rnd_block(&p, f->nr);
        int overflow = 0;
        check_family(f, &p, &overflow);
        if (p.a_is_act == p.per_col && !overflow) {
            check_scalar_twin(&p);
            (*twins)++;
        }
        free_buffers(&bu);
    }
}

/* acc = bias exactly (K = kr, A = 0): every (acc, mult, shift) combination of interest as
 * one channel, 64 channels a problem, per column and per row. */
static void check_requant(const irc_qgemm_family *f, long *channels) {
    enum { CH = 64 };
    int32_t acc[CH], mult[CH], shift[CH];
    int filled = 0, round = 0;
    static const int32_t accs[] = {INT32_MIN, INT32_MIN + 1, -(1 << 30), -65536, -129, -128,
                                   -2, -1, 0, 1, 2, 127, 128, 65535, 1 << 30, INT32_MAX - 1,
                                   INT32_MAX};
    static const int32_t mults[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX};
    const int n_acc = (int)(sizeof accs / sizeof accs[0]), n_mult = 5;
    long total = (long)n_acc * n_mult * 62 + 8000;
    for (long i = 0; i < total; i++) {
        int32_t a, m, s;
        if (i < (long)n_acc * n_mult * 62) {            /* the grid: every shift */
            a = accs[i % n_acc];
            m = mults[(i / n_acc) % n_mult];
            s = (int32_t)(i / (n_acc * n_mult)) - 31;
        } else if (i % 2) {                             /* exact ties: MBQM = (2j+1)/2 */
            int k = rnd_range(1, 24);                   /* SRDHM(2y, 2^30) = y exactly */
            int32_t j = rnd_range(-60, 59);
            a = (int32_t)((2 * (int64_t)j + 1) * ((int64_t)1 << k));
            m = 1 << 30;
            s = -k;
        } else {                                        /* results near the 8-bit range */
            rnd_requant(&m, &s);
            double real = (double)m * (double)((int64_t)1 << (s + 31)) / 4611686018427387904.0;
            double v = real > 0 ? rnd_range(-200, 200) / real + rnd_range(-3, 3) : (double)rnd();
            a = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
        }
        acc[filled] = a; mult[filled] = m; shift[filled] = s;
        if (++filled < CH && i + 1 < total) continue;
        for (int per_col = 0; per_col < 2; per_col++) {
            problem p;
            buffers bu;
            memset(&p, 0, sizeof p);
            p.per_col = per_col;
            p.a_is_act = per_col;
            fill_problem(&p, &bu, f->kr, per_col ? 1 : filled, per_col ? filled : 1, 1, 0);
            memset((void *)p.a, 0, (size_t)(p.M - 1) * p.lda + (size_t)p.K);
            memcpy((void *)p.bias, acc, (size_t)filled * 4);
            memcpy((void *)p.mult, mult, (size_t)filled * 4);
            memcpy((void *)p.shift, shift, (size_t)filled * 4);
            p.has_bias = 1;
            p.out = round % 2 ? OUT_U8 : OUT_I8;
            p.out_zp = p.out == OUT_I8 ? (round % 3 == 0 ? 0 : rnd_range(-5, 5)) : 128;
            p.lo = p.out == OUT_I8 ? -128 : 0;
            p.hi = p.out == OUT_I8 ? 127 : 255;
            p.m0 = 0; p.m1 = p.M; p.n0 = 0; p.n1 = p.N;
            int overflow = 0;
            check_family(f, &p, &overflow);
            free_buffers(&bu);
        }
        *channels += filled;
        filled = 0;
        round++;
    }
}

/* K = 140000 products of (−128)·(−128) = 2^14: the sums pass 2^31 and must wrap. */
static void check_wrap(const irc_qgemm_family *f) {
    for (int out = OUT_I32; out <= OUT_I8; out++) {
        problem p;
        buffers bu;
        memset(&p, 0, sizeof p);
        p.a_is_act = p.per_col = 1;
        fill_problem(&p, &bu, f->kr, 5, 21, 140000, 1);
        p.out = out;
        p.out_zp = 0; p.lo = -128; p.hi = 127;
        p.m0 = 0; p.m1 = p.M; p.n0 = 0; p.n1 = p.N;
        int overflow = 0;
        check_family(f, &p, &overflow);
        free_buffers(&bu);
    }
}

static void run_family(const irc_qgemm_family *f, int cases) {
    long before = failures, twins = 0, channels = 0;
    check_layout(f, f->kr);
    check_random(f, cases, &twins);
    check_requant(f, &channels);
    check_wrap(f);
    printf("%s: %s (act_signed=%d nr=%d kr=%d; %d random problems, %ld also on the scalar "
           "twin; %ld requantization channels; wrap)\n",
           f->name, failures == before ? "ok" : "FAILED", f->act_signed, f->nr, f->kr, cases,
           twins, channels);
    fflush(stdout);
}

int main(int argc, char **argv) {
    int cases = 300, force_dot = 0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--cases") && i + 1 < argc) cases = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--force-neondot")) force_dot = 1;
        else {
            fprintf(stderr, "usage: %s [--seed S] [--cases N] [--force-neondot]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);      /* lines survive a crash (SIGILL, SIGSEGV) */
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    uint32_t isas = irc_cpu_isas();
    printf("seed %" PRIu64 ", cpu isas 0x%02x\n", seed, isas);
    if (!irc_qgemm_neon.act_signed || irc_qgemm_neon.isa != IRC_ISA_NEON ||
        !irc_qgemm_neondot.act_signed || irc_qgemm_neondot.isa != IRC_ISA_NEON_DOT) {
        fprintf(stderr, "family tables: act_signed / isa bits wrong\n");
        failures++;
    }
    run_family(&irc_qgemm_neon, cases);
    if (isas & IRC_ISA_NEON_DOT) {
        run_family(&irc_qgemm_neondot, cases);
    } else {
        printf("neondot: skipped: HWCAP lacks ASIMDDP\n");
        fflush(stdout);
        if (force_dot) run_family(&irc_qgemm_neondot, cases);
    }
    if (failures) {
        printf("FAILED: %ld checks\n", failures);
        return 1;
    }
    printf("all ok\n");
    return 0;
}

#endif /* __aarch64__ */
