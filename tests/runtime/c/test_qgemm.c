/*
 * test_qgemm.c — every int8 GEMM family this build has and this CPU runs, against the scalar
 * reference (irc_qgemm_scalar), over random problems.  The families are the kernel registry's
 * (irc_kernels_all(), dispatch.c), so the whole kernel directory is linked.  No Python needed:
 *
 *   gcc -std=c99 -O2 -Iruntime/include -Iruntime/src tests/runtime/c/test_qgemm.c \
 *       runtime/src/cpu.c runtime/src/kernels/?*.c -lm -o /tmp/test_qgemm
 *   /tmp/test_qgemm [seed] [iterations]
 *
 * (tests/runtime/test_qgemm_kernels.py builds it that way, and again with ASan/UBSan.)
 *
 * What each problem varies (qgemm.h has the contract being checked):
 *   - M, N from 1 up past several tiles, with remainders; K = round_up(K_src, kr), K_src ≥ 1;
 *   - a_is_act 0/1, per_col 0/1, bias or NULL, int32 output (mult NULL) or int8/uint8;
 *   - mult/shift/bias drawn from edge values: mult 0, 1, 2^30, 2^31−1, INT32_MIN (SRDHM's
 *     saturating case), shift −31..30 with the ends weighted, bias near INT32_MIN/MAX and
 *     with tie patterns (k low bits 100…0); some problems have all-zero A so acc == bias
 *     exactly and the edge values reach the requantization unchanged;
 *   - B packed from row-major, strided or column-major sources, with xor masks;
 *   - the block m0..m1 × n0..n1: the whole matrix or a random sub-block (n0 a multiple of nr).
 * The reference: irc_qgemm_scalar's int32 accumulators (bias included) for the same block,
 * requantized by the normative rule, irc/fixedpoint.py's requantize_fixed_point:
 * clamp(MBQM(acc) + zp, lo, hi) with fixedpoint.h's irc_mbqm and the zero-point sum in int64.
 * The scalar C kernel sums MBQM + zp in int32, which overflows (undefined) for extreme
 * multipliers; it is held to the rule on the problems where that sum fits, every other
 * family on all of them (the summary counts the problems where it does not fit).
 * Families with int8 activations (act_signed, arm64) get the activations as x ^ 0x80 and
 * the bias b + 128·Σw, the caller's move (qgemm.h), on problems whose channel is the
 * weights' (per_col == a_is_act).
 * Checks:
 *   - C equal byte for byte with the reference, over the whole buffer: inside the block the
 *     values, outside it (and in guard bytes before and after) the untouched fill pattern;
 *   - A is an exact-size allocation holding rows m0..m1−1 only, and per-channel arrays hold
 *     exactly round_up(C, 64) entries, so under ASan any read outside them fails;
 *   - the packed B is an exact-size allocation of packed_size(K, N) bytes.
 * Exit status 0 when every family agrees; one summary line per family.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixedpoint.h"
#include "irc_runtime.h"
#include "kernels/kernels.h"
#include "kernels/qgemm.h"

#include "check_random.h"

/* A dimension: small ones often (tile remainders), sometimes past several tiles. */
static int32_t pick_dim(int32_t small, int32_t big) {
    int r = rng_int(0, 9);
    if (r < 2) return 1;
    if (r < 7) return rng_int(1, small);
    return rng_int(1, big);
}

typedef struct problem {
    int32_t M, N, K_src;
    int a_is_act, per_col, out_kind;           /* out_kind: 0 int32, 1 int8, 2 uint8 */
    int has_bias, a_zero;
    int32_t out_zp, lo, hi;
    size_t lda_pad, ldc_pad;
    int b_layout;                              /* 0 row-major, 1 row-major strided, 2 col-major */
    uint8_t xor_mask;
    uint8_t *a_full;                           /* M × lda_full, values for A[m][k], k < K_src */
    uint8_t *b_src;
    ptrdiff_t rs, cs;
    int32_t *bias, *mult, *shift;              /* C_ch entries (unpadded) */
    int32_t *row_bias;                         /* per_col problems: M entries, or NULL */
} problem;

