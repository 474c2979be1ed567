/*
 * spmm_q8_check.c — every int8 spmm family (spmm.h) this build has and this CPU runs, against
 * the scalar twin irc_spmm_q8_scalar_run, byte for byte; and a microbenchmark of the sparse
 * kernels beside the dense int8 GEMM of the same level.  The families are the kernel
 * registry's (irc_kernels_all(), dispatch.c), so the whole kernel directory is linked:
 *
 *   gcc -std=c99 -O2 -Iruntime/include -Iruntime/src tests/runtime/c/spmm_q8_check.c \
 *       runtime/src/cpu.c runtime/src/kernels/?*.c -lm -o /tmp/spmm_q8_check
 *   /tmp/spmm_q8_check [seed] [cases]            check (exit status 0: every family agrees)
 *   /tmp/spmm_q8_check --bench [reps [level]]    GOP/s table (median of reps)
 *
 * (tests/runtime/test_spmm_q8_kernels.py builds it that way, with ASan/UBSan, and for arm64
 * under qemu on a CPU with the dot-product extension and one without.)
 *
 * Check mode.  W is built directly in the packed row-block form of spmm.h: R ∈ {1, 2, 4, 8},
 * N and K from 1 up (N rarely a multiple of R, K rarely of 4), each (row block, quad) an
 * entry with a probability drawn per case from 0 to 1 (whole matrices empty or full too, and
 * empty row blocks), entries holding zeros where "pruned" and, as the contract says, past K
 * and past N.  Weights are full-range, −128/127 only, or mostly zero; X (in the family's
 * activation domain) full-range, 0/255 (uint8) or −128/127 (int8) only, all zero (so acc ==
 * bias and the requantization sees the bias's edge values), or all 255/127.  bias NULL or
 * near INT32_MIN/MAX (the int32 sums wrap), with ties for the rounding; mult 0, 1, 2^30,
 * 2^31−1, INT32_MIN (SRDHM's saturation) or normalised; shift −31..30; out_zp up to ±2^31;
 * int32 output (mult NULL), int8 or uint8.  Each case runs whole and on a random sub-range of
 * row blocks b0..b1 and columns m0..m1 (odd starts and widths).  Then a deterministic sweep
 * of the requantization (case_sweep): every shift × edge multipliers × biases placing
 * rounding ties and the int32 ends inside a run of 256 consecutive accumulators.  Checks:
 *   - Y equal byte for byte with the twin's over the whole buffer: inside the range the
 *     values, rows ≥ N and everything outside it (guards included) the untouched fill;
 *   - X ends at a PROT_NONE page (a read past the last column of the last quad faults) and,
 *     under ASan, the columns outside m0..m1 of every quad row are poisoned;
 *   - ptr, kidx, vals and the per-row arrays (exactly round_up(N, 64) entries) are
 *     exact-size allocations, so ASan stops any read past them.
 *
 * Bench mode (x86 and arm64 hardware; under qemu the numbers mean nothing).  Layers
 * N×K weights times K×M activations, one thread, 8-bit output:
 *   768×768 × 128 (a transformer FC over 128 tokens) and 256×128 × 196 (a 1×1 conv, 14×14);
 * patterns at 50/70/90/95 % sparsity (fraction of zero weights):
 *   unstr R=1  independent elements (an entry per quad with any nonzero);
 *   1x4   R=1  whole quads;   4x4 R=4  4×4 blocks;   8x1 R=8  8 rows × 1 column blocks.
 * GOP/s are dense-equivalent, 2·N·K·M / time, so the ratio to the dense GEMM's is the
 * speedup.  Dense: the same level's qgemm both ways round — "conv" (A = W, B = X packed,
 * per-row requantization, as the sparse kernel) and "fc" (A = X rows, B = Wᵀ packed) — with
 * the faster one as the reference.  Kernel time only: activation packing (quad interleave for
 * spmm, pack_b for dense conv) is excluded from both.
 */
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fixedpoint.h"
#include "irc_runtime.h"
#include "kernels/kernels.h"
#include "kernels/qgemm.h"
#include "kernels/spmm.h"

#include "check_random.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* --- random numbers and allocation ------------------------------------------------------- */

static double rng_unit(void) { return (double)(rng_next() >> 11) / 9007199254740992.0; }

