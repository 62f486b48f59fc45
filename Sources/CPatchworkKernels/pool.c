// A persistent pool of compute threads. The caller of pw_pool_run works too; idle threads spin
// briefly (the next product usually follows within microseconds), then sleep on a futex, so a
// pool on a busy machine gives its cores back.
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct pw_pool {
    int threads;
    int spin_ns;
    pthread_t *workers;
    pthread_mutex_t callers;
    // The job's generation (the futex workers sleep on) and the claim word: generation in the
    // high 32 bits, the next task in the low 32. A worker claims a task with a CAS that checks
    // the generation, so a late worker never takes a task of the next job, and it reads the
    // job's parameters only after claiming one (the job cannot end while its task is running).
    _Atomic uint32_t generation;
    _Atomic uint64_t claim;
    _Atomic int32_t remaining;  // tasks of the job not yet finished (the futex the caller sleeps on)
    _Atomic int32_t sleepers;
    _Atomic int32_t caller_sleeping;
    _Atomic int32_t stop;
    _Atomic int32_t tasks;
    pw_task_fn fn;
    void *context;
};

typedef struct {
    pw_pool *pool;
    int index;
} worker_start;

static void futex_wait(_Atomic uint32_t *word, uint32_t value) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/// Claims and runs tasks of generation `gen` until none are left.
static void run_tasks(pw_pool *pool, uint32_t gen, int thread) {
    for (;;) {
        uint64_t word = atomic_load_explicit(&pool->claim, memory_order_acquire);
        if ((uint32_t)(word >> 32) != gen) return;
        int task = (int)(uint32_t)word;
        // Acquire: a count of a newer job is seen only with that job's claim word, so the
        // exchange below then fails.
        if (task >= atomic_load_explicit(&pool->tasks, memory_order_acquire)) return;
        if (!atomic_compare_exchange_weak_explicit(&pool->claim, &word, word + 1, memory_order_acq_rel, memory_order_acquire)) continue;
        pool->fn(pool->context, task, thread);
        // Sequentially consistent, against caller_sleeping (a Dekker pair with the caller's wait).
        if (atomic_fetch_sub(&pool->remaining, 1) == 1) {
            if (atomic_load(&pool->caller_sleeping)) futex_wake((_Atomic uint32_t *)&pool->remaining);
        }
    }
}

static void *worker_main(void *argument) {
    worker_start start = *(worker_start *)argument;
    free(argument);
    pw_pool *pool = start.pool;
    uint32_t seen = atomic_load(&pool->generation);
    for (;;) {
        uint32_t gen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (gen == seen) {
            int64_t deadline = now_ns() + pool->spin_ns;
            int spins = 0;
            while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen) {
                cpu_relax();
                if (++spins % 64 == 0 && now_ns() > deadline) break;
            }
            while (gen == seen) {
                atomic_fetch_add(&pool->sleepers, 1);
                gen = atomic_load(&pool->generation);
                if (gen == seen) futex_wait(&pool->generation, seen);
                atomic_fetch_sub(&pool->sleepers, 1);
                gen = atomic_load(&pool->generation);
            }
        }
        seen = gen;
        if (atomic_load(&pool->stop)) return NULL;
        run_tasks(pool, gen, start.index);
    }
}

pw_pool *pw_pool_create(int threads, int spin_microseconds) {
    pw_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->threads = threads < 1 ? 1 : threads;
    pool->spin_ns = (spin_microseconds < 0 ? 0 : spin_microseconds) * 1000;
    pthread_mutex_init(&pool->callers, NULL);
    pool->workers = calloc((size_t)pool->threads, sizeof(pthread_t));
    for (int i = 1; i < pool->threads; i++) {
        worker_start *start = malloc(sizeof *start);
        start->pool = pool;
        start->index = i;
        if (pthread_create(&pool->workers[i], NULL, worker_main, start) != 0) {
            // Run with the threads that did start.
            free(start);
            pool->threads = i;
            break;
        }
    }
    return pool;
}

void pw_pool_destroy(pw_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->callers);
    atomic_store(&pool->stop, 1);
    atomic_fetch_add(&pool->generation, 1);
    futex_wake(&pool->generation);
    for (int i = 1; i < pool->threads; i++) pthread_join(pool->workers[i], NULL);
    pthread_mutex_unlock(&pool->callers);
    pthread_mutex_destroy(&pool->callers);
    free(pool->workers);
    free(pool);
}

int pw_pool_threads(const pw_pool *pool) { return pool->threads; }

