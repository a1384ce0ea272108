/*
 * The C API's contract, in one process: error codes before omst_init, after it and after
 * omst_finalize; NULL pointers, invalid names, buffers too small, unknown names; strerror of every
 * code; round trips of the omst_* and OmstPutData/OmstGetData functions.
 *
 * Usage: api_test URI   (file:///DIR for an embedded store, tcp://HOST:PORT for a relay)
 */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const int all_codes[] = {
    OMST_OK, OMST_E_UNKNOWN, OMST_E_NOT_FOUND, OMST_E_INVALID_NAME, OMST_E_TOO_SMALL, OMST_E_STORE_FULL,
    OMST_E_CORRUPT, OMST_E_UNAVAILABLE, OMST_E_UNAUTHORIZED, OMST_E_PROTOCOL, OMST_E_INVALID_ARGUMENT,
    OMST_E_CANCELLED, OMST_E_DISPOSED, OMST_E_CONFLICT, OMST_E_NOT_INITIALIZED, OMST_E_FINALIZED, OMST_E_ALREADY_INITIALIZED,
    OMST_E_RUNTIME,
};
#define CODE_COUNT (sizeof all_codes / sizeof all_codes[0])

static void fill(unsigned char *buffer, size_t size, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        buffer[i] = (unsigned char)(x >> 16);
    }
}

static int all_bytes(const unsigned char *buffer, size_t size, unsigned char value)
{
    for (size_t i = 0; i < size; i++) {
        if (buffer[i] != value) {
            return 0;
        }
    }
    return 1;
}

static void test_strerror(void)
{
    const char *unknown = omst_strerror(12345);
    CHECK(unknown && *unknown, "omst_strerror(12345) is empty");
    CHECK(strcmp(omst_strerror(1), unknown) == 0, "a positive code is not an unknown one");
    CHECK(strcmp(omst_strerror(-14), unknown) == 0, "-14 is not an unknown code");
    for (size_t i = 0; i < CODE_COUNT; i++) {
        const char *text = omst_strerror(all_codes[i]);
        CHECK(text && *text, "omst_strerror(%d) is empty", all_codes[i]);
        CHECK(strcmp(text, unknown) != 0, "omst_strerror(%d) does not know its own code", all_codes[i]);
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(text, omst_strerror(all_codes[j])) != 0, "codes %d and %d share a description",
                  all_codes[i], all_codes[j]);
        }
    }
}

static void test_before_init(void)
{
    unsigned char buffer[16] = { 0 };
    CHECK(omst_last_error() != NULL && omst_last_error()[0] == '\0', "the last error starts empty");
    CHECK_CODE(omst_put_data("a", buffer, sizeof buffer), OMST_E_NOT_INITIALIZED);
    CHECK(strstr(omst_last_error(), "omst_init") != NULL, "the message says what to do: %s", omst_last_error());
    CHECK_CODE(omst_get_data("a", buffer, sizeof buffer), OMST_E_NOT_INITIALIZED);
    CHECK_CODE(omst_get_size("a"), OMST_E_NOT_INITIALIZED);
    CHECK_CODE(omst_delete("a"), OMST_E_NOT_INITIALIZED);
    CHECK_CODE(omst_finalize(), OMST_E_NOT_INITIALIZED);
    /* Arguments are checked first: no runtime is needed to refuse them. */
    CHECK_CODE(omst_put_data(NULL, buffer, sizeof buffer), OMST_E_INVALID_NAME);
    CHECK_CODE(OmstPutData(NULL, buffer, sizeof buffer), OMST_E_INVALID_NAME);
    CHECK_CODE(OmstGetData("a", NULL, 8), OMST_E_INVALID_ARGUMENT);

    /* Failed initializations leave the library uninitialized: omst_init may be called again. */
    CHECK_CODE(omst_init("bogus://somewhere"), OMST_E_INVALID_ARGUMENT);
    CHECK_CODE(omst_init(""), OMST_E_INVALID_ARGUMENT);
    CHECK_CODE(omst_init("tcp://127.0.0.1"), OMST_E_INVALID_ARGUMENT);
    CHECK_CODE(omst_init("file://relative"), OMST_E_INVALID_ARGUMENT);
    /* A list is parsed whole before anything connects; the message names the element (as the library's does). */
    CHECK_CODE(omst_init("tcp://127.0.0.1:1,,tcp://127.0.0.1:2"), OMST_E_INVALID_ARGUMENT);
    CHECK(strstr(omst_last_error(), "Element 2 of 3: the address is empty") != NULL, "the message names the element: %s", omst_last_error());
    CHECK_CODE(omst_init("tcp://127.0.0.1:1,tcp://127.0.0.1:1"), OMST_E_INVALID_ARGUMENT);
    CHECK(strstr(omst_last_error(), "in the list twice") != NULL, "a duplicate is refused: %s", omst_last_error());
    CHECK_CODE(omst_init("tcp://127.0.0.1:1,tcp://bad\x1b:2"), OMST_E_INVALID_ARGUMENT);
    CHECK(strstr(omst_last_error(), "\\x1B") != NULL && strchr(omst_last_error(), 0x1b) == NULL, "a control character is escaped: %s", omst_last_error());
    /* Port 1 on loopback: nothing listens there, the connection is refused at once. */
    CHECK_CODE(omst_init("tcp://127.0.0.1:1"), OMST_E_UNAVAILABLE);
    CHECK(strstr(omst_last_error(), "127.0.0.1") != NULL, "the message names the address: %s", omst_last_error());
    CHECK_CODE(omst_get_size("a"), OMST_E_NOT_INITIALIZED);
}

