/* A few macros for the C tests: a failed check prints where and why, and the test goes on. */
#ifndef OMNISTORE_TEST_CHECK_H
#define OMNISTORE_TEST_CHECK_H

#include <omnistore.h>

#include <stdio.h>

static int check_failures;
static int check_count;

#define CHECK(condition, ...)                                                       \
    do {                                                                            \
        check_count++;                                                              \
        if (!(condition)) {                                                         \
            check_failures++;                                                       \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #condition); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fprintf(stderr, "\n");                                                  \
        }                                                                           \
    } while (0)

/* Checks that `call` returns `expected`, naming both codes and the library's message if not. */
#define CHECK_CODE(call, expected)                                                   \
    do {                                                                            \
        long long check_rc_ = (call);                                               \
        CHECK(check_rc_ == (expected), "%s returned %lld (%s), expected %lld (%s); last error: %s", #call, \
              check_rc_, omst_strerror((int)check_rc_), (long long)(expected), omst_strerror((int)(expected)), \
              omst_last_error());                                                   \
    } while (0)

static int check_summary(const char *test)
{
    printf("%s: %d checks, %d failed\n", test, check_count, check_failures);
    return check_failures == 0 ? 0 : 1;
}

#endif