void pw_pool_run(pw_pool *pool, int tasks, pw_task_fn fn, void *context) {
    if (tasks <= 0) return;
    if (pool->threads == 1 || tasks == 1) {
        for (int t = 0; t < tasks; t++) fn(context, t, 0);
        return;
    }
    pthread_mutex_lock(&pool->callers);
    // The new claim word first: a worker still finishing the previous job then fails its
    // claim (its generation is gone) rather than take a task of this job with the last job's
    // count, run it before the job is set up, and end the job one task early.
    uint32_t gen = atomic_load(&pool->generation) + 1;
    atomic_store(&pool->claim, (uint64_t)gen << 32);
    pool->fn = fn;
    pool->context = context;
    atomic_store(&pool->remaining, tasks);
    atomic_store_explicit(&pool->tasks, tasks, memory_order_release);
    atomic_store(&pool->generation, gen);
    if (atomic_load(&pool->sleepers) > 0) futex_wake(&pool->generation);
    run_tasks(pool, gen, 0);
    // Wait for the tasks other threads claimed: spin a little, then sleep.
    int64_t deadline = now_ns() + pool->spin_ns;
    int spins = 0;
    int32_t left;
    while ((left = atomic_load_explicit(&pool->remaining, memory_order_acquire)) > 0) {
        cpu_relax();
        if (++spins % 64 == 0 && now_ns() > deadline) {
            atomic_store(&pool->caller_sleeping, 1);
            while ((left = atomic_load(&pool->remaining)) > 0) futex_wait((_Atomic uint32_t *)&pool->remaining, (uint32_t)left);
            atomic_store(&pool->caller_sleeping, 0);
            break;
        }
    }
    pthread_mutex_unlock(&pool->callers);
}

// MARK: - Products on the pool

typedef struct {
    const pw_segment *segments;
    int segment_count;
    const float *x;
    int ldx;
    int rows;
    pw_qact *act;
    float *y;
    int ldy;
    int accumulate;
    // Task t covers groups [t·chunk, (t+1)·chunk) of the segments' groups laid end to end.
    int chunk;
    int total_groups;
} linear_job;

static void linear_task(void *context, int task, int thread) {
    (void)thread;
    linear_job *job = context;
    int begin = task * job->chunk, end = begin + job->chunk;
    if (end > job->total_groups) end = job->total_groups;
    int base = 0;
    for (int s = 0; s < job->segment_count && begin < end; s++) {
        const pw_matrix *w = job->segments[s].w;
        int g0 = begin - base, g1 = end - base;
        if (g0 < w->groups && g1 > 0) {
            if (g0 < 0) g0 = 0;
            if (g1 > w->groups) g1 = w->groups;
            pw_matmul(w, job->x, job->ldx, job->act, job->rows, job->y + job->segments[s].y_offset, job->ldy, g0, g1, job->accumulate);
        }
        base += w->groups;
    }
}

typedef struct {
    const float *x;
    int ldx;
    int rows_per_task;
    int rows;
    pw_qact *act;
} quantize_job;

static void quantize_task(void *context, int task, int thread) {
    (void)thread;
    quantize_job *job = context;
    int begin = task * job->rows_per_task, end = begin + job->rows_per_task;
    if (end > job->rows) end = job->rows;
    pw_quantize_rows(job->x, job->ldx, begin, end, job->act);
}

void pw_linear(pw_pool *pool, const pw_segment *segments, int segment_count, const float *x, int ldx, int rows,
               pw_qact *act, float *y, int ldy, int accumulate) {
    int threads = pool ? pool->threads : 1;
    int needs_codes = 0, total = 0, cols = segments[0].w->cols;
    for (int s = 0; s < segment_count; s++) {
        if (!pw_kind_is_dense(segments[s].w->kind)) needs_codes = 1;
        total += segments[s].w->groups;
    }
    if (needs_codes) {
        act->rows = rows;
        act->cols = cols;
        // Large batches quantize in parallel; one row is not worth a hand-off.
        if (rows >= 8 && threads > 1) {
            quantize_job q = {x, ldx, (rows + threads * 2 - 1) / (threads * 2), rows, act};
            pw_pool_run(pool, (rows + q.rows_per_task - 1) / q.rows_per_task, quantize_task, &q);
        } else {
            pw_quantize_rows(x, ldx, 0, rows, act);
        }
    }
    // About four tasks per thread balance uneven progress (a thread preempted by another
    // process); dense rows are cheaper than 16-row groups, so they take larger chunks.
    int tasks = threads == 1 ? 1 : threads * 4;
    int chunk = (total + tasks - 1) / tasks;
    if (chunk < 1) chunk = 1;
    linear_job job = {segments, segment_count, x, ldx, rows, act, y, ldy, accumulate, chunk, total};
    int count = (total + chunk - 1) / chunk;
    if (pool) pw_pool_run(pool, count, linear_task, &job);
    else for (int t = 0; t < count; t++) linear_task(&job, t, 0);
}
