/*
 * classify.c — embed the irc runtime in a C program: load an .ircm, run it on one
 * input read from a raw file, print the top class.  Needs only libircrt (no Python).
 *
 *   classify MODEL.ircm INPUT.bin [--threads N] [--repeat R]
 *
 * INPUT.bin holds the model's first input as raw bytes in the input's dtype (for
 * the Fashion-MNIST example: 784 float32 pixels in [0, 1]; numpy's
 * `x.astype("<f4").tofile("input.bin")` writes one).  The first output is taken as
 * class scores (float32, or quantized int8/uint8).
 */
#define _POSIX_C_SOURCE 199309L   /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "irc_runtime.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(irc_session *s, const char *what) {
    fprintf(stderr, "classify: %s: %s\n", what, s ? irc_session_error(s) : "");
    irc_session_destroy(s);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: classify MODEL.ircm INPUT.bin [--threads N] [--repeat R]\n");
        return 2;
    }
    irc_options opt;
    irc_options_init(&opt);
    int repeat = 1;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) opt.num_threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(argv[i + 1]);
    }
    irc_session *s = NULL;
    if (irc_session_create(&opt, &s) != IRC_OK) return fail(NULL, "cannot create a session");
    if (irc_session_load_file(s, argv[1]) != IRC_OK) return fail(s, "load");

    /* the input: raw bytes straight into the runtime's input buffer */
    irc_tensor_info in;
    irc_session_input_info(s, 0, &in);
    FILE *f = fopen(argv[2], "rb");
    if (!f) return fail(s, argv[2]);
    size_t got = fread(irc_session_input_data(s, 0), 1, in.nbytes, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != in.nbytes || extra) {
        fprintf(stderr, "classify: %s must hold exactly %zu bytes for input '%s'\n", argv[2],
                in.nbytes, in.name);
        irc_session_destroy(s);
        return 1;
    }

    double best = 1e30;
    for (int r = 0; r < (repeat > 0 ? repeat : 1); r++) {
        double t0 = now_ms();
        if (irc_session_run(s) != IRC_OK) return fail(s, "run");
        double dt = now_ms() - t0;
        if (dt < best) best = dt;
    }

    irc_tensor_info out;
    irc_session_output_info(s, 0, &out);
    const void *scores = irc_session_output_data(s, 0);
    size_t n = out.nbytes / (out.dtype == IRC_F32 ? 4 : 1);
    size_t top = 0;
    double top_score = -1e30;
    for (size_t i = 0; i < n; i++) {
        double v;
        switch (out.dtype) {
        case IRC_F32: v = ((const float *)scores)[i]; break;
        case IRC_I8: v = out.scale * (((const int8_t *)scores)[i] - out.zero_point); break;
        case IRC_U8: v = out.scale * (((const uint8_t *)scores)[i] - out.zero_point); break;
        default: return fail(s, "the first output is not float32 or 8-bit scores");
        }
        if (v > top_score) top_score = v, top = i;
    }
    printf("class %zu (score %.4f), %.3f ms, kernels %s, runtime %s\n", top, top_score, best,
           irc_session_isa(s), irc_version_string());
    irc_session_destroy(s);
    return 0;
}