static void *xaligned(size_t n) {          /* 64-byte aligned, exactly n bytes (n ≥ 1) */
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 1)) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* n bytes that end where a PROT_NONE page begins. */
typedef struct guarded {
    uint8_t *map, *p;
    size_t map_size;
} guarded;

static void guarded_alloc(guarded *g, size_t n) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = round_up(n ? n : 1, page);
    g->map_size = data + page;
    g->map = mmap(NULL, g->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED || mprotect(g->map + data, page, PROT_NONE) != 0) {
        fprintf(stderr, "mmap failed\n");
        exit(2);
    }
    g->p = g->map + data - n;
}

static void guarded_free(guarded *g) { munmap(g->map, g->map_size); }

/* --- random cases ------------------------------------------------------------------------ */

/* A dimension: small ones often (tile remainders), sometimes past several tiles. */
static int32_t pick_dim(int32_t small, int32_t big) {
    int r = rng_int(0, 9);
    if (r < 2) return rng_int(1, 3);
    if (r < 7) return rng_int(1, small);
    return rng_int(1, big);
}

typedef struct sp_case {
    irc_spmm_w w;
    int32_t *ptr, *kidx;
    int8_t *vals;
    int32_t Q;                       /* quads: ⌈K/4⌉ */
    size_t ldx, ldy;
    guarded xg;                      /* X: Q quad rows of ldx·4 bytes */
    int32_t *bias, *mult, *shift;    /* round_up(N, 64) entries each */
    int has_bias, out_kind;          /* 0 int32, 1 int8, 2 uint8 */
    int32_t out_zp, lo, hi;
    int x_signed;
    const char *pattern;
} sp_case;

static int8_t pick_weight(int kind) {
    switch (kind) {
    case 0: return (int8_t)rng_int(-128, 127);
    case 1: return rng_int(0, 1) ? 127 : -128;
    default: return rng_int(0, 3) ? 0 : (int8_t)rng_int(-128, 127);
    }
}

