/*
 * Slide 19's master: puts the initial data once with OmstPutData; then, instead of OmniRPC's
 * calls, waits for each worker's result ("MyOutput/<worker>") and checks it.
 *
 * Usage: master [WORKERS [URI]]
 *   WORKERS  how many results to wait for (default 0: put and exit)
 *   URI      where to put it (omst_init); default: $OMNISTORE_RELAY, else the embedded store
 */
#include <omnistore.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "example.h"

static double initialdata[INITIAL_COUNT]; /* 8 MB: static, not on the stack */

static int report(const char *what, long long rc)
{
    fprintf(stderr, "master: %s: %s (%lld): %s\n", what, omst_strerror((int)rc), rc, omst_last_error());
    return 1;
}

static void pause_briefly(void)
{
    struct timespec delay = { 0, 20 * 1000 * 1000 };
    nanosleep(&delay, NULL);
}

int main(int argc, char **argv)
{
    int workers = argc > 1 ? atoi(argv[1]) : 0;
    const char *uri = argc > 2 ? argv[2] : NULL;
    char name[64];

    int rc = omst_init(uri);
    if (rc != OMST_OK) {
        return report("omst_init", rc);
    }
    /* Results of an earlier run must not pass for this run's. */
    for (int w = 0; w < workers; w++) {
        snprintf(name, sizeof name, OUTPUT_NAME_FORMAT, w);
        rc = omst_delete(name);
        if (rc != OMST_OK && rc != OMST_E_NOT_FOUND) {
            return report(name, rc);
        }
    }

    for (long i = 0; i < INITIAL_COUNT; i++) {
        initialdata[i] = initial_value(i);
    }
    rc = OmstPutData(INITIAL_NAME, initialdata, sizeof(double) * 1000 * 1000);
    if (rc != OMST_OK) {
        return report("OmstPutData", rc);
    }
    printf("master: put %s (%zu bytes)\n", INITIAL_NAME, sizeof initialdata);
    fflush(stdout);

    int failures = 0;
    for (int w = 0; w < workers; w++) {
        double output[OUTPUT_COUNT];
        snprintf(name, sizeof name, OUTPUT_NAME_FORMAT, w);
        time_t deadline = time(NULL) + WAIT_SECONDS;
        long long got;
        while ((got = omst_get_data(name, output, sizeof output)) == OMST_E_NOT_FOUND && time(NULL) < deadline) {
            pause_briefly();
        }
        if (got < 0) {
            return report(name, got);
        }
        if (got != (long long)sizeof output) {
            fprintf(stderr, "master: %s has %lld bytes, expected %zu\n", name, got, sizeof output);
            failures++;
            continue;
        }
        for (int k = 0; k < OUTPUT_COUNT; k++) {
            if (output[k] != output_value(w, k)) {
                fprintf(stderr, "master: %s[%d] = %.1f, expected %.1f\n", name, k, output[k], output_value(w, k));
                failures++;
                break;
            }
        }
    }
    if (workers > 0 && failures == 0) {
        printf("master: gathered %d results, all correct\n", workers);
    }

    rc = omst_finalize();
    if (rc != OMST_OK) {
        return report("omst_finalize", rc);
    }
    return failures ? 1 : 0;
}
