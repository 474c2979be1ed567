/*
 * irc_runtime.h — the irc runtime's public C API.
 *
 * Loads an .ircm artifact (docs/artifact.md) and runs it.  C99, libc + libm
 * (+ pthreads when built with threads); no global state: every function works
 * on one session handle, and separate sessions may be used from separate
 * threads at the same time.
 *
 *     irc_options opt;
 *     irc_options_init(&opt);
 *     opt.num_threads = 2;
 *     irc_session *s;
 *     if (irc_session_create(&opt, &s) != IRC_OK) ...          (out of memory only)
 *     if (irc_session_load_file(s, "model.ircm") != IRC_OK)
 *         fprintf(stderr, "%s\n", irc_session_error(s));
 *     irc_session_set_input(s, 0, pixels, sizeof pixels);
 *     irc_session_run(s);
 *     const float *logits = irc_session_output_data(s, 0);
 *     irc_session_destroy(s);
 *
 * Every failure returns a status code and leaves a message in the session
 * (irc_session_error) naming what is at fault: a file offset, a node, a
 * tensor.  A malformed or hostile artifact is rejected at load time; it never
 * makes the runtime read or write out of bounds.
 */
#ifndef IRC_RUNTIME_H
#define IRC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IRC_RUNTIME_VERSION_MAJOR 0
#define IRC_RUNTIME_VERSION_MINOR 1
#define IRC_RUNTIME_VERSION_PATCH 0
/* The newest artifact format this runtime reads (major must match exactly). */
#define IRC_FORMAT_VERSION_MAJOR 1
#define IRC_FORMAT_VERSION_MINOR 1

#define IRC_MAX_RANK 6

typedef enum irc_status {
    IRC_OK = 0,
    IRC_ERR_ARGUMENT = 1,     /* a bad argument to an API call (index, size, NULL) */
    IRC_ERR_IO = 2,           /* the file cannot be opened or read */
    IRC_ERR_FORMAT = 3,       /* the artifact is malformed, truncated or corrupt */
    IRC_ERR_VERSION = 4,      /* a format version this runtime does not read */
    IRC_ERR_UNSUPPORTED = 5,  /* an op, dtype or CPU feature this build lacks */
    IRC_ERR_NO_MEMORY = 6,    /* an allocation failed or a size exceeds the limits */
    IRC_ERR_STATE = 7,        /* call out of order (run before load, ...) */
    IRC_ERR_RUNTIME = 8       /* a run-time check failed (an index input out of range) */
} irc_status;

/* Element types, as stored in the artifact's tensor table. */
typedef enum irc_dtype {
    IRC_F32 = 1, IRC_I32 = 2, IRC_I8 = 3, IRC_U8 = 4, IRC_I64 = 5, IRC_BOOL = 6
} irc_dtype;

/* Kernel families ("ISAs") a build may contain; irc_options.isa_mask caps
 * which ones a session may use (0 = everything the CPU has). */
#define IRC_ISA_SCALAR      0x01u   /* portable C; always present */
#define IRC_ISA_AVX2        0x02u
#define IRC_ISA_AVX512VNNI  0x04u
#define IRC_ISA_NEON        0x08u
#define IRC_ISA_NEON_DOT    0x10u

/* Allocation hooks.  alloc must return memory aligned to `align` (a power of
 * two <= 4096) or NULL. */
typedef struct irc_allocator {
    void *(*alloc)(void *user, size_t size, size_t align);
    void (*free)(void *user, void *ptr);
    void *user;
} irc_allocator;

typedef struct irc_options {
    uint32_t struct_size;          /* sizeof(irc_options), set by irc_options_init */
    int num_threads;               /* worker threads including the caller; default 1 */
    uint32_t isa_mask;             /* IRC_ISA_* bits allowed; 0 = all available */
    const irc_allocator *allocator;/* NULL = malloc/free */
    void *arena;                   /* caller-owned activation arena, or NULL */
    size_t arena_size;             /* its size in bytes (must cover the model's plan) */
    size_t max_arena_bytes;        /* refuse models needing more; default 1 GiB */
    int profile;                   /* 1: time every node of every run (irc_session_node_profile) */
} irc_options;

typedef struct irc_tensor_info {
    const char *name;
    irc_dtype dtype;
    int rank;
    int64_t dims[IRC_MAX_RANK];
    size_t nbytes;
    int quantized;                 /* 1 if scale/zero_point are meaningful */
    float scale;
    int32_t zero_point;
} irc_tensor_info;

typedef struct irc_session irc_session;

void irc_options_init(irc_options *options);
const char *irc_version_string(void);
const char *irc_status_string(irc_status status);
/* IRC_ISA_* bits this build has and this CPU supports. */
uint32_t irc_available_isas(void);

irc_status irc_session_create(const irc_options *options, irc_session **out);
void irc_session_destroy(irc_session *session);
/* The message of the last failure on this session ("" if none). */
const char *irc_session_error(const irc_session *session);

/* Load an artifact (once per session).  The bytes are copied. */
irc_status irc_session_load_memory(irc_session *session, const void *data, size_t size);
irc_status irc_session_load_file(irc_session *session, const char *path);

int irc_session_num_inputs(const irc_session *session);
int irc_session_num_outputs(const irc_session *session);
irc_status irc_session_input_info(const irc_session *session, int index, irc_tensor_info *info);
irc_status irc_session_output_info(const irc_session *session, int index, irc_tensor_info *info);
/* The IRC_ISA_* family the session's kernels were chosen from ("avx512vnni"). */
const char *irc_session_isa(const irc_session *session);
/* Bytes of the activation arena the model's memory plan needs. */
size_t irc_session_arena_size(const irc_session *session);

/* Nodes in the artifact's schedule, and (with irc_options.profile) each node's name, op and
 * wall time in the last run. */
int irc_session_num_nodes(const irc_session *session);
irc_status irc_session_node_profile(const irc_session *session, int index, const char **name,
                                    const char **op, double *seconds);

/* Copy one input in (nbytes must equal the input's size). */
irc_status irc_session_set_input(irc_session *session, int index, const void *data, size_t nbytes);
/* Pointer to an input's buffer inside the arena, to fill in place. */
void *irc_session_input_data(irc_session *session, int index);
irc_status irc_session_run(irc_session *session);
/* Pointer to an output's buffer (valid until the next run or destroy). */
const void *irc_session_output_data(const irc_session *session, int index);
irc_status irc_session_get_output(const irc_session *session, int index, void *data, size_t nbytes);

#ifdef __cplusplus
}
#endif
#endif /* IRC_RUNTIME_H */
