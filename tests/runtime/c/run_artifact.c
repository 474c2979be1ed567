/*
 * run_artifact.c — the runtime tests' driver, built without Python (natively, under
 * AddressSanitizer, or for arm64 to run under qemu).
 *
 *   run_artifact [--isa MASK] [--threads N] MODEL.ircm OUTDIR [INPUT.bin ...]
 *       load MODEL, fill input i from INPUT i (raw bytes; missing: zeros), run, write output
 *       i to OUTDIR/output<i>.bin; print the kernel level on stdout.
 *   run_artifact --pack PACK [--isa MASK]
 *       PACK holds artifacts back to back, each as u64 length (little-endian) + bytes.  Load
 *       each; if it loads, run it once on zero inputs.  Print "loaded L rejected R" and, per
 *       status code, how many; exit 0 unless something crashes (ASan does that).
 *   run_artifact --truncations MODEL.ircm
 *       load every proper prefix of MODEL from memory; each must be rejected.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irc_runtime.h"

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static irc_session *new_session(uint32_t isa, int threads) {
    irc_options opt;
    irc_options_init(&opt);
    opt.isa_mask = isa;
    opt.num_threads = threads;
    opt.max_arena_bytes = (size_t)256 << 20;
    irc_session *s = NULL;
    if (irc_session_create(&opt, &s) != IRC_OK) {
        fprintf(stderr, "cannot create a session\n");
        exit(2);
    }
    return s;
}

static int run_pack(const char *path, uint32_t isa) {
    size_t size;
    unsigned char *pack = read_file(path, &size);
    if (!pack) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 2;
    }
    size_t at = 0, loaded = 0, rejected = 0, by_status[16] = {0}, ran_fail = 0;
    while (at + 8 <= size) {
        uint64_t n = 0;
        for (int i = 0; i < 8; i++) n |= (uint64_t)pack[at + i] << (8 * i);
        at += 8;
        if (n > size - at) break;
        /* a private copy of exactly n bytes, so ASan sees any read past the end */
        unsigned char *blob = malloc(n ? n : 1);
        memcpy(blob, pack + at, n);
        at += n;
        irc_session *s = new_session(isa, 1);
        irc_status st = irc_session_load_memory(s, blob, n);
        by_status[st < 16 ? st : 15]++;
        if (st == IRC_OK) {
            loaded++;
            for (int i = 0; i < irc_session_num_inputs(s); i++) {
                irc_tensor_info info;
                irc_session_input_info(s, i, &info);
                memset(irc_session_input_data(s, i), 0, info.nbytes);
            }
            if (irc_session_run(s) != IRC_OK) ran_fail++;
        } else {
            rejected++;
            if (!irc_session_error(s)[0]) {
                fprintf(stderr, "status %d without a message\n", st);
                return 1;
            }
        }
        irc_session_destroy(s);
        free(blob);
    }
    printf("loaded %zu rejected %zu run_failed %zu\n", loaded, rejected, ran_fail);
    for (int i = 0; i < 16; i++)
        if (by_status[i]) printf("status %d: %zu\n", i, by_status[i]);
    free(pack);
    return 0;
}

static int run_truncations(const char *path) {
    size_t size;
    unsigned char *blob = read_file(path, &size);
    if (!blob) return 2;
    for (size_t n = 0; n < size; n++) {
        unsigned char *copy = malloc(n ? n : 1);
        memcpy(copy, blob, n);
        irc_session *s = new_session(0, 1);
        irc_status st = irc_session_load_memory(s, copy, n);
        if (st == IRC_OK) {
            fprintf(stderr, "a %zu-byte prefix of %zu loaded\n", n, size);
            return 1;
        }
        irc_session_destroy(s);
        free(copy);
    }
    printf("rejected all %zu truncations\n", size);
    free(blob);
    return 0;
}

int main(int argc, char **argv) {
    uint32_t isa = 0;
    int threads = 1, i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = (uint32_t)strtoul(argv[++i], 0, 0);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pack") && i + 1 < argc) return run_pack(argv[i + 1], isa);
        else if (!strcmp(argv[i], "--truncations") && i + 1 < argc)
            return run_truncations(argv[i + 1]);
        else break;
    }
    if (argc - i < 2) {
        fprintf(stderr, "usage: run_artifact [--isa MASK] [--threads N] MODEL OUTDIR [IN...]\n");
        return 2;
    }
    irc_session *s = new_session(isa, threads);
    if (irc_session_load_file(s, argv[i]) != IRC_OK) {
        fprintf(stderr, "%s\n", irc_session_error(s));
        return 1;
    }
    const char *outdir = argv[i + 1];
    int n_in = irc_session_num_inputs(s);
    for (int k = 0; k < n_in; k++) {
        irc_tensor_info info;
        irc_session_input_info(s, k, &info);
        void *dst = irc_session_input_data(s, k);
        memset(dst, 0, info.nbytes);
        if (i + 2 + k < argc) {
            size_t size;
            unsigned char *data = read_file(argv[i + 2 + k], &size);
            if (!data || size != info.nbytes) {
                fprintf(stderr, "%s: expected %zu bytes for input '%s'\n", argv[i + 2 + k],
                        info.nbytes, info.name);
                return 1;
            }
            memcpy(dst, data, size);
            free(data);
        }
    }
    if (irc_session_run(s) != IRC_OK) {
        fprintf(stderr, "%s\n", irc_session_error(s));
        return 1;
    }
    for (int k = 0; k < irc_session_num_outputs(s); k++) {
        irc_tensor_info info;
        irc_session_output_info(s, k, &info);
        char path[4096];
        snprintf(path, sizeof path, "%s/output%d.bin", outdir, k);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(irc_session_output_data(s, k), 1, info.nbytes, f) != info.nbytes) {
            fprintf(stderr, "%s: cannot write\n", path);
            return 1;
        }
        fclose(f);
    }
    printf("%s\n", irc_session_isa(s));
    irc_session_destroy(s);
    return 0;
}
