/*
 * What the examples' master and workers agree on: the data of slide 19 of the OmniStorage talk
 * (a 1000 x 1000 matrix of doubles, "MyInitialData"), and the result each worker sends back.
 */
#ifndef OMNISTORE_EXAMPLE_H
#define OMNISTORE_EXAMPLE_H

#define INITIAL_NAME "MyInitialData"
#define INITIAL_COUNT (1000 * 1000)
#define OUTPUT_COUNT 1000
#define OUTPUT_NAME_FORMAT "MyOutput/%d"

/* How long a master waits for results, or a worker for the initial data, before giving up. */
#define WAIT_SECONDS 120

/* Element i of the initial data. Multiples of 0.5 below 2^52: every sum below is exact. */
static inline double initial_value(long i) { return (double)i * 0.5; }

/* Element k of worker w's output: w plus the sum of row k of the initial data. */
static inline double output_value(int worker, int k)
{
    /* sum over j < 1000 of (1000k + j) / 2 = 1000 * 1000k / 2 + (999 * 1000 / 2) / 2 */
    return (double)worker + 500000.0 * k + 249750.0;
}

#endif