static void test_round_trips(void)
{
    const size_t size = 3 * 1024 * 1024 + 12345; /* several chunks and a partial one */
    unsigned char *data = malloc(size), *back = malloc(size + 1);
    fill(data, size, 1);

    CHECK_CODE(omst_put_data("api/object", data, size), OMST_OK);
    CHECK_CODE(omst_get_size("api/object"), (long long)size);
    memset(back, 0, size + 1);
    CHECK_CODE(omst_get_data("api/object", back, size + 1), (long long)size);
    CHECK(memcmp(data, back, size) == 0, "the object read back differs");
    CHECK_CODE(omst_get_data("api/object", back, size), (long long)size);

    /* A buffer one byte short: nothing is copied. */
    memset(back, 0xEE, size);
    CHECK_CODE(omst_get_data("api/object", back, size - 1), OMST_E_TOO_SMALL);
    CHECK(all_bytes(back, size, 0xEE), "a Get into a buffer too small wrote into it");
    CHECK_CODE(omst_get_data("api/object", NULL, 0), OMST_E_TOO_SMALL);

    /* Rebinding: the new content replaces the old, size included. */
    fill(data, 1000, 2);
    CHECK_CODE(omst_put_data("api/object", data, 1000), OMST_OK);
    CHECK_CODE(omst_get_size("api/object"), 1000);
    CHECK_CODE(omst_get_data("api/object", back, size), 1000);
    CHECK(memcmp(data, back, 1000) == 0, "the rebound object read back differs");

    /* The empty object: NULL is a valid buffer of size 0. */
    CHECK_CODE(omst_put_data("api/empty", NULL, 0), OMST_OK);
    CHECK_CODE(omst_get_size("api/empty"), 0);
    CHECK_CODE(omst_get_data("api/empty", NULL, 0), 0);
    CHECK_CODE(omst_get_data("api/empty", back, 16), 0);

    /* The right object, not another one: two names, two contents. */
    unsigned char first[4096], second[4096], got[4096];
    fill(first, sizeof first, 3);
    fill(second, sizeof second, 4);
    CHECK_CODE(omst_put_data("api/first", first, sizeof first), OMST_OK);
    CHECK_CODE(omst_put_data("api/second", second, sizeof second), OMST_OK);
    CHECK_CODE(omst_get_data("api/first", got, sizeof got), (long long)sizeof got);
    CHECK(memcmp(got, first, sizeof got) == 0, "api/first read back the wrong content");
    CHECK_CODE(omst_get_data("api/second", got, sizeof got), (long long)sizeof got);
    CHECK(memcmp(got, second, sizeof got) == 0, "api/second read back the wrong content");

    /* Delete: gone afterwards; a second delete finds nothing; the other name is untouched. */
    CHECK_CODE(omst_delete("api/first"), OMST_OK);
    CHECK_CODE(omst_get_data("api/first", got, sizeof got), OMST_E_NOT_FOUND);
    CHECK_CODE(omst_get_size("api/first"), OMST_E_NOT_FOUND);
    CHECK_CODE(omst_delete("api/first"), OMST_E_NOT_FOUND);
    CHECK_CODE(omst_get_data("api/second", got, sizeof got), (long long)sizeof got);

    /* OmniStorage's functions, on an initialized library. */
    double matrix[1000];
    double matrix_back[1000];
    for (int i = 0; i < 1000; i++) {
        matrix[i] = i * 0.25;
    }
    CHECK_CODE(OmstPutData("MyInitialData", matrix, sizeof matrix), OMST_OK);
    CHECK_CODE(OmstGetData("MyInitialData", matrix_back, sizeof matrix_back), (long long)sizeof matrix_back);
    CHECK(memcmp(matrix, matrix_back, sizeof matrix) == 0, "OmstGetData read back the wrong content");

    /* Names at the limits, and UTF-8 beyond ASCII. */
    char longest[1025];
    memset(longest, 'n', 1024);
    longest[1024] = '\0';
    CHECK_CODE(omst_put_data(longest, "x", 1), OMST_OK);
    CHECK_CODE(omst_get_data(longest, got, sizeof got), 1);
    CHECK_CODE(omst_put_data("\xe3\x83\x87\xe3\x83\xbc\xe3\x82\xbf/\xe8\xa1\x8c\xe5\x88\x97", "yz", 2), OMST_OK);
    CHECK_CODE(omst_get_size("\xe3\x83\x87\xe3\x83\xbc\xe3\x82\xbf/\xe8\xa1\x8c\xe5\x88\x97"), 2);

    /* Waiting: a bound name returns its length at once; an unbound one times out as not found. */
    CHECK_CODE(omst_wait("api/second", -1), (long long)sizeof second);
    CHECK_CODE(omst_wait("api/never", 0), OMST_E_NOT_FOUND);
    CHECK_CODE(omst_wait("api/never", 100), OMST_E_NOT_FOUND);
    CHECK_CODE(omst_wait(NULL, 0), OMST_E_INVALID_NAME);

    /* Listing: whole names with their NULs, resumed after the last one; 0 at the end. */
    CHECK_CODE(omst_put_data("list/a", "1", 1), OMST_OK);
    CHECK_CODE(omst_put_data("list/b", "2", 1), OMST_OK);
    CHECK_CODE(omst_put_data("list/c", "3", 1), OMST_OK);
    char names[32];
    CHECK_CODE(omst_list("list/", NULL, names, sizeof names), 21);
    CHECK(memcmp(names, "list/a\0list/b\0list/c\0", 21) == 0, "omst_list wrote the wrong names");
    CHECK_CODE(omst_list("list/", "list/a", names, 15), 14);
    CHECK(memcmp(names, "list/b\0list/c\0", 14) == 0, "omst_list did not resume after the name given");
    CHECK_CODE(omst_list("list/", "list/c", names, sizeof names), 0);
    CHECK_CODE(omst_list("list/", NULL, names, 5), OMST_E_TOO_SMALL);
    CHECK_CODE(omst_list("bad\nprefix", NULL, names, sizeof names), OMST_E_INVALID_NAME);

    /* Conditional and expiring puts: the version, a conflict, the kept version, bad arguments. */
    CHECK_CODE(omst_put_with("cond/a", "1", 1, 0, 0, OMST_PUT_IF_NOT_EXISTS), 1);
    CHECK_CODE(omst_put_with("cond/a", "2", 1, 0, 0, OMST_PUT_IF_NOT_EXISTS), OMST_E_CONFLICT);
    CHECK_CODE(omst_put_with("cond/a", "3", 1, 1, 0, 0), 2);
    CHECK_CODE(omst_put_with("cond/a", "4", 1, 1, 0, 0), OMST_E_CONFLICT);
    CHECK_CODE(omst_put_with("cond/a", "3", 1, 0, 0, OMST_PUT_IF_CHANGED), 2);
    CHECK_CODE(omst_put_with("cond/a", "5", 1, 0, 600000, 0), 3);
    CHECK_CODE(omst_put_with("cond/a", "6", 1, 0, -1, 0), OMST_E_INVALID_ARGUMENT);
    CHECK_CODE(omst_put_with("cond/a", "6", 1, -1, 0, 0), OMST_E_INVALID_ARGUMENT);
    CHECK_CODE(omst_put_with("cond/a", "6", 1, 0, 0, 64), OMST_E_INVALID_ARGUMENT);
    CHECK_CODE(omst_put_with(NULL, "6", 1, 0, 0, 0), OMST_E_INVALID_NAME);
    CHECK_CODE(omst_get_data("cond/a", got, sizeof got), 1);
    CHECK(got[0] == '5', "omst_put_with bound the wrong object");

    free(data);
    free(back);
}

