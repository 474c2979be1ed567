/*
 * session.c — the public API (irc_runtime.h): sessions, loading, running.
 */
#define _POSIX_C_SOURCE 199309L   /* clock_gettime, for profiling */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/kernels.h"
#include "session.h"

#define STR_(x) #x
#define STR(x) STR_(x)

const char *irc_version_string(void) {
    return STR(IRC_RUNTIME_VERSION_MAJOR) "." STR(IRC_RUNTIME_VERSION_MINOR) "." STR(
        IRC_RUNTIME_VERSION_PATCH) " (format " STR(IRC_FORMAT_VERSION_MAJOR) "." STR(
        IRC_FORMAT_VERSION_MINOR) ")";
}

const char *irc_status_string(irc_status status) {
    switch (status) {
    case IRC_OK: return "ok";
    case IRC_ERR_ARGUMENT: return "bad argument";
    case IRC_ERR_IO: return "i/o error";
    case IRC_ERR_FORMAT: return "malformed artifact";
    case IRC_ERR_VERSION: return "unsupported format version";
    case IRC_ERR_UNSUPPORTED: return "unsupported";
    case IRC_ERR_NO_MEMORY: return "out of memory";
    case IRC_ERR_STATE: return "bad state";
    case IRC_ERR_RUNTIME: return "run-time error";
    }
    return "unknown status";
}

uint32_t irc_available_isas(void) {
    uint32_t isas = 0, cpu = irc_cpu_isas();
    int n;
    const irc_kernels *const *all = irc_kernels_all(&n);
    for (int i = 0; i < n; i++)
        if ((all[i]->needs & ~cpu) == 0) isas |= all[i]->isa;
    return isas;
}

void irc_options_init(irc_options *o) {
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->num_threads = 1;
    o->max_arena_bytes = (size_t)1 << 30;
}

/* --- the default allocator: malloc with the alignment done by hand (C99 has no aligned_alloc);
 * the original pointer is stored just below the aligned block. */

static void *default_alloc(void *user, size_t size, size_t align) {
    (void)user;
    if (size > SIZE_MAX - align - sizeof(void *)) return NULL;
    unsigned char *raw = malloc(size + align + sizeof(void *));
    if (!raw) return NULL;
    uintptr_t start = (uintptr_t)(raw + sizeof(void *));
    uintptr_t aligned = (start + align - 1) & ~(uintptr_t)(align - 1);
    ((void **)aligned)[-1] = raw;
    return (void *)aligned;
}

static void default_free(void *user, void *ptr) {
    (void)user;
    if (ptr) free(((void **)ptr)[-1]);
}

/* --- sessions ------------------------------------------------------------------------------------ */

int irc_pool_create(irc_ctx *ctx, int num_threads);   /* threads.c */
void irc_pool_destroy(irc_ctx *ctx);

irc_status irc_session_create(const irc_options *options, irc_session **out) {
    if (!out) return IRC_ERR_ARGUMENT;
    *out = NULL;
    irc_options opt;
    irc_options_init(&opt);
    if (options) {
        if (options->struct_size < sizeof(uint32_t) || options->struct_size > sizeof opt)
            return IRC_ERR_ARGUMENT;
        memcpy(&opt, options, options->struct_size);
        opt.struct_size = sizeof opt;
    }
    if (opt.num_threads < 1) opt.num_threads = 1;
    if (opt.num_threads > 64) opt.num_threads = 64;
    if (opt.max_arena_bytes == 0) opt.max_arena_bytes = (size_t)1 << 30;
    irc_allocator alloc = {default_alloc, default_free, NULL};
    if (opt.allocator) {
        if (!opt.allocator->alloc || !opt.allocator->free) return IRC_ERR_ARGUMENT;
        alloc = *opt.allocator;
    }
    irc_session *s = alloc.alloc(alloc.user, sizeof *s, IRC_ALIGN);
    if (!s) return IRC_ERR_NO_MEMORY;
    memset(s, 0, sizeof *s);
    s->opt = opt;
    s->allocator = alloc;
    s->ctx.alloc = alloc;
    s->ctx.error = s->error;
    s->ctx.num_threads = opt.num_threads;
    uint32_t allowed = irc_cpu_isas();
    if (opt.isa_mask) allowed &= opt.isa_mask | IRC_ISA_SCALAR;
    s->ctx.k = irc_kernels_select(allowed);
    s->ctx.isa = s->ctx.k->needs;
    if (irc_pool_create(&s->ctx, opt.num_threads) != 0) {
        alloc.free(alloc.user, s);
        return IRC_ERR_NO_MEMORY;
    }
    *out = s;
    return IRC_OK;
}