static void case_make(sp_case *c, int x_signed) {
    static const int32_t Rs[4] = {1, 2, 4, 8};
    int32_t R = Rs[rng_int(0, 3)];
    int32_t N = pick_dim(30, 200), K = rng_int(0, 4) == 0 ? rng_int(1, 9) : pick_dim(80, 600);
    int32_t Q = (K + 3) / 4, nb = (N + R - 1) / R;
    memset(c, 0, sizeof *c);
    c->Q = Q;
    c->x_signed = x_signed;
    /* the sparsity pattern: P(entry) per (row block, quad); some row blocks forced empty */
    int kind = rng_int(0, 9);
    double p = kind == 0 ? 0.0 : kind == 1 ? 1.0 : rng_unit();
    double p_empty_block = rng_int(0, 2) == 0 ? rng_unit() * 0.5 : 0.0;
    c->pattern = kind == 0 ? "empty" : kind == 1 ? "full" : "random";
    int wkind = rng_int(0, 2);
    c->ptr = xmalloc(((size_t)nb + 1) * 4);
    int32_t *kidx = xmalloc((size_t)nb * (size_t)Q * 4);
    int8_t *vals = xmalloc((size_t)nb * (size_t)Q * (size_t)R * 4);
    int32_t nnz = 0;
    c->ptr[0] = 0;
    for (int32_t b = 0; b < nb; b++) {
        int empty = rng_unit() < p_empty_block;
        for (int32_t q = 0; q < Q; q++) {
            if (empty || !(rng_unit() < p || (p > 0.0 && kind == 1))) continue;
            kidx[nnz] = q;
            for (int32_t r = 0; r < R; r++)
                for (int32_t j = 0; j < 4; j++) {
                    int live = b * R + r < N && 4 * q + j < K;
                    vals[((size_t)nnz * R + r) * 4 + j] = live ? pick_weight(wkind) : 0;
                }
            nnz++;
        }
        c->ptr[b + 1] = nnz;
    }
    /* exact-size copies (ASan then sees reads past them); vals 64-byte aligned */
    c->kidx = xmalloc((size_t)nnz * 4);
    memcpy(c->kidx, kidx, (size_t)nnz * 4);
    c->vals = xaligned((size_t)nnz * (size_t)R * 4);
    memcpy(c->vals, vals, (size_t)nnz * (size_t)R * 4);
    free(kidx);
    free(vals);
    c->w.N = N;
    c->w.K = K;
    c->w.R = R;
    c->w.n_blocks = nb;
    c->w.ptr = c->ptr;
    c->w.kidx = c->kidx;
    c->w.vals = c->vals;

    /* X: Q quad rows of ldx columns, zero past K */
    int32_t M = pick_dim(40, 300);
    c->ldx = (size_t)M + (size_t)(rng_int(0, 2) ? 0 : rng_int(1, 9));
    size_t xbytes = (size_t)Q * c->ldx * 4;
    guarded_alloc(&c->xg, xbytes);
    int xkind = rng_int(0, 5);
    uint8_t lo_x = x_signed ? 0x80 : 0x00, hi_x = x_signed ? 0x7F : 0xFF;
    for (size_t i = 0; i < xbytes; i++) {
        size_t q = i / (c->ldx * 4), j = i % 4;
        uint8_t v = (uint8_t)rng_next();
        if (xkind == 0) v = rng_int(0, 1) ? hi_x : lo_x;
        if (xkind == 1) v = 0;
        if (xkind == 2) v = hi_x;
        c->xg.p[i] = (int32_t)(4 * q + j) < K ? v : 0;
    }
    /* output */
    c->ldy = c->ldx + (size_t)(rng_int(0, 2) ? 0 : rng_int(1, 9));
    c->out_kind = rng_int(0, 2);
    c->has_bias = rng_int(0, 4) != 0;
    if (c->out_kind == 1) {
        c->lo = rng_int(0, 2) ? -128 : rng_int(-128, 127);
        c->hi = rng_int(0, 2) ? 127 : rng_int(c->lo, 127);
    } else {
        c->lo = rng_int(0, 2) ? 0 : rng_int(0, 255);
        c->hi = rng_int(0, 2) ? 255 : rng_int(c->lo, 255);
    }
    switch (rng_int(0, 5)) {
    case 0: c->out_zp = 0; break;
    case 1: c->out_zp = rng_int(0, 1) ? INT32_MIN : INT32_MAX; break;
    default: c->out_zp = rng_int(-300, 300); break;
    }
    size_t np = round_up((size_t)N, 64);
    c->bias = xmalloc(np * 4);
    c->mult = xmalloc(np * 4);
    c->shift = xmalloc(np * 4);
    int same = rng_int(0, 2) == 0;   /* per-tensor: one multiplier for every row */
    for (size_t n = 0; n < np; n++) {
        c->bias[n] = pick_bias();
        c->mult[n] = same && n ? c->mult[0] : pick_mult();
        c->shift[n] = same && n ? c->shift[0] : pick_shift();
    }
}

static void case_free(sp_case *c) {
    free(c->ptr);
    free(c->kidx);
    free(c->vals);
    guarded_free(&c->xg);
    free(c->bias);
    free(c->mult);
    free(c->shift);
}

/* The requantization sweep: one row per (shift −31..30, multiplier from an edge list, bias
 * from an edge list), each row one entry W[n][0..3] = (1, 0, 0, 0) and X[0][m] running over
 * the 256 values of the domain, so acc = bias + x sweeps 256 consecutive integers around
 * each bias: rounding ties of every shift from both sides, both signs, and the int32 ends
 * (wrapping there).  R = 1, int8 output over the full range, zp 0. */
