/*
 * Slide 19's worker: gets the initial data with OmstGetData (which initializes the library from
 * the environment, as OmniStorage did, unless a URI is given), checks every element, and puts its
 * result ("MyOutput/<worker>") for the master.
 *
 * Usage: worker ID [URI]
 *   ID   this worker's number (0, 1, ...)
 *   URI  the relay to use (omst_init); default: $OMNISTORE_RELAY, else the embedded store
 */
#include <omnistore.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "example.h"

static double initialdata[INITIAL_COUNT]; /* 8 MB: static, not on the stack */

static int report(const char *what, long long rc)
{
    fprintf(stderr, "worker: %s: %s (%lld): %s\n", what, omst_strerror((int)rc), rc, omst_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: worker ID [URI]\n");
        return 2;
    }
    int id = atoi(argv[1]);
    if (argc > 2) {
        int rc = omst_init(argv[2]);
        if (rc != OMST_OK) {
            return report("omst_init", rc);
        }
    }

    /* The master may not have put the data yet. */
    time_t deadline = time(NULL) + WAIT_SECONDS;
    long long got;
    while ((got = OmstGetData(INITIAL_NAME, initialdata, sizeof(double) * 1000 * 1000)) == OMST_E_NOT_FOUND &&
           time(NULL) < deadline) {
        struct timespec delay = { 0, 20 * 1000 * 1000 };
        nanosleep(&delay, NULL);
    }
    if (got < 0) {
        return report("OmstGetData", got);
    }
    if (got != (long long)sizeof initialdata) {
        fprintf(stderr, "worker %d: %s has %lld bytes, expected %zu\n", id, INITIAL_NAME, got, sizeof initialdata);
        return 1;
    }
    for (long i = 0; i < INITIAL_COUNT; i++) {
        if (initialdata[i] != initial_value(i)) {
            fprintf(stderr, "worker %d: %s[%ld] = %f, expected %f\n", id, INITIAL_NAME, i, initialdata[i], initial_value(i));
            return 1;
        }
    }

    double output[OUTPUT_COUNT];
    for (int k = 0; k < OUTPUT_COUNT; k++) {
        double sum = id;
        for (int j = 0; j < 1000; j++) {
            sum += initialdata[k * 1000 + j];
        }
        output[k] = sum;
    }
    char name[64];
    snprintf(name, sizeof name, OUTPUT_NAME_FORMAT, id);
    int rc = OmstPutData(name, output, sizeof output);
    if (rc != OMST_OK) {
        return report("OmstPutData", rc);
    }
    printf("worker %d: got %s (%lld bytes, checked), put %s\n", id, INITIAL_NAME, got, name);

    rc = omst_finalize();
    if (rc != OMST_OK) {
        return report("omst_finalize", rc);
    }
    return 0;
}