/* matched: the channel is the weights' (per_col == a_is_act), as act_signed families need. */
static void problem_make(problem *pr, int matched) {
    pr->M = pick_dim(20, 150);
    pr->N = pick_dim(80, 300);
    pr->K_src = rng_int(0, 3) == 0 ? rng_int(1, 8) : pick_dim(100, 700);
    pr->a_is_act = rng_int(0, 1);
    pr->per_col = matched ? pr->a_is_act : rng_int(0, 1);
    pr->out_kind = rng_int(0, 2);
    pr->has_bias = rng_int(0, 4) != 0;
    pr->a_zero = rng_int(0, 5) == 0;
    pr->lda_pad = (size_t)(rng_int(0, 2) ? 0 : rng_int(1, 9));
    pr->ldc_pad = (size_t)(rng_int(0, 2) ? 0 : rng_int(1, 9));
    pr->b_layout = rng_int(0, 2);
    int x = rng_int(0, 2);
    pr->xor_mask = x == 0 ? 0 : (x == 1 ? 0x80 : (uint8_t)rng_int(0, 255));
    if (pr->out_kind == 1) {
        pr->lo = rng_int(0, 2) ? -128 : rng_int(-128, 127);
        pr->hi = rng_int(0, 2) ? 127 : rng_int(pr->lo, 127);
    } else {
        pr->lo = rng_int(0, 2) ? 0 : rng_int(0, 255);
        pr->hi = rng_int(0, 2) ? 255 : rng_int(pr->lo, 255);
    }
    pr->out_zp = rng_int(0, 3) == 0 ? 0 : rng_int(-300, 300);

    size_t lda_full = (size_t)pr->K_src;
    pr->a_full = xmalloc((size_t)pr->M * lda_full);
    int a_kind = rng_int(0, 3);   /* full-range bytes, or the extremes only */
    for (size_t i = 0; i < (size_t)pr->M * lda_full; i++) {
        uint8_t v = (uint8_t)rng_next();
        if (a_kind == 0) v = (v & 1) ? 0x7F : 0x80;    /* with xor: 127/−128 or 255/0 */
        if (a_kind == 1) v = (v & 1) ? 0xFF : 0x80;
        pr->a_full[i] = pr->a_zero ? 0 : v;
    }
    size_t n_src;
    if (pr->b_layout == 2) {
        pr->rs = 1;
        pr->cs = pr->K_src + rng_int(0, 3);
        n_src = (size_t)pr->cs * (size_t)pr->N;
    } else {
        pr->cs = 1;
        pr->rs = pr->N + (pr->b_layout == 1 ? rng_int(1, 20) : 0);
        n_src = (size_t)pr->rs * (size_t)pr->K_src;
    }
    pr->b_src = xmalloc(n_src);
    int b_kind = rng_int(0, 3);
    for (size_t i = 0; i < n_src; i++) {
        uint8_t v = (uint8_t)rng_next();
        if (b_kind == 0) v = (v & 1) ? 0x7F : 0x80;
        if (b_kind == 1) v = (v & 1) ? 0xFF : 0x00;
        pr->b_src[i] = v;
    }
    int32_t C = pr->per_col ? pr->N : pr->M;
    pr->bias = xmalloc((size_t)C * 4);
    pr->mult = xmalloc((size_t)C * 4);
    pr->shift = xmalloc((size_t)C * 4);
    pr->row_bias = NULL;             /* the activation × activation zero-point term */
    if (pr->per_col && rng_int(0, 2) == 0) {
        pr->row_bias = xmalloc((size_t)pr->M * 4);
        for (int32_t m = 0; m < pr->M; m++) pr->row_bias[m] = pick_bias();
    }
    int same = rng_int(0, 2) == 0;   /* per-tensor: one multiplier for every channel */
    for (int32_t c = 0; c < C; c++) {
        pr->bias[c] = pick_bias();
        pr->mult[c] = same && c ? pr->mult[0] : pick_mult();
        pr->shift[c] = same && c ? pr->shift[0] : pick_shift();
    }
}

static void problem_free(problem *pr) {
    free(pr->a_full);
    free(pr->b_src);
    free(pr->bias);
    free(pr->row_bias);
    free(pr->mult);
    free(pr->shift);
}

