/*
 * session.h — the session handle's insides (loader.c fills it, session.c runs it).
 */
#ifndef IRC_SESSION_H
#define IRC_SESSION_H

#include "internal.h"

struct irc_session {
    irc_options opt;
    irc_allocator allocator;      /* the caller's, or malloc-based */
    irc_ctx ctx;
    char error[IRC_ERROR_SIZE];
    int loaded;

    uint8_t *file;                /* our 64-aligned copy of the artifact */
    size_t file_size;
    uint32_t target;
    const char *strings;          /* STRS */
    size_t strings_size;
    const uint8_t *data;          /* DATA */
    size_t data_size;

    uint32_t n_tensors;
    irc_tensor *tensors;
    uint32_t n_nodes;
    irc_node *nodes;
    irc_tensor **operands;        /* every node's in/out pointers, back to back */
    int32_t *params;              /* PRMS in host order */
    int n_inputs, n_outputs;
    irc_tensor **inputs, **outputs;

    double *node_seconds;         /* irc_options.profile: per node, the last run */
    uint8_t *arena;
    size_t arena_size;
    int arena_owned;
};

/* Parse, check and prepare `size` bytes (loader.c).  On failure the session is left
 * unloaded and everything it allocated is freed. */
irc_status irc_load(irc_session *s, const void *bytes, size_t size);
/* Free everything irc_load allocated. */
void irc_unload(irc_session *s);

#endif /* IRC_SESSION_H */
