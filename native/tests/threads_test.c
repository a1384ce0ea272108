/*
 * The C API from many threads: concurrent first calls of OmstGetData initialize the library once;
 * concurrent Puts and Gets of distinct and shared objects all round-trip; omst_finalize while
 * other threads are calling waits for them, and the calls after it fail with OMST_E_FINALIZED.
 *
 * Usage: threads_test   (the store comes from the environment: $OMNISTORE_RELAY or $OMNISTORE_DATA)
 */
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 8
#define ROUNDS 12
#define OBJECT_SIZE (300 * 1024 + 7)
#define SHARED_SIZE (2 * 1024 * 1024 + 3)

static unsigned char *shared_object;
static atomic_int start_gate;
static atomic_int failures;
static atomic_long calls_after_finalize;

static void fill(unsigned char *buffer, size_t size, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        buffer[i] = (unsigned char)(x >> 16);
    }
}

static void thread_failed(const char *what, long long rc)
{
    fprintf(stderr, "thread: %s: %lld (%s): %s\n", what, rc, omst_strerror((int)rc), omst_last_error());
    atomic_fetch_add(&failures, 1);
}

static void wait_for_gate(void)
{
    while (!atomic_load(&start_gate)) {
        sched_yield();
    }
}

static void *first_calls(void *argument)
{
    (void)argument;
    unsigned char buffer[8];
    wait_for_gate();
    long long rc = OmstGetData("threads/missing", buffer, sizeof buffer);
    if (rc != OMST_E_NOT_FOUND) {
        thread_failed("a first OmstGetData", rc);
    }
    return NULL;
}

static void *round_trips(void *argument)
{
    int id = (int)(intptr_t)argument;
    unsigned char *data = malloc(OBJECT_SIZE), *back = malloc(SHARED_SIZE);
    char name[64];
    snprintf(name, sizeof name, "threads/%d", id);
    wait_for_gate();
    for (int round = 0; round < ROUNDS; round++) {
        fill(data, OBJECT_SIZE, (uint32_t)(id * 1000 + round));
        long long rc = omst_put_data(name, data, OBJECT_SIZE);
        if (rc != OMST_OK) {
            thread_failed("omst_put_data", rc);
            break;
        }
        rc = omst_get_data(name, back, SHARED_SIZE);
        if (rc != OBJECT_SIZE || memcmp(back, data, OBJECT_SIZE) != 0) {
            thread_failed("own object read back", rc);
            break;
        }
        rc = omst_get_data("threads/shared", back, SHARED_SIZE);
        if (rc != SHARED_SIZE || memcmp(back, shared_object, SHARED_SIZE) != 0) {
            thread_failed("shared object read back", rc);
            break;
        }
    }
    free(data);
    free(back);
    return NULL;
}

/* Reads the shared object until the library is finalized under it (bounded: 60 s). */
static void *read_until_finalized(void *argument)
{
    (void)argument;
    unsigned char *back = malloc(SHARED_SIZE);
    time_t deadline = time(NULL) + 60;
    wait_for_gate();
    for (;;) {
        long long rc = omst_get_data("threads/shared", back, SHARED_SIZE);
        if (rc == OMST_E_FINALIZED) {
            atomic_fetch_add(&calls_after_finalize, 1);
            break;
        }
        if (rc != SHARED_SIZE || memcmp(back, shared_object, SHARED_SIZE) != 0) {
            thread_failed("a Get racing omst_finalize", rc);
            break;
        }
        if (time(NULL) > deadline) {
            thread_failed("still not finalized after 60 s", rc);
            break;
        }
    }
    free(back);
    return NULL;
}

static void run_threads(void *(*body)(void *), int count)
{
    pthread_t threads[THREADS];
    atomic_store(&start_gate, 0);
    for (int i = 0; i < count; i++) {
        pthread_create(&threads[i], NULL, body, (void *)(intptr_t)i);
    }
    atomic_store(&start_gate, 1);
    for (int i = 0; i < count; i++) {
        pthread_join(threads[i], NULL);
    }
}

int main(void)
{
    /* Every thread's first call initializes (from the environment) or finds it done: never twice. */
    run_threads(first_calls, THREADS);
    CHECK(atomic_load(&failures) == 0, "%d first calls failed", atomic_load(&failures));
    CHECK_CODE(omst_init(NULL), OMST_E_ALREADY_INITIALIZED);

    shared_object = malloc(SHARED_SIZE);
    fill(shared_object, SHARED_SIZE, 424242);
    CHECK_CODE(omst_put_data("threads/shared", shared_object, SHARED_SIZE), OMST_OK);

    run_threads(round_trips, THREADS);
    CHECK(atomic_load(&failures) == 0, "%d threads failed their round trips", atomic_load(&failures));

    /* omst_finalize while four threads read: it waits for the reads in progress. */
    pthread_t readers[4];
    atomic_store(&start_gate, 0);
    for (int i = 0; i < 4; i++) {
        pthread_create(&readers[i], NULL, read_until_finalized, NULL);
    }
    atomic_store(&start_gate, 1);
    struct timespec delay = { 0, 300 * 1000 * 1000 };
    nanosleep(&delay, NULL);
    CHECK_CODE(omst_finalize(), OMST_OK);
    for (int i = 0; i < 4; i++) {
        pthread_join(readers[i], NULL);
    }
    CHECK(atomic_load(&failures) == 0, "%d readers failed", atomic_load(&failures));
    CHECK(atomic_load(&calls_after_finalize) == 4, "%ld of 4 readers saw OMST_E_FINALIZED",
          atomic_load(&calls_after_finalize));
    free(shared_object);
    return check_summary("threads_test");
}
