/*
 * Put and Get of one large object through the C API, timed; the C side of
 * bench/scripts/native-vs-managed.sh, whose C# side (bench/OmniStore.Benchmarks, "api-put-get")
 * does the same steps through OmniStoreClient.
 *
 * Steps: omst_init(URI); touch the destination buffer; warm up with a Put and a Get of WARMUP
 * bytes, so that the managed code is compiled before the timed calls; then ITERATIONS times: fill
 * SIZE bytes with new pseudo-random data (xorshift64; new content, so dedup finds nothing), time
 * the Put of it under a new name, time the Get of it into the destination, check the copy.
 *
 * Usage: omst_bench URI [SIZE [WARMUP [ITERATIONS]]]   (bytes; default 1 GiB, 64 MiB, 1)
 * Prints, per iteration: api=c size=SIZE iteration=I put_s=SECONDS get_s=SECONDS
 */
#include <omnistore.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fill(void *buffer, size_t size, uint64_t seed)
{
    uint64_t *words = buffer, x = seed * 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < size / 8; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        words[i] = x;
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int fail(const char *what, long long rc)
{
    fprintf(stderr, "omst_bench: %s: %s (%lld): %s\n", what, omst_strerror((int)rc), rc, omst_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: omst_bench URI [SIZE [WARMUP [ITERATIONS]]]\n");
        return 2;
    }
    size_t size = argc > 2 ? strtoull(argv[2], NULL, 10) : (size_t)1 << 30;
    size_t warmup = argc > 3 ? strtoull(argv[3], NULL, 10) : (size_t)64 << 20;
    int iterations = argc > 4 ? atoi(argv[4]) : 1;
    size &= ~(size_t)7;
    warmup &= ~(size_t)7;
    if (warmup > size) {
        warmup = size;
    }

    int rc = omst_init(argv[1]);
    if (rc != OMST_OK) {
        return fail("omst_init", rc);
    }
    unsigned char *source = malloc(size), *destination = malloc(size);
    if (!source || !destination) {
        fprintf(stderr, "omst_bench: cannot allocate 2 x %zu bytes\n", size);
        return 1;
    }
    memset(destination, 0xA5, size);

    fill(source, warmup, 1);
    if ((rc = omst_put_data("bench/warmup", source, warmup)) != OMST_OK) {
        return fail("warm-up put", rc);
    }
    long long got = omst_get_data("bench/warmup", destination, size);
    if (got != (long long)warmup) {
        return fail("warm-up get", got);
    }

    for (int iteration = 1; iteration <= iterations; iteration++) {
        char name[64];
        snprintf(name, sizeof name, "bench/object-%d", iteration);
        fill(source, size, (uint64_t)iteration + 2);
        double start = now();
        rc = omst_put_data(name, source, size);
        double put_seconds = now() - start;
        if (rc != OMST_OK) {
            return fail("put", rc);
        }
        start = now();
        got = omst_get_data(name, destination, size);
        double get_seconds = now() - start;
        if (got != (long long)size) {
            return fail("get", got);
        }
        if (memcmp(source, destination, size) != 0) {
            fprintf(stderr, "omst_bench: the object read back differs\n");
            return 1;
        }
        printf("api=c size=%zu iteration=%d put_s=%.6f get_s=%.6f\n", size, iteration, put_seconds, get_seconds);
        fflush(stdout);
    }
    if ((rc = omst_finalize()) != OMST_OK) {
        return fail("omst_finalize", rc);
    }
    free(source);
    free(destination);
    return 0;
}