static void test_errors_when_ready(void)
{
    unsigned char buffer[64] = { 0 };
    CHECK_CODE(omst_init(NULL), OMST_E_ALREADY_INITIALIZED);

    /* Unknown names. */
    CHECK_CODE(omst_get_data("no/such/object", buffer, sizeof buffer), OMST_E_NOT_FOUND);
    CHECK(strstr(omst_last_error(), "no/such/object") != NULL, "the message names the object: %s", omst_last_error());
    CHECK_CODE(omst_get_size("no/such/object"), OMST_E_NOT_FOUND);
    CHECK_CODE(omst_delete("no/such/object"), OMST_E_NOT_FOUND);
    CHECK_CODE(OmstGetData("no/such/object", buffer, sizeof buffer), OMST_E_NOT_FOUND);

    /* NULL pointers. */
    CHECK_CODE(omst_put_data(NULL, buffer, sizeof buffer), OMST_E_INVALID_NAME);
    CHECK_CODE(omst_get_data(NULL, buffer, sizeof buffer), OMST_E_INVALID_NAME);
    CHECK_CODE(omst_get_size(NULL), OMST_E_INVALID_NAME);
    CHECK_CODE(omst_delete(NULL), OMST_E_INVALID_NAME);
    CHECK_CODE(OmstPutData(NULL, buffer, sizeof buffer), OMST_E_INVALID_NAME);
    CHECK_CODE(OmstGetData(NULL, buffer, sizeof buffer), OMST_E_INVALID_NAME);
    CHECK_CODE(omst_put_data("api/null", NULL, 10), OMST_E_INVALID_ARGUMENT);
    CHECK_CODE(omst_get_data("api/object", NULL, 10), OMST_E_INVALID_ARGUMENT);
    CHECK_CODE(OmstPutData("api/null", NULL, 10), OMST_E_INVALID_ARGUMENT);
    CHECK_CODE(omst_get_size("api/null"), OMST_E_NOT_FOUND);

    /* Invalid names: empty, control characters (C0, DEL, C1), too long, not UTF-8. */
    char too_long[1026];
    memset(too_long, 'n', 1025);
    too_long[1025] = '\0';
    const char *invalid[] = {
        "", "tab\there", "newline\n", "del\x7f", "c1\xc2\x85", too_long, "bad\xff\xfeutf8", "cut\xe3\x83",
        "surrogate\xed\xa0\x80",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        CHECK_CODE(omst_put_data(invalid[i], buffer, 1), OMST_E_INVALID_NAME);
        CHECK_CODE(omst_get_data(invalid[i], buffer, sizeof buffer), OMST_E_INVALID_NAME);
        CHECK_CODE(omst_get_size(invalid[i]), OMST_E_INVALID_NAME);
        CHECK_CODE(omst_delete(invalid[i]), OMST_E_INVALID_NAME);
        CHECK_CODE(OmstPutData(invalid[i], buffer, 1), OMST_E_INVALID_NAME);
        CHECK_CODE(OmstGetData(invalid[i], buffer, sizeof buffer), OMST_E_INVALID_NAME);
    }
}