static void case_sweep(sp_case *c, int x_signed, int out_kind) {
    static const int32_t mults[] = {0, 1, 1 << 30, (1 << 30) + 1, 1518500250, INT32_MAX - 1,
                                    INT32_MAX, INT32_MIN};
    enum { NM = sizeof mults / sizeof mults[0], NB = 8, NS = 62 };
    int32_t N = NS * NM * NB, K = 4, Q = 1;
    memset(c, 0, sizeof *c);
    c->Q = Q;
    c->x_signed = x_signed;
    c->pattern = "sweep";
    c->ptr = xmalloc(((size_t)N + 1) * 4);
    c->kidx = xmalloc((size_t)N * 4);
    c->vals = xaligned((size_t)N * 4);
    size_t np = round_up((size_t)N, 64);
    c->bias = xmalloc(np * 4);
    c->mult = xmalloc(np * 4);
    c->shift = xmalloc(np * 4);
    /* acc = bias + x with x from −128 (or 0) up: the first value of the run is xlo */
    int32_t xlo = x_signed ? -128 : 0;
    for (size_t n = 0; n < np; n++) {
        int32_t sh = (int32_t)(n % NS) - 31, r = sh < 0 ? -sh : 0;
        int32_t mult = mults[(n / NS) % NM];
        int64_t tie = (int64_t)rng_int(-1000, 1000) * ((int64_t)1 << r) +
                      (r ? (int64_t)1 << (r - 1) : 0);
        int64_t b;
        switch ((n / NS / NM) % NB) {
        case 0: b = tie - 128; break;                     /* a tie mid-run, positive side */
        case 1: b = -tie - 128; break;                    /* and negative */
        case 2: b = INT32_MIN - xlo; break;               /* from INT32_MIN up */
        case 3: b = (int64_t)INT32_MAX - 255 - xlo; break;   /* up to INT32_MAX */
        case 4: b = (int64_t)INT32_MAX - 100 - xlo; break;   /* across the wrap */
        case 5: b = -128 - xlo; break;                    /* around 0 */
        case 6: b = (int64_t)rng_i32(); break;
        default: b = (int64_t)rng_int(-3, 3) * (1 << 30) - 128; break;
        }
        c->bias[n] = (int32_t)(uint32_t)(uint64_t)b;     /* wrapping */
        c->mult[n] = mult;
        c->shift[n] = sh;
    }
    for (int32_t n = 0; n < N; n++) {
        c->ptr[n] = n;
        c->kidx[n] = 0;
        c->vals[4 * n] = 1;
        c->vals[4 * n + 1] = c->vals[4 * n + 2] = c->vals[4 * n + 3] = 0;
    }
    c->ptr[N] = N;
    c->w.N = N;
    c->w.K = K;
    c->w.R = 1;
    c->w.n_blocks = N;
    c->w.ptr = c->ptr;
    c->w.kidx = c->kidx;
    c->w.vals = c->vals;
    c->ldx = 256;
    guarded_alloc(&c->xg, (size_t)Q * c->ldx * 4);
    for (int32_t m = 0; m < 256; m++) {
        c->xg.p[4 * m] = (uint8_t)(xlo + m);
        c->xg.p[4 * m + 1] = c->xg.p[4 * m + 2] = c->xg.p[4 * m + 3] = 0;
    }
    c->ldy = c->ldx;
    c->out_kind = out_kind;
    c->has_bias = 1;
    c->out_zp = 0;
    c->lo = out_kind == 2 ? 0 : -128;
    c->hi = out_kind == 2 ? 255 : 127;
}

#define GUARD 64
#define FILL 0xA5

/* The columns of each quad row outside m0..m1 are poisoned (ASan) while a kernel runs. */
static void poison_x(const sp_case *c, int32_t m0, int32_t m1, int on) {
    for (int32_t q = 0; q < c->Q; q++) {
        uint8_t *row = c->xg.p + (size_t)q * c->ldx * 4;
        if (on) {
            POISON(row, (size_t)m0 * 4);
            POISON(row + (size_t)m1 * 4, (c->ldx - (size_t)m1) * 4);
        } else {
            UNPOISON(row, c->ldx * 4);
        }
    }
}

/* Y of the case (GUARD, N rows of ldy elements, GUARD) after `run` on the range. */
static uint8_t *run_case(void (*run)(const irc_spmm_q8_args *), const sp_case *c, int32_t b0,
                         int32_t b1, int32_t m0, int32_t m1, size_t *size) {
    size_t esize = c->out_kind == 0 ? 4 : 1;
    *size = GUARD + (size_t)c->w.N * c->ldy * esize + GUARD;
    uint8_t *buf = xmalloc(*size);
    memset(buf, FILL, *size);
    irc_spmm_q8_args a;
    memset(&a, 0, sizeof a);
    a.w = &c->w;
    a.x = c->xg.p;
    a.ldx = c->ldx;
    a.y = buf + GUARD;
    a.ldy = c->ldy;
    a.bias = c->has_bias ? c->bias : NULL;
    a.mult = c->out_kind ? c->mult : NULL;
    a.shift = c->out_kind ? c->shift : NULL;
    a.out_zp = c->out_zp;
    a.lo = c->lo;
    a.hi = c->hi;
    a.out_signed = c->out_kind == 1;
    a.x_signed = c->x_signed;
    a.b0 = b0;
    a.b1 = b1;
    a.m0 = m0;
    a.m1 = m1;
    poison_x(c, m0, m1, 1);
    run(&a);
    poison_x(c, m0, m1, 0);
    return buf;
}

