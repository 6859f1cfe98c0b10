/* fastconv/filter_pool.h -- a claim-based thread pool for the filter engine.
 *
 * Why not an OpenMP parallel loop: a filter call lasts milliseconds, and an
 * OpenMP region ends at a barrier that waits for every thread of the team.
 * On a machine shared with other processes a helper thread that the
 * scheduler has not run yet holds the caller for a whole time slice
 * (measured on the 2-core machine under load: a 0.1 ms filter took a median
 * 8 ms, up to 30 ms, with 2 threads).  Here the caller works through the
 * items itself and waits only for helpers that actually took one: a helper
 * that wakes up late finds no job and goes back to sleep, so the worst case
 * is the speed of one thread.
 *
 *   fc_pool_run(fn, ctx, n, threads): fn(ctx, item, slot) for item < n, on at
 *   most `threads` threads; slot < threads is unique among the threads that
 *   run concurrently (the index of their scratch).  The caller is slot 0.
 *
 * POSIX threads only; elsewhere fc_pool_available() is 0 and the Cython
 * driver uses its OpenMP loop.  Concurrent callers do not queue: a call
 * that finds the pool busy runs its items on the calling thread.  Each
 * participant sets flush-to-zero for the job and restores its own FP state.
 */
#ifndef FASTCONV_FILTER_POOL_H
#define FASTCONV_FILTER_POOL_H

#include <stdint.h>

#include "runtime.h"

typedef void (*fc_pool_fn)(void *ctx, int64_t item, int slot);

#if (defined(__unix__) || defined(__APPLE__)) && defined(__GNUC__) && !defined(FASTCONV_NO_POOL)
#include <pthread.h>

#define FC_POOL_MAX 256

typedef struct {
    fc_pool_fn fn;
    void *ctx;
    int64_t n;
    int64_t next;    /* next item to claim (atomic) */
    int slots;       /* slots handed out (atomic) */
    int max_slots;
    int active;      /* helpers inside the job (under fc_pool_mu) */
} fc_pool_job;

static pthread_mutex_t fc_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t fc_pool_submit = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fc_pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t fc_pool_done = PTHREAD_COND_INITIALIZER;
static fc_pool_job *fc_pool_current = 0;
static uint64_t fc_pool_gen = 0;
static int fc_pool_threads = 0;   /* helpers started */
static int fc_pool_atfork = 0;

static inline int fc_pool_available(void) { return 1; }

/* Claim and run items until none is left. */
static void fc_pool_work(fc_pool_job *job, int slot)
{
    const unsigned int fp = fc_fp_enter();
    for (;;) {
        const int64_t i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
        if (i >= job->n) break;
        job->fn(job->ctx, i, slot);
    }
    fc_fp_exit(fp);
}

static void *fc_pool_helper(void *arg)
{
    uint64_t seen = 0;
    (void)arg;
    pthread_mutex_lock(&fc_pool_mu);
    for (;;) {
        while (!fc_pool_current || fc_pool_gen == seen) pthread_cond_wait(&fc_pool_wake, &fc_pool_mu);
        fc_pool_job *job = fc_pool_current;
        seen = fc_pool_gen;
        const int slot = __atomic_fetch_add(&job->slots, 1, __ATOMIC_RELAXED);
        if (slot >= job->max_slots) continue;
        job->active++;
        pthread_mutex_unlock(&fc_pool_mu);
        fc_pool_work(job, slot);
        pthread_mutex_lock(&fc_pool_mu);
        if (--job->active == 0) pthread_cond_broadcast(&fc_pool_done);
    }
    return 0;
}

/* In a child after fork() the helpers are gone and the locks may be held. */
static void fc_pool_after_fork(void)
{
    pthread_mutex_init(&fc_pool_mu, 0);
    pthread_mutex_init(&fc_pool_submit, 0);
    pthread_cond_init(&fc_pool_wake, 0);
    pthread_cond_init(&fc_pool_done, 0);
    fc_pool_current = 0;
    fc_pool_threads = 0;
}

/* Start helpers up to `want` (under fc_pool_submit); returns how many run. */
static int fc_pool_grow(int want)
{
    if (!fc_pool_atfork) {
        pthread_atfork(0, 0, fc_pool_after_fork);
        fc_pool_atfork = 1;
    }
    while (fc_pool_threads < want && fc_pool_threads < FC_POOL_MAX) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int err = pthread_create(&t, &attr, fc_pool_helper, 0);
        pthread_attr_destroy(&attr);
        if (err) break;
        fc_pool_threads++;
    }
    return fc_pool_threads;
}

static void fc_pool_run(fc_pool_fn fn, void *ctx, int64_t n, int threads)
{
    fc_pool_job job;
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    job.next = 0;
    job.slots = 1;
    job.active = 0;
    job.max_slots = threads < 1 ? 1 : threads;
    if (n <= 0) return;
    if (job.max_slots == 1 || n == 1 || pthread_mutex_trylock(&fc_pool_submit) != 0) {
        fc_pool_work(&job, 0);   /* alone, or the pool is serving another caller */
        return;
    }
    if (fc_pool_grow(job.max_slots - 1) > 0) {
        pthread_mutex_lock(&fc_pool_mu);
        fc_pool_current = &job;
        fc_pool_gen++;
        pthread_cond_broadcast(&fc_pool_wake);
        pthread_mutex_unlock(&fc_pool_mu);
    }
    fc_pool_work(&job, 0);
    pthread_mutex_lock(&fc_pool_mu);
    fc_pool_current = 0;
    while (job.active > 0) pthread_cond_wait(&fc_pool_done, &fc_pool_mu);
    pthread_mutex_unlock(&fc_pool_mu);
    pthread_mutex_unlock(&fc_pool_submit);
}

#else

static inline int fc_pool_available(void) { return 0; }

static void fc_pool_run(fc_pool_fn fn, void *ctx, int64_t n, int threads)
{
    (void)threads;
    const unsigned int fp = fc_fp_enter();
    for (int64_t i = 0; i < n; ++i) fn(ctx, i, 0);
    fc_fp_exit(fp);
}

#endif
#endif
