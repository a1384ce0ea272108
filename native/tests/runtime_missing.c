/*
 * A libomnistore.so whose runtime cannot start (its managed assemblies are missing, or they ask
 * for a .NET that is not installed): omst_init must fail with OMST_E_RUNTIME, say why in
 * omst_last_error, fail the same way when tried again, and leave the library uninitialized.
 * The library is loaded with dlopen, so that this program uses exactly the copy it is given.
 *
 * Usage: runtime_missing /path/to/copy/of/libomnistore.so EXPECTED_IN_MESSAGE
 */
#include "check.h"

#include <dlfcn.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: runtime_missing LIBRARY EXPECTED_IN_MESSAGE\n");
        return 2;
    }
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    int (*init)(const char *) = (int (*)(const char *))dlsym(library, "omst_init");
    int (*put)(const char *, const void *, size_t) = (int (*)(const char *, const void *, size_t))dlsym(library, "omst_put_data");
    const char *(*last_error)(void) = (const char *(*)(void))dlsym(library, "omst_last_error");
    const char *(*describe)(int) = (const char *(*)(int))dlsym(library, "omst_strerror");
    CHECK(init && put && last_error && describe, "the library lacks omst_init, omst_put_data, omst_last_error or omst_strerror");
    CHECK(dlsym(library, "get_hostfxr_path") == NULL, "nethost's get_hostfxr_path is exported");
    if (!init || !put || !last_error || !describe) {
        return check_summary("runtime_missing");
    }

    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = init(NULL);
        CHECK(rc == OMST_E_RUNTIME, "omst_init returned %d (%s), expected OMST_E_RUNTIME", rc, describe(rc));
        CHECK(strstr(last_error(), argv[2]) != NULL, "the message does not say '%s': %s", argv[2], last_error());
        printf("omst_init: %s\n", last_error());
    }
    int rc = put("a", "b", 1);
    CHECK(rc == OMST_E_NOT_INITIALIZED, "omst_put_data returned %d (%s), expected OMST_E_NOT_INITIALIZED", rc, describe(rc));
    return check_summary("runtime_missing");
}