/* A per-channel array of exactly round_up(C, 64) entries: the C values, then garbage. */
static int32_t *padded(const int32_t *v, int32_t C) {
    size_t n = round_up((size_t)C, 64);
    int32_t *p = xmalloc(n * 4);
    for (size_t i = 0; i < n; i++) p[i] = (int32_t)i < C ? v[i] : rng_i32();
    return p;
}

#define GUARD 64
#define FILL 0xA5

typedef struct run_out {
    uint8_t *buf;      /* GUARD + C bytes + GUARD */
    size_t size;
} run_out;

/* Σ_k w[c][k] over the weights of channel c, as int8 (for moving activations to int8). */
static uint32_t weight_sum(const problem *pr, int32_t c) {
    uint32_t s = 0;
    for (int32_t k = 0; k < pr->K_src; k++) {
        uint8_t w = pr->a_is_act ? (uint8_t)(pr->b_src[k * pr->rs + c * pr->cs] ^ pr->xor_mask)
                                 : pr->a_full[(size_t)c * (size_t)pr->K_src + (size_t)k];
        s += (uint32_t)(int32_t)(int8_t)w;
    }
    return s;
}

/* Run family f on the problem's block; the result buffer (guards included) goes to *out.
 * int32_out: store accumulators whatever the problem's output kind.
 * A family with act_signed == 1 gets the activations as int8 (x ^ 0x80, value x − 128) and
 * the caller's correction folded into the bias (qgemm.h):
 *   Σ_k (x_k − 128)·w_k + b' = Σ_k x_k·w_k + b   ⇔   b' = b + 128·Σ_k w_k   (mod 2^32),
 * which needs the channel to be the weights' (per_col == a_is_act; problem_make ensures it). */
static void run_family(const irc_qgemm_family *f, const problem *pr, int32_t m0, int32_t m1,
                       int32_t n0, int32_t n1, int int32_out, run_out *out) {
    int32_t K = (int32_t)round_up((size_t)pr->K_src, (size_t)f->kr);
    int flip = f->act_signed != 0;
    size_t lda = (size_t)K + pr->lda_pad;
    /* A: rows m0..m1−1 only, each K bytes (zero past K_src), exact size */
    size_t a_bytes = (size_t)(m1 - m0 - 1) * lda + (size_t)K;
    uint8_t *a = xmalloc(a_bytes);
    memset(a, 0xCC, a_bytes);                  /* the gaps between rows: poison */
    for (int32_t m = m0; m < m1; m++) {
        uint8_t *row = a + (size_t)(m - m0) * lda;
        memcpy(row, pr->a_full + (size_t)m * (size_t)pr->K_src, (size_t)pr->K_src);
        if (flip && pr->a_is_act)
            for (int32_t k = 0; k < pr->K_src; k++) row[k] ^= 0x80;
        memset(row + pr->K_src, 0, (size_t)(K - pr->K_src));
    }
    size_t bsize = f->packed_size(K, pr->N);
    uint8_t *bp = xmalloc(bsize);
    uint8_t xor_mask = (uint8_t)(pr->xor_mask ^ (flip && !pr->a_is_act ? 0x80 : 0));
    f->pack_b(pr->K_src, K, pr->N, pr->b_src, pr->rs, pr->cs, xor_mask, bp);
    int32_t C = pr->per_col ? pr->N : pr->M;
    int32_t *bias_v = xmalloc((size_t)C * 4);
    for (int32_t c = 0; c < C; c++) {
        uint32_t b = pr->has_bias ? (uint32_t)pr->bias[c] : 0u;
        if (flip) b += 128u * weight_sum(pr, c);
        bias_v[c] = (int32_t)b;
    }
    int32_t *bias = padded(bias_v, C), *mult = padded(pr->mult, C), *shift = padded(pr->shift, C);
    free(bias_v);
    int kind = int32_out ? 0 : pr->out_kind;
    size_t esize = kind == 0 ? 4 : 1;
    size_t ldc = (size_t)pr->N + pr->ldc_pad;
    size_t c_bytes = ((size_t)(pr->M - 1) * ldc + (size_t)pr->N) * esize;
    out->size = GUARD + c_bytes + GUARD;
    out->buf = xmalloc(out->size);
    memset(out->buf, FILL, out->size);

    irc_qgemm_args args;
    memset(&args, 0, sizeof args);
    args.M = pr->M;
    args.N = pr->N;
    args.K = K;
    /* a + m·lda is row m for m0 ≤ m < m1; the pointer itself lies before the allocation
     * when m0 > 0, which every supported compiler handles as plain address arithmetic. */
    args.a = (const void *)((uintptr_t)a - (uintptr_t)m0 * lda);
    args.lda = lda;
    args.b = bp;
    args.a_is_act = pr->a_is_act;
    args.bias = pr->has_bias || flip ? bias : NULL;
    args.mult = kind == 0 ? NULL : mult;
    args.shift = kind == 0 ? NULL : shift;
    args.per_col = pr->per_col;
    args.row_bias = pr->row_bias;
    args.out_zp = pr->out_zp;
    args.lo = pr->lo;
    args.hi = pr->hi;
    args.out_signed = kind == 1;
    args.c = out->buf + GUARD;
    args.ldc = ldc;
    args.m0 = m0;
    args.m1 = m1;
    args.n0 = n0;
    args.n1 = n1;
    f->run(&args);
    free(a);
    free(bp);
    free(bias);
    free(mult);
    free(shift);
}