void irc_session_destroy(irc_session *s) {
    if (!s) return;
    irc_free(&s->ctx, s->node_seconds);
    irc_unload(s);
    irc_pool_destroy(&s->ctx);
    s->allocator.free(s->allocator.user, s);
}

const char *irc_session_error(const irc_session *s) { return s ? s->error : "no session"; }

const char *irc_session_isa(const irc_session *s) { return s ? s->ctx.k->name : ""; }

size_t irc_session_arena_size(const irc_session *s) { return s ? s->arena_size : 0; }

irc_status irc_session_load_memory(irc_session *s, const void *data, size_t size) {
    if (!s) return IRC_ERR_ARGUMENT;
    s->error[0] = 0;
    if (s->loaded) return irc_fail(&s->ctx, IRC_ERR_STATE, "the session already holds a model");
    if (!data && size) return irc_fail(&s->ctx, IRC_ERR_ARGUMENT, "data is NULL");
    return irc_load(s, data, size);
}

irc_status irc_session_load_file(irc_session *s, const char *path) {
    if (!s) return IRC_ERR_ARGUMENT;
    s->error[0] = 0;
    if (!path) return irc_fail(&s->ctx, IRC_ERR_ARGUMENT, "path is NULL");
    if (s->loaded) return irc_fail(&s->ctx, IRC_ERR_STATE, "the session already holds a model");
    FILE *fp = fopen(path, "rb");
    if (!fp) return irc_fail(&s->ctx, IRC_ERR_IO, "%s: cannot open for reading", path);
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return irc_fail(&s->ctx, IRC_ERR_IO, "%s: cannot determine its size", path);
    }
    void *buf = irc_alloc(&s->ctx, (size_t)size);
    if (!buf) {
        fclose(fp);
        return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY, "%s: out of memory (%ld bytes)", path, size);
    }
    size_t got = fread(buf, 1, (size_t)size, fp);
    fclose(fp);
    irc_status st;
    if (got != (size_t)size) {
        st = irc_fail(&s->ctx, IRC_ERR_IO, "%s: read %zu of %ld bytes", path, got, size);
    } else {
        st = irc_load(s, buf, (size_t)size);
        if (st != IRC_OK) {
            /* prefix the message with the file name */
            char msg[IRC_ERROR_SIZE];
            memcpy(msg, s->error, sizeof msg);
            snprintf(s->error, IRC_ERROR_SIZE, "%.200s: %.300s", path, msg);
        }
    }
    irc_free(&s->ctx, buf);
    return st;
}

int irc_session_num_inputs(const irc_session *s) { return s && s->loaded ? s->n_inputs : 0; }

int irc_session_num_outputs(const irc_session *s) { return s && s->loaded ? s->n_outputs : 0; }

static void fill_info(const irc_tensor *t, irc_tensor_info *info) {
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->dtype = t->dtype;
    info->rank = t->rank;
    for (int i = 0; i < t->rank; i++) info->dims[i] = t->dims[i];
    info->nbytes = t->nbytes;
    info->quantized = t->quant == IRC_QUANT_TENSOR;
    info->scale = t->scale;
    info->zero_point = t->zero_point;
}

static irc_tensor *io_tensor(const irc_session *s, int input, int index) {
    if (!s || !s->loaded) return NULL;
    if (input) return index >= 0 && index < s->n_inputs ? s->inputs[index] : NULL;
    return index >= 0 && index < s->n_outputs ? s->outputs[index] : NULL;
}

