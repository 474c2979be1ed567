"""cffi build script (API mode) for the runtime's Python binding.

``pip install .`` runs it through ``setup.py``'s ``cffi_modules``: every C file
under ``runtime/src`` is compiled into the extension ``irc.runtime._irc_runtime``
with the same flags as ``runtime/Makefile``.  The declarations below are the
public header's functions (``include/irc_runtime.h``); the C compiler checks
them against the header when the extension is built.
"""

from __future__ import annotations

import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

CDEF = """
typedef enum irc_status {
    IRC_OK = 0, IRC_ERR_ARGUMENT = 1, IRC_ERR_IO = 2, IRC_ERR_FORMAT = 3, IRC_ERR_VERSION = 4,
    IRC_ERR_UNSUPPORTED = 5, IRC_ERR_NO_MEMORY = 6, IRC_ERR_STATE = 7, IRC_ERR_RUNTIME = 8
} irc_status;
typedef enum irc_dtype {
    IRC_F32 = 1, IRC_I32 = 2, IRC_I8 = 3, IRC_U8 = 4, IRC_I64 = 5, IRC_BOOL = 6
} irc_dtype;
#define IRC_ISA_SCALAR ...
#define IRC_ISA_AVX2 ...
#define IRC_ISA_AVX512VNNI ...
#define IRC_ISA_NEON ...
#define IRC_ISA_NEON_DOT ...
#define IRC_MAX_RANK ...
typedef struct irc_allocator {
    void *(*alloc)(void *user, size_t size, size_t align);
    void (*free)(void *user, void *ptr);
    void *user;
} irc_allocator;
typedef struct irc_options {
    uint32_t struct_size;
    int num_threads;
    uint32_t isa_mask;
    const irc_allocator *allocator;
    void *arena;
    size_t arena_size;
    size_t max_arena_bytes;
    int profile;
} irc_options;
typedef struct irc_tensor_info {
    const char *name;
    irc_dtype dtype;
    int rank;
    int64_t dims[6];
    size_t nbytes;
    int quantized;
    float scale;
    int32_t zero_point;
} irc_tensor_info;
typedef struct irc_session irc_session;
void irc_options_init(irc_options *options);
const char *irc_version_string(void);
const char *irc_status_string(irc_status status);
uint32_t irc_available_isas(void);
irc_status irc_session_create(const irc_options *options, irc_session **out);
void irc_session_destroy(irc_session *session);
const char *irc_session_error(const irc_session *session);
irc_status irc_session_load_memory(irc_session *session, const void *data, size_t size);
irc_status irc_session_load_file(irc_session *session, const char *path);
int irc_session_num_inputs(const irc_session *session);
int irc_session_num_outputs(const irc_session *session);
irc_status irc_session_input_info(const irc_session *session, int index, irc_tensor_info *info);
irc_status irc_session_output_info(const irc_session *session, int index, irc_tensor_info *info);
const char *irc_session_isa(const irc_session *session);
size_t irc_session_arena_size(const irc_session *session);
int irc_session_num_nodes(const irc_session *session);
irc_status irc_session_node_profile(const irc_session *session, int index, const char **name,
                                    const char **op, double *seconds);
irc_status irc_session_set_input(irc_session *session, int index, const void *data, size_t nbytes);
void *irc_session_input_data(irc_session *session, int index);
irc_status irc_session_run(irc_session *session);
const void *irc_session_output_data(const irc_session *session, int index);
irc_status irc_session_get_output(const irc_session *session, int index, void *data, size_t nbytes);
"""

SOURCES = sorted(glob.glob(os.path.join(HERE, "src", "*.c"))
                 + glob.glob(os.path.join(HERE, "src", "kernels", "*.c")))

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "irc.runtime._irc_runtime",
    '#include "irc_runtime.h"',
    sources=[os.path.relpath(s) for s in SOURCES],
    include_dirs=[os.path.relpath(os.path.join(HERE, "include"))],
    extra_compile_args=["-std=c99", "-O3", "-ffp-contract=off", "-DIRC_THREADS=1", "-pthread"],
    libraries=["m", "pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
