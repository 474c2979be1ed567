/*
 * threads.c — the session's worker pool and irc_parallel_for (internal.h).
 *
 * A session with num_threads = T owns T − 1 worker threads; the calling thread
 * is the T-th.  irc_parallel_for splits [0, n) into at most T chunks (multiples
 * of `grain`), publishes the job, works on chunks itself and returns when all
 * are done.  One job at a time: a session is used by one thread at a time.
 * Built without IRC_THREADS (no pthreads), everything runs on the caller.
 *
 * Waking a sleeping thread through a condition variable costs tens of
 * microseconds on a VM — as much as a whole layer — so workers spin on the job
 * counter for a while (SPINS polls with a pause) before they sleep, and so does
 * the caller waiting for the last chunk.  Everything the job consists of is
 * still written under the mutex; the spinning only reads two counters
 * (__atomic loads, which gcc and clang provide in C99 mode).
 */
#include "internal.h"

#if defined(IRC_THREADS) && IRC_THREADS
#include <pthread.h>

#define SPINS 20000

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

typedef struct irc_pool {
    pthread_t threads[64];
    int n_workers;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    unsigned long generation;     /* bumped for each job */
    int stop;
    /* the current job */
    irc_range_fn fn;
    void *arg;
    int64_t n, chunk;
    int next, n_chunks, pending;
} irc_pool;

/* Take and run chunks of the current job until none are left.  Called with mu held. */
static void work_chunks(irc_pool *p) {
    while (p->next < p->n_chunks) {
        int c = p->next++;
        int64_t begin = (int64_t)c * p->chunk;
        int64_t end = begin + p->chunk < p->n ? begin + p->chunk : p->n;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->arg, begin, end);
        pthread_mutex_lock(&p->mu);
        __atomic_store_n(&p->pending, p->pending - 1, __ATOMIC_RELEASE);
        if (p->pending == 0) pthread_cond_signal(&p->done);
    }
}

/* Spin until *counter differs from `old` (1) or SPINS polls pass (0). */
static int spin_until_changed(const unsigned long *counter, unsigned long old) {
    for (int i = 0; i < SPINS; i++) {
        if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) != old) return 1;
        cpu_relax();
    }
    return 0;
}

static void *worker(void *arg) {
    irc_pool *p = arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (!p->stop && p->generation == seen) {   /* spin a while before sleeping */
            pthread_mutex_unlock(&p->mu);
            spin_until_changed(&p->generation, seen);
            pthread_mutex_lock(&p->mu);
        }
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) break;
        seen = p->generation;
        work_chunks(p);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int irc_pool_create(irc_ctx *ctx, int num_threads) {
    ctx->pool = NULL;
    if (num_threads <= 1) return 0;
    irc_pool *p = irc_calloc(ctx, sizeof *p);
    if (!p) return -1;
    if (pthread_mutex_init(&p->mu, NULL) != 0) goto fail_mutex;
    if (pthread_cond_init(&p->work, NULL) != 0) goto fail_work;
    if (pthread_cond_init(&p->done, NULL) != 0) goto fail_done;
    for (int i = 0; i < num_threads - 1; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) break;
        p->n_workers++;
    }
    ctx->pool = p;
    ctx->num_threads = p->n_workers + 1;   /* what we actually got */
    return 0;
fail_done:
    pthread_cond_destroy(&p->work);
fail_work:
    pthread_mutex_destroy(&p->mu);
fail_mutex:
    irc_free(ctx, p);
    return -1;
}

void irc_pool_destroy(irc_ctx *ctx) {
    irc_pool *p = ctx->pool;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_workers; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    irc_free(ctx, p);
    ctx->pool = NULL;
}

void irc_parallel_for(irc_ctx *ctx, int64_t n, int64_t grain, irc_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t units = (n + grain - 1) / grain;
    irc_pool *p = ctx->pool;
    if (!p || units < 2) {
        fn(arg, 0, n);
        return;
    }
    int64_t chunks = units < ctx->num_threads ? units : ctx->num_threads;
    int64_t per = (units + chunks - 1) / chunks;          /* units per chunk */
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunk = per * grain;
    p->n_chunks = (int)((n + p->chunk - 1) / p->chunk);
    p->next = 0;
    p->pending = p->n_chunks;
    __atomic_store_n(&p->generation, p->generation + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->work);
    work_chunks(p);
    if (p->pending > 0) {                          /* spin a while for the last chunks */
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < SPINS && __atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) > 0; i++)
            cpu_relax();
        pthread_mutex_lock(&p->mu);
    }
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

#else

int irc_pool_create(irc_ctx *ctx, int num_threads) {
    (void)num_threads;
    ctx->pool = NULL;
    ctx->num_threads = 1;
    return 0;
}

void irc_pool_destroy(irc_ctx *ctx) { (void)ctx; }

void irc_parallel_for(irc_ctx *ctx, int64_t n, int64_t grain, irc_range_fn fn, void *arg) {
    (void)ctx;
    (void)grain;
    if (n > 0) fn(arg, 0, n);
}
#endif