/* The expected 8-bit output from the scalar's int32 accumulators (bias included), by the
 * normative rule (irc/fixedpoint.py requantize_fixed_point): clamp(MBQM(acc) + zp, lo, hi)
 * with the sum in int64.  *overflow is set when some MBQM(acc) + zp leaves int32 — where
 * the scalar C kernel's int32 sum would overflow. */
static void requant_expected(const problem *pr, int32_t m0, int32_t m1, int32_t n0, int32_t n1,
                             const run_out *acc, run_out *out, int *overflow) {
    size_t ldc = (size_t)pr->N + pr->ldc_pad;
    size_t c_bytes = (size_t)(pr->M - 1) * ldc + (size_t)pr->N;
    out->size = GUARD + c_bytes + GUARD;
    out->buf = xmalloc(out->size);
    memset(out->buf, FILL, out->size);
    *overflow = 0;
    for (int32_t m = m0; m < m1; m++)
        for (int32_t n = n0; n < n1; n++) {
            size_t at = (size_t)m * ldc + (size_t)n;
            int32_t a, c = pr->per_col ? n : m;
            memcpy(&a, acc->buf + GUARD + at * 4, 4);
            int64_t y = (int64_t)irc_mbqm(a, pr->mult[c], pr->shift[c]) + pr->out_zp;
            if (y < INT32_MIN || y > INT32_MAX) *overflow = 1;
            y = y < pr->lo ? pr->lo : (y > pr->hi ? pr->hi : y);
            out->buf[GUARD + at] = (uint8_t)(uint32_t)y;   /* the low byte, as the cast */
        }
}

static void report(const irc_qgemm_family *f, const problem *pr, int32_t m0, int32_t m1,
                   int32_t n0, int32_t n1, const run_out *want, const run_out *got,
                   uint64_t seed, int iter) {
    size_t at = 0;
    while (at < want->size && want->buf[at] == got->buf[at]) at++;
    size_t esize = pr->out_kind == 0 ? 4 : 1;
    size_t ldc = (size_t)pr->N + pr->ldc_pad;
    fprintf(stderr,
            "FAIL %s (seed %" PRIu64 ", problem %d): M=%d N=%d K_src=%d a_is_act=%d per_col=%d "
            "out=%s bias=%d a_zero=%d zp=%d lo=%d hi=%d xor=0x%02x b_layout=%d block m %d..%d "
            "n %d..%d\n",
            f->name, seed, iter, pr->M, pr->N, pr->K_src, pr->a_is_act, pr->per_col,
            pr->out_kind == 0 ? "int32" : (pr->out_kind == 1 ? "int8" : "uint8"), pr->has_bias,
            pr->a_zero, pr->out_zp, pr->lo, pr->hi, pr->xor_mask, pr->b_layout, m0, m1, n0, n1);
    if (at < GUARD || at >= want->size - GUARD) {
        fprintf(stderr, "  guard byte %zu differs\n", at);
        return;
    }
    size_t e = (at - GUARD) / esize;
    size_t m = e / ldc, n = e % ldc;
    int32_t w, g;
    if (esize == 4) {
        memcpy(&w, want->buf + GUARD + e * 4, 4);
        memcpy(&g, got->buf + GUARD + e * 4, 4);
    } else {
        w = pr->out_kind == 1 ? (int8_t)want->buf[at] : want->buf[at];
        g = pr->out_kind == 1 ? (int8_t)got->buf[at] : got->buf[at];
    }
    int32_t ch = pr->per_col ? (int32_t)n : (int32_t)m;
    if (n >= (size_t)pr->N) ch = -1;
    fprintf(stderr, "  first difference at C[%zu][%zu]: want %d, got %d", m, n, w, g);
    if (ch >= 0)
        fprintf(stderr, " (bias %d, mult %d, shift %d)", pr->has_bias ? pr->bias[ch] : 0,
                pr->mult[ch], pr->shift[ch]);
    fprintf(stderr, "\n");
}