irc_status irc_session_input_info(const irc_session *s, int index, irc_tensor_info *info) {
    irc_tensor *t = io_tensor(s, 1, index);
    if (!t || !info) return IRC_ERR_ARGUMENT;
    fill_info(t, info);
    return IRC_OK;
}

irc_status irc_session_output_info(const irc_session *s, int index, irc_tensor_info *info) {
    irc_tensor *t = io_tensor(s, 0, index);
    if (!t || !info) return IRC_ERR_ARGUMENT;
    fill_info(t, info);
    return IRC_OK;
}

irc_status irc_session_set_input(irc_session *s, int index, const void *data, size_t nbytes) {
    if (!s) return IRC_ERR_ARGUMENT;
    if (!s->loaded) return irc_fail(&s->ctx, IRC_ERR_STATE, "no model is loaded");
    irc_tensor *t = io_tensor(s, 1, index);
    if (!t)
        return irc_fail(&s->ctx, IRC_ERR_ARGUMENT, "input index %d out of range (the model has %d)",
                        index, s->n_inputs);
    if (nbytes != t->nbytes || (!data && nbytes))
        return irc_fail(&s->ctx, IRC_ERR_ARGUMENT, "input '%s' takes %zu bytes, got %zu", t->name,
                        t->nbytes, nbytes);
    memcpy(t->data, data, nbytes);
    return IRC_OK;
}

void *irc_session_input_data(irc_session *s, int index) {
    irc_tensor *t = io_tensor(s, 1, index);
    return t ? t->data : NULL;
}

const void *irc_session_output_data(const irc_session *s, int index) {
    irc_tensor *t = io_tensor(s, 0, index);
    return t ? t->data : NULL;
}

irc_status irc_session_get_output(const irc_session *s, int index, void *data, size_t nbytes) {
    irc_tensor *t = io_tensor(s, 0, index);
    if (!t || nbytes != t->nbytes || (!data && nbytes)) return IRC_ERR_ARGUMENT;
    memcpy(data, t->data, nbytes);
    return IRC_OK;
}

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int irc_session_num_nodes(const irc_session *s) { return s && s->loaded ? (int)s->n_nodes : 0; }

irc_status irc_session_node_profile(const irc_session *s, int index, const char **name,
                                    const char **op, double *seconds) {
    if (!s || !s->loaded || index < 0 || (uint32_t)index >= s->n_nodes) return IRC_ERR_ARGUMENT;
    const irc_node *node = &s->nodes[index];
    if (name) *name = node->name;
    if (op) *op = node->op->name;
    if (seconds) *seconds = s->node_seconds ? s->node_seconds[index] : 0.0;
    return IRC_OK;
}

irc_status irc_session_run(irc_session *s) {
    if (!s) return IRC_ERR_ARGUMENT;
    if (!s->loaded) return irc_fail(&s->ctx, IRC_ERR_STATE, "no model is loaded");
    s->error[0] = 0;
    if (s->opt.profile && !s->node_seconds) {
        s->node_seconds = irc_calloc(&s->ctx, (size_t)s->n_nodes * sizeof(double));
        if (!s->node_seconds) return irc_fail(&s->ctx, IRC_ERR_NO_MEMORY, "out of memory");
    }
    double t0 = s->node_seconds ? seconds_now() : 0.0;
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        const irc_node *node = &s->nodes[i];
        s->ctx.node = node;
        irc_status st = node->op->run(&s->ctx, node);
        if (s->node_seconds) {
            double t1 = seconds_now();
            s->node_seconds[i] = t1 - t0;
            t0 = t1;
        }
        if (st != IRC_OK) {
            if (!s->error[0])
                irc_fail(&s->ctx, st, "node %u '%s' (%s) failed: %s", node->index, node->name,
                         node->op->name, irc_status_string(st));
            s->ctx.node = NULL;
            return st;
        }
    }
    s->ctx.node = NULL;
    return IRC_OK;
}