static void report(const char *name, const sp_case *c, int32_t b0, int32_t b1, int32_t m0,
                   int32_t m1, const uint8_t *want, const uint8_t *got, size_t size,
                   uint64_t seed, int iter) {
    size_t at = 0;
    while (at < size && want[at] == got[at]) at++;
    int32_t nnz = c->ptr[c->w.n_blocks];
    fprintf(stderr,
            "FAIL %s (seed %" PRIu64 ", case %d): N=%d K=%d R=%d nnz=%d (%s) ldx=%zu ldy=%zu "
            "out=%s bias=%d zp=%d lo=%d hi=%d x_signed=%d blocks %d..%d m %d..%d\n",
            name, seed, iter, c->w.N, c->w.K, c->w.R, nnz, c->pattern, c->ldx, c->ldy,
            c->out_kind == 0 ? "int32" : (c->out_kind == 1 ? "int8" : "uint8"), c->has_bias,
            c->out_zp, c->lo, c->hi, c->x_signed, b0, b1, m0, m1);
    if (at < GUARD || at >= size - GUARD) {
        fprintf(stderr, "  guard byte %zu differs\n", at);
        return;
    }
    size_t esize = c->out_kind == 0 ? 4 : 1, e = (at - GUARD) / esize;
    size_t n = e / c->ldy, m = e % c->ldy;
    int32_t wv, gv;
    if (esize == 4) {
        memcpy(&wv, want + GUARD + e * 4, 4);
        memcpy(&gv, got + GUARD + e * 4, 4);
    } else {
        wv = c->out_kind == 1 ? (int8_t)want[at] : want[at];
        gv = c->out_kind == 1 ? (int8_t)got[at] : got[at];
    }
    fprintf(stderr, "  first difference at Y[%zu][%zu]: want %d, got %d (bias %d, mult %d, "
            "shift %d)\n", n, m, wv, gv, c->has_bias ? c->bias[n] : 0, c->mult[n], c->shift[n]);
}

static int check_family(const irc_spmm_q8_family *f, uint64_t seed, int cases, int salt) {
    rng_state = seed * 0x2545F4914F6CDD1Dull + (uint64_t)salt;
    int bad = 0, runs = 0;
    int by_r[9] = {0};
    for (int it = 0; it < cases && !bad; it++) {
        sp_case c;
        case_make(&c, f->act_signed);
        by_r[c.w.R]++;
        int32_t nb = c.w.n_blocks, M = (int32_t)c.ldx;
        for (int sub = 0; sub < 3 && !bad; sub++) {
            int32_t b0 = 0, b1 = nb, m0 = 0, m1 = M;
            if (sub == 1) {                    /* a random sub-range, possibly empty */
                b0 = rng_int(0, nb);
                b1 = rng_int(b0, nb);
                m0 = rng_int(0, M);
                m1 = rng_int(m0, M);
            } else if (sub == 2) {             /* one row block, an odd start and width */
                b0 = rng_int(0, nb - 1);
                b1 = b0 + 1;
                m0 = rng_int(0, M - 1);
                m1 = rng_int(m0 + 1, M);
            }
            size_t size;
            uint8_t *want = run_case(irc_spmm_q8_scalar_run, &c, b0, b1, m0, m1, &size);
            uint8_t *got = run_case(f->run, &c, b0, b1, m0, m1, &size);
            if (memcmp(want, got, size) != 0) {
                report(f->name, &c, b0, b1, m0, m1, want, got, size, seed, it);
                bad = 1;
            }
            free(want);
            free(got);
            runs++;
        }
        case_free(&c);
    }
    for (int kind = 0; kind < 3 && !bad; kind++) {   /* the sweep, int32/int8/uint8 out */
        sp_case c;
        case_sweep(&c, f->act_signed, kind);
        size_t size;
        int32_t nb = c.w.n_blocks;
        uint8_t *want = run_case(irc_spmm_q8_scalar_run, &c, 0, nb, 0, 256, &size);
        uint8_t *got = run_case(f->run, &c, 0, nb, 0, 256, &size);
        if (memcmp(want, got, size) != 0) {
            report(f->name, &c, 0, nb, 0, 256, want, got, size, seed, -1 - kind);
            bad = 1;
        }
        free(want);
        free(got);
        case_free(&c);
        runs++;
    }
    printf("spmm_q8 %-11s %s: %d cases (R=1/2/4/8: %d/%d/%d/%d) + the requantization sweep, "
           "%d runs (act_signed=%d, seed %" PRIu64 ")\n",
           f->name, bad ? "FAILED" : "ok", cases, by_r[1], by_r[2], by_r[4], by_r[8], runs,
           f->act_signed, seed);
    return bad;
}