static void test_after_finalize(void)
{
    unsigned char buffer[16] = { 0 };
    CHECK_CODE(omst_finalize(), OMST_OK);
    CHECK_CODE(omst_put_data("a", buffer, sizeof buffer), OMST_E_FINALIZED);
    CHECK_CODE(omst_get_data("api/second", buffer, sizeof buffer), OMST_E_FINALIZED);
    CHECK_CODE(omst_get_size("api/second"), OMST_E_FINALIZED);
    CHECK_CODE(omst_delete("api/second"), OMST_E_FINALIZED);
    /* OmniStorage's functions do not bring a finalized library back. */
    CHECK_CODE(OmstPutData("a", buffer, sizeof buffer), OMST_E_FINALIZED);
    CHECK_CODE(OmstGetData("api/second", buffer, sizeof buffer), OMST_E_FINALIZED);
    CHECK_CODE(omst_init(NULL), OMST_E_FINALIZED);
    CHECK_CODE(omst_finalize(), OMST_E_FINALIZED);
    CHECK(strstr(omst_last_error(), "finalize") != NULL, "the message says why: %s", omst_last_error());
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: api_test URI\n");
        return 2;
    }
    test_strerror();
    test_before_init();
    int rc = omst_init(argv[1]);
    CHECK(rc == OMST_OK, "omst_init(%s) returned %d (%s): %s", argv[1], rc, omst_strerror(rc), omst_last_error());
    if (rc != OMST_OK) {
        return check_summary("api_test");
    }
    test_round_trips();
    test_errors_when_ready();
    test_after_finalize();
    return check_summary("api_test");
}
