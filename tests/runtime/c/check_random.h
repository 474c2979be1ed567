/*
 * check_random.h — the random-case helpers the C kernel harnesses share
 * (test_qgemm.c, spmm_q8_check.c): a seeded splitmix64 generator, allocation that
 * exits on failure, and pickers of the requantization parameters' edge values.
 * Header-only (static functions), included once per harness.
 */
#ifndef IRC_CHECK_RANDOM_H
#define IRC_CHECK_RANDOM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng_state;

static uint64_t rng_next(void) {           /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int32_t rng_int(int32_t lo, int32_t hi) {   /* uniform in [lo, hi] */
    return lo + (int32_t)(rng_next() % (uint64_t)((int64_t)hi - lo + 1));
}

static int32_t rng_i32(void) { return (int32_t)(uint32_t)rng_next(); }

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

/* A requantization multiplier: 0, the int32 ends, 2^30, or a normalised one
 * (INT32_MIN is past the usual range: SRDHM's saturation). */
static int32_t pick_mult(void) {
    switch (rng_int(0, 9)) {
    case 0: return 0;
    case 1: return INT32_MAX;
    case 2: return 1 << 30;
    case 3: return rng_int(0, 1) ? INT32_MIN : 1;
    default: return rng_int(1 << 29, INT32_MAX);
    }
}

static int32_t pick_shift(void) {
    switch (rng_int(0, 7)) {
    case 0: return -31;
    case 1: return 30;
    case 2: return 0;
    case 3: return rng_int(-31, 30);
    default: return rng_int(-20, 2);
    }
}

/* A bias near the int32 ends (the sums wrap), small, or a rounding tie. */
static int32_t pick_bias(void) {
    int k;
    switch (rng_int(0, 9)) {
    case 0: return INT32_MIN;
    case 1: return INT32_MAX;
    case 2: return rng_int(-3, 3);
    case 3: return INT32_MIN + rng_int(0, 100000);
    case 4: return INT32_MAX - rng_int(0, 100000);
    case 5:                                    /* a tie for a right shift by k */
        k = rng_int(1, 31);
        return (int32_t)(((uint32_t)rng_i32() << k) | (1u << (k - 1)));
    case 6: return rng_i32();
    default: return rng_int(-100000, 100000);
    }
}

#endif /* IRC_CHECK_RANDOM_H */