/* --- benchmark ----------------------------------------------------------------------------- */

/* This thread's CPU time: on a shared machine, wall time also counts the time slices other
 * processes take (the kernels neither sleep nor wait, so on an idle machine the two agree). */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef void (*bench_fn)(const void *ctx);

/* Median over reps of the seconds per call, each rep timing enough calls to last ≥ 2 ms. */
static double time_median(bench_fn fn, const void *ctx, int reps) {
    fn(ctx);
    double t0 = now();
    int calls = 0;
    do {
        fn(ctx);
        calls++;
    } while (now() - t0 < 2e-3);
    double *t = xmalloc((size_t)reps * sizeof(double));
    for (int r = 0; r < reps; r++) {
        t0 = now();
        for (int i = 0; i < calls; i++) fn(ctx);
        t[r] = (now() - t0) / calls;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_double);
    double med = t[reps / 2];
    free(t);
    return med;
}

/* One kernel call to time: the spmm family's when sf is set, else the qgemm family's. */
typedef struct bench_call {
    const irc_spmm_q8_family *sf;
    irc_spmm_q8_args sa;
    const irc_qgemm_family *qf;
    irc_qgemm_args qa;
} bench_call;

static void call_kernel(const void *ctx) {
    const bench_call *c = ctx;
    if (c->sf) c->sf->run(&c->sa);
    else c->qf->run(&c->qa);
}

/* A dense N×K int8 W with the pattern's zeros (pattern: 0 unstructured, 1 1×4, 2 4×4,
 * 3 8×1 blocks; d the density of elements or blocks). */
static int8_t *bench_weights(int32_t N, int32_t K, int pattern, double d) {
    static const int bh[4] = {1, 1, 4, 8}, bw[4] = {1, 4, 4, 1};
    int8_t *w = xmalloc((size_t)N * (size_t)K);
    memset(w, 0, (size_t)N * (size_t)K);
    for (int32_t n0 = 0; n0 < N; n0 += bh[pattern])
        for (int32_t k0 = 0; k0 < K; k0 += bw[pattern]) {
            if (rng_unit() >= d) continue;
            for (int32_t n = n0; n < n0 + bh[pattern] && n < N; n++)
                for (int32_t k = k0; k < k0 + bw[pattern] && k < K; k++) {
                    int8_t v = (int8_t)rng_int(-127, 126);
                    w[(size_t)n * K + k] = v >= 0 ? (int8_t)(v + 1) : v;   /* nonzero */
                }
        }
    return w;
}

/* Pack a dense W into spmm.h's int8 row blocks: an entry per (row block, quad) holding any
 * nonzero.  Fills c->w, ptr, kidx, vals. */
static void bench_pack(sp_case *c, const int8_t *wd, int32_t N, int32_t K, int32_t R) {
    int32_t Q = (K + 3) / 4, nb = (N + R - 1) / R;
    c->ptr = xmalloc(((size_t)nb + 1) * 4);
    c->kidx = xmalloc((size_t)nb * (size_t)Q * 4 + 4);
    c->vals = xaligned((size_t)nb * (size_t)Q * (size_t)R * 4 + 64);
    int32_t nnz = 0;
    c->ptr[0] = 0;
    for (int32_t b = 0; b < nb; b++) {
        for (int32_t q = 0; q < Q; q++) {
            int8_t word[8][4];
            int any = 0;
            for (int32_t r = 0; r < R; r++)
                for (int32_t j = 0; j < 4; j++) {
                    int32_t n = b * R + r, k = 4 * q + j;
                    word[r][j] = n < N && k < K ? wd[(size_t)n * K + k] : 0;
                    any |= word[r][j] != 0;
                }
            if (!any) continue;
            c->kidx[nnz] = q;
            memcpy(c->vals + (size_t)nnz * R * 4, word, (size_t)R * 4);
            nnz++;
        }
        c->ptr[b + 1] = nnz;
    }
    c->w.N = N;
    c->w.K = K;
    c->w.R = R;
    c->w.n_blocks = nb;
    c->w.ptr = c->ptr;
    c->w.kidx = c->kidx;
    c->w.vals = c->vals;
    c->Q = Q;
}