int main(int argc, char **argv) {
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
    int iters = argc > 2 ? atoi(argv[2]) : 400;
    /* the families: every level of the kernel registry (dispatch.c), each qgemm family once */
    int n_levels;
    const irc_kernels *const *levels = irc_kernels_all(&n_levels);
    uint32_t isas = irc_cpu_isas();
    int failed = 0;
    for (int fi = 0; fi < n_levels; fi++) {
        const irc_qgemm_family *f = levels[fi]->qgemm;
        int seen = 0;
        for (int j = 0; j < fi; j++) seen |= levels[j]->qgemm == f;
        if (seen) continue;
        if (levels[fi]->needs & ~isas) {
            printf("qgemm %-11s skipped: this CPU lacks it\n", f->name);
            continue;
        }
        int is_scalar = f == &irc_qgemm_scalar;
        rng_state = seed * 0x2545F4914F6CDD1Dull + (uint64_t)fi;
        int bad = 0, problems = 0, blocks = 0, overflows = 0;
        for (int it = 0; it < iters && !bad; it++) {
            problem pr;
            problem_make(&pr, f->act_signed);
            /* the whole matrix, then a random sub-block */
            for (int sub = 0; sub < 2 && !bad; sub++) {
                int32_t m0 = 0, m1 = pr.M, n0 = 0, n1 = pr.N;
                if (sub) {
                    m0 = rng_int(0, pr.M - 1);
                    m1 = rng_int(m0 + 1, pr.M);
                    int32_t panels = (pr.N + f->nr - 1) / f->nr;
                    n0 = rng_int(0, panels - 1) * f->nr;
                    n1 = rng_int(n0 + 1, pr.N);
                }
                /* The reference: the scalar's accumulators (its K is K_src, kr = 1; the
                 * family's K is rounded up with zero rows, which add nothing), requantized
                 * by the normative rule when the output is 8-bit. */
                run_out want, got, acc;
                int overflow = 0;
                run_family(&irc_qgemm_scalar, &pr, m0, m1, n0, n1, 1, &acc);
                if (pr.out_kind == 0) {
                    want = acc;
                } else {
                    requant_expected(&pr, m0, m1, n0, n1, &acc, &want, &overflow);
                    free(acc.buf);
                }
                overflows += overflow;
                run_family(f, &pr, m0, m1, n0, n1, 0, &got);
                /* The scalar C sums MBQM + zp in int32 (undefined when it overflows), so it
                 * is held to the rule only where that sum fits. */
                int check = !(is_scalar && overflow);
                if (check && (want.size != got.size || memcmp(want.buf, got.buf, want.size) != 0)) {
                    report(f, &pr, m0, m1, n0, n1, &want, &got, seed, it);
                    bad = 1;
                }
                free(want.buf);
                free(got.buf);
                blocks++;
            }
            problem_free(&pr);
            problems++;
        }
        printf("qgemm %-11s %s: %d problems, %d blocks, %d with MBQM + zp past int32 (nr=%d kr=%d "
               "act_signed=%d, seed %" PRIu64 ")\n",
               f->name, bad ? "FAILED" : "ok", problems, blocks, overflows, f->nr, f->kr,
               f->act_signed, seed);
        failed |= bad;
    }
    return failed ? 1 : 0;
}