static void bench_level(const irc_kernels *lv, int reps) {
    static const int32_t shapes[][3] = {{768, 768, 128}, {256, 128, 196}};   /* N, K, M */
    static const char *const pnames[4] = {"unstr R=1", "1x4   R=1", "4x4   R=4", "8x1   R=8"};
    static const int32_t pR[4] = {1, 1, 4, 8};
    static const double sparsity[4] = {0.50, 0.70, 0.90, 0.95};
    const irc_spmm_q8_family *sf = lv->spmm_q8;
    const irc_qgemm_family *qf = lv->qgemm;
    printf("level %s: spmm_q8 %s vs qgemm %s, 1 thread, median of %d, GOP/s dense-equivalent "
           "(2NKM/t), x = dense time / sparse time\n", lv->name, sf->name, qf->name, reps);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int32_t N = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
        double ops = 2.0 * N * K * M;
        rng_state = 99 + s;
        size_t np = round_up((size_t)N, 64);
        int32_t *bias = xmalloc(np * 4), *mult = xmalloc(np * 4), *shift = xmalloc(np * 4);
        for (size_t n = 0; n < np; n++) {
            bias[n] = rng_int(-5000, 5000);
            mult[n] = rng_int(1 << 30, INT32_MAX);
            shift[n] = -rng_int(6, 12);
        }
        int32_t Q = (K + 3) / 4;
        uint8_t *xrow = xmalloc((size_t)K * M);          /* X[k][m], row-major */
        for (size_t i = 0; i < (size_t)K * M; i++) xrow[i] = (uint8_t)rng_next();
        uint8_t *xq = xaligned((size_t)Q * M * 4);       /* quad-interleaved */
        memset(xq, 0, (size_t)Q * M * 4);
        for (int32_t k = 0; k < K; k++)
            for (int32_t m = 0; m < M; m++)
                xq[((size_t)(k / 4) * M + m) * 4 + k % 4] = xrow[(size_t)k * M + m];
        uint8_t *y = xaligned((size_t)N * M * 4);

        /* dense, both orientations; W dense random */
        int32_t Kp = (int32_t)round_up((size_t)K, (size_t)qf->kr);
        int8_t *wd = bench_weights(N, K, 0, 1.0);
        uint8_t *wa = xaligned((size_t)N * Kp), *xa = xaligned((size_t)M * Kp);
        memset(wa, 0, (size_t)N * Kp);
        memset(xa, 0, (size_t)M * Kp);
        for (int32_t n = 0; n < N; n++) memcpy(wa + (size_t)n * Kp, wd + (size_t)n * K, (size_t)K);
        for (int32_t m = 0; m < M; m++)
            for (int32_t k = 0; k < K; k++) xa[(size_t)m * Kp + k] = xrow[(size_t)k * M + m];
        uint8_t *bx = xaligned(qf->packed_size(Kp, M)), *bw = xaligned(qf->packed_size(Kp, N));
        qf->pack_b(K, Kp, M, xrow, M, 1, 0, bx);
        qf->pack_b(K, Kp, N, (const uint8_t *)wd, 1, K, 0, bw);
        bench_call qb;
        memset(&qb, 0, sizeof qb);
        qb.qf = qf;
        qb.qa.M = N;
        qb.qa.N = M;
        qb.qa.K = Kp;
        qb.qa.a = wa;
        qb.qa.lda = (size_t)Kp;
        qb.qa.b = bx;
        qb.qa.a_is_act = 0;
        qb.qa.bias = bias;
        qb.qa.mult = mult;
        qb.qa.shift = shift;
        qb.qa.per_col = 0;
        qb.qa.lo = -128;
        qb.qa.hi = 127;
        qb.qa.out_signed = 1;
        qb.qa.c = y;
        qb.qa.ldc = (size_t)M;
        qb.qa.m1 = N;
        qb.qa.n1 = M;
        double t_conv = time_median(call_kernel, &qb, reps);
        int32_t *bias_c = xmalloc(round_up((size_t)N, 64) * 4);   /* per column: the same */
        memcpy(bias_c, bias, round_up((size_t)N, 64) * 4);
        qb.qa.M = M;
        qb.qa.N = N;
        qb.qa.a = xa;
        qb.qa.b = bw;
        qb.qa.a_is_act = 1;
        qb.qa.per_col = 1;
        qb.qa.bias = bias_c;
        qb.qa.ldc = (size_t)N;
        qb.qa.m1 = M;
        qb.qa.n1 = N;
        double t_fc = time_median(call_kernel, &qb, reps);
        double t_dense = t_conv < t_fc ? t_conv : t_fc;
        printf("\n  N=%d K=%d M=%d   dense qgemm: conv %.1f GOP/s (%.1f us), fc %.1f GOP/s "
               "(%.1f us)\n", N, K, M, ops / t_conv * 1e-9, t_conv * 1e6, ops / t_fc * 1e-9,
               t_fc * 1e6);
        printf("  %-10s", "pattern");
        for (int si = 0; si < 4; si++) printf("  %4.0f%% sparse: GOP/s  x   ", sparsity[si] * 100);
        printf("\n");
        free(wd);
        for (int p = 0; p < 4; p++) {
            printf("  %-10s", pnames[p]);
            for (int si = 0; si < 4; si++) {
                int8_t *w = bench_weights(N, K, p, 1.0 - sparsity[si]);
                sp_case c;
                memset(&c, 0, sizeof c);
                bench_pack(&c, w, N, K, pR[p]);
                bench_call sb;
                memset(&sb, 0, sizeof sb);
                sb.sf = sf;
                sb.sa.w = &c.w;
                sb.sa.x = xq;
                sb.sa.ldx = (size_t)M;
                sb.sa.y = y;
                sb.sa.ldy = (size_t)M;
                sb.sa.bias = bias;
                sb.sa.mult = mult;
                sb.sa.shift = shift;
                sb.sa.lo = -128;
                sb.sa.hi = 127;
                sb.sa.out_signed = 1;
                sb.sa.x_signed = sf->act_signed;
                sb.sa.b1 = c.w.n_blocks;
                sb.sa.m1 = M;
                double t = time_median(call_kernel, &sb, reps);
                double quads = (double)c.ptr[c.w.n_blocks] * pR[p] / ((double)N * Q);
                printf("  %6.1f %5.2fx (q %3.0f%%)", ops / t * 1e-9, t_dense / t, quads * 100);
                free(c.ptr);
                free(c.kidx);
                free(c.vals);
                free(w);
            }
            printf("\n");
        }
        free(bias);
        free(bias_c);
        free(mult);
        free(shift);
        free(xrow);
        free(xq);
        free(y);
        free(wa);
        free(xa);
        free(bx);
        free(bw);
    }
    printf("\n  (q: stored quads × R as a share of N·⌈K/4⌉, the work the sparse kernel does)\n");
}

int main(int argc, char **argv) {
    int n_levels;
    const irc_kernels *const *levels = irc_kernels_all(&n_levels);
    uint32_t isas = irc_cpu_isas();
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        int reps = argc > 2 ? atoi(argv[2]) : 9;
        const char *only = argc > 3 ? argv[3] : NULL;
        for (int li = 0; li < n_levels; li++)
            if (!(levels[li]->needs & ~isas) && levels[li]->spmm_q8 != &irc_spmm_q8_scalar &&
                (!only || strcmp(only, levels[li]->name) == 0))
                bench_level(levels[li], reps);
        return 0;
    }
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
    int cases = argc > 2 ? atoi(argv[2]) : 400;
    int failed = 0;
    for (int li = 0; li < n_levels; li++) {
        const irc_spmm_q8_family *f = levels[li]->spmm_q8;
        int seen = 0;
        for (int j = 0; j < li; j++) seen |= levels[j]->spmm_q8 == f;
        if (seen) continue;
        if (levels[li]->needs & ~isas) {
            printf("spmm_q8 %-11s skipped: this CPU lacks it\n", f->name);
            continue;
        }
        failed |= check_family(f, seed, cases, li);
    }
    return failed ? 1 : 0;
}
