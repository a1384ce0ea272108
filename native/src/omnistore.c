/*
 * libomnistore: the C API of omnistore.h over OmniStore's managed library.
 *
 * The first omst_init starts the .NET runtime through hostfxr (located with nethost) and looks up
 * the [UnmanagedCallersOnly] entry points of OmniStore.Native.dll (OmniStore.Native.NativeExports),
 * found in OMST_MANAGED_SUBDIR next to this library. Each C call is one managed call: the data is
 * passed as the caller's pointer, never copied here.
 *
 * The library's state (not initialized, ready, finalized) is guarded by a reader-writer lock:
 * calls hold it shared, so they run in parallel; omst_init and omst_finalize hold it exclusive, so
 * the managed client is never closed under a call in progress.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr, PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP */
#endif

#include "omnistore.h"

#include <coreclr_delegates.h>
#include <hostfxr.h>
#include <nethost.h>

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef OMST_MANAGED_SUBDIR
#define OMST_MANAGED_SUBDIR "omnistore"
#endif
#ifndef OMST_DOTNET_ROOT
#define OMST_DOTNET_ROOT ""
#endif

#define MANAGED_ASSEMBLY "OmniStore.Native.dll"
#define MANAGED_RUNTIMECONFIG "OmniStore.Native.runtimeconfig.json"
#define MANAGED_TYPE "OmniStore.Native.NativeExports, OmniStore.Native"

/* hostfxr_initialize_for_runtime_config's success codes: the runtime may already be running. */
#define HOSTFXR_SUCCESS_LAST 2

typedef int (*open_fn)(const char *uri, char *error, int error_size);
typedef int (*close_fn)(char *error, int error_size);
typedef int (*put_fn)(const char *name, const void *data, size_t size, char *error, int error_size);
typedef long long (*get_fn)(const char *name, void *buf, size_t size, char *error, int error_size);
typedef long long (*size_fn)(const char *name, char *error, int error_size);
typedef int (*delete_fn)(const char *name, char *error, int error_size);

struct managed_api {
    open_fn open;
    close_fn close;
    put_fn put;
    get_fn get;
    size_fn size;
    delete_fn remove;
};

enum library_state { STATE_NOT_INITIALIZED, STATE_READY, STATE_FINALIZED };

/* Writers first: a steady stream of Gets must not keep omst_finalize waiting forever. */
#ifdef PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP
static pthread_rwlock_t state_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
#else
static pthread_rwlock_t state_lock = PTHREAD_RWLOCK_INITIALIZER;
#endif

/* Guarded by state_lock: written exclusive, read shared. */
static enum library_state state = STATE_NOT_INITIALIZED;
static int runtime_started;
static struct managed_api api;

/* Sized for hostfxr's messages, which list the paths it searched. */
#define LAST_ERROR_SIZE 2048
static __thread char last_error[LAST_ERROR_SIZE];

static void set_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void set_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
}

static int fail(int code, const char *message)
{
    set_error("%s", message);
    return code;
}

/* hostfxr reports its errors through this (per thread); they become omst_last_error's message. */
static void HOSTFXR_CALLTYPE collect_hostfxr_error(const char_t *message)
{
    size_t used = strnlen(last_error, sizeof last_error);
    if (used + 2 < sizeof last_error) {
        snprintf(last_error + used, sizeof last_error - used, "%s%s", used ? " " : "", message);
    }
}

/* The directory this library was loaded from, resolved: the managed assemblies live under it. */
static int library_directory(char *directory, size_t size)
{
    Dl_info info;
    char resolved[PATH_MAX];
    if (!dladdr((void *)&omst_init, &info) || !info.dli_fname || !realpath(info.dli_fname, resolved)) {
        return 0;
    }
    char *slash = strrchr(resolved, '/');
    if (!slash) {
        return 0;
    }
    *slash = '\0';
    return snprintf(directory, size, "%s", resolved) < (int)size;
}

static int find_hostfxr(const char *assembly, char *hostfxr, size_t size, const char **dotnet_root)
{
    struct get_hostfxr_parameters parameters = { sizeof parameters, assembly, NULL };
    size_t length = size;
    *dotnet_root = NULL;
    if (get_hostfxr_path(hostfxr, &length, &parameters) == 0) {
        return 1;
    }
    /* Not where the dotnet host would look: try the installation the library was built with. */
    if (OMST_DOTNET_ROOT[0] != '\0') {
        parameters.dotnet_root = OMST_DOTNET_ROOT;
        length = size;
        if (get_hostfxr_path(hostfxr, &length, &parameters) == 0) {
            *dotnet_root = OMST_DOTNET_ROOT;
            return 1;
        }
    }
    return 0;
}

/* Starts the runtime and fills `api`. Called with state_lock held exclusive. */
static int start_runtime(void)
{
    char directory[PATH_MAX], assembly[PATH_MAX], config[PATH_MAX], hostfxr_path[PATH_MAX];
    if (!library_directory(directory, sizeof directory)) {
        return fail(OMST_E_RUNTIME, "omst_init: cannot tell where libomnistore is installed (dladdr)");
    }
    if (snprintf(assembly, sizeof assembly, "%s/%s/%s", directory, OMST_MANAGED_SUBDIR, MANAGED_ASSEMBLY) >= (int)sizeof assembly ||
        snprintf(config, sizeof config, "%s/%s/%s", directory, OMST_MANAGED_SUBDIR, MANAGED_RUNTIMECONFIG) >= (int)sizeof config) {
        return fail(OMST_E_RUNTIME, "omst_init: the library's path is too long");
    }
    if (access(assembly, R_OK) != 0 || access(config, R_OK) != 0) {
        set_error("omst_init: the managed assemblies are missing: %s and %s must exist (they are installed "
                  "with libomnistore.so)", assembly, config);
        return OMST_E_RUNTIME;
    }

    const char *dotnet_root;
    if (!find_hostfxr(assembly, hostfxr_path, sizeof hostfxr_path, &dotnet_root)) {
        set_error("omst_init: the .NET runtime was not found (no hostfxr in $DOTNET_ROOT, "
                  "/etc/dotnet/install_location, the default location%s%s); install .NET 10 or set DOTNET_ROOT",
                  OMST_DOTNET_ROOT[0] ? " or " : "", OMST_DOTNET_ROOT);
        return OMST_E_RUNTIME;
    }

    /* Kept loaded for the life of the process: the runtime cannot be unloaded. */
    void *hostfxr = dlopen(hostfxr_path, RTLD_NOW | RTLD_LOCAL);
    if (!hostfxr) {
        set_error("omst_init: cannot load %s: %s", hostfxr_path, dlerror());
        return OMST_E_RUNTIME;
    }
    hostfxr_initialize_for_runtime_config_fn initialize =
        (hostfxr_initialize_for_runtime_config_fn)dlsym(hostfxr, "hostfxr_initialize_for_runtime_config");
    hostfxr_get_runtime_delegate_fn get_delegate =
        (hostfxr_get_runtime_delegate_fn)dlsym(hostfxr, "hostfxr_get_runtime_delegate");
    hostfxr_close_fn close_context = (hostfxr_close_fn)dlsym(hostfxr, "hostfxr_close");
    hostfxr_set_error_writer_fn set_error_writer = (hostfxr_set_error_writer_fn)dlsym(hostfxr, "hostfxr_set_error_writer");
    if (!initialize || !get_delegate || !close_context || !set_error_writer) {
        set_error("omst_init: %s lacks the hosting functions (a .NET older than 3.0?)", hostfxr_path);
        return OMST_E_RUNTIME;
    }

    last_error[0] = '\0';
    set_error_writer(collect_hostfxr_error);
    struct hostfxr_initialize_parameters parameters = { sizeof parameters, NULL, dotnet_root };
    hostfxr_handle context = NULL;
    int rc = initialize(config, dotnet_root ? &parameters : NULL, &context);
    load_assembly_and_get_function_pointer_fn load = NULL;
    if (rc >= 0 && rc <= HOSTFXR_SUCCESS_LAST && context) {
        rc = get_delegate(context, hdt_load_assembly_and_get_function_pointer, (void **)&load);
    }
    if (context) {
        close_context(context);
    }
    set_error_writer(NULL);
    if (rc < 0 || rc > HOSTFXR_SUCCESS_LAST || !load) {
        char detail[LAST_ERROR_SIZE];
        snprintf(detail, sizeof detail, "%s", last_error);
        set_error("omst_init: the .NET runtime (%s) did not start for %s (hostfxr error 0x%x)%s%s", hostfxr_path,
                  config, (unsigned)rc, detail[0] ? ": " : "", detail);
        return OMST_E_RUNTIME;
    }

    struct {
        const char *method;
        void **target;
    } entries[] = {
        { "Open", (void **)&api.open },     { "Close", (void **)&api.close },
        { "Put", (void **)&api.put },       { "Get", (void **)&api.get },
        { "GetSize", (void **)&api.size },  { "Delete", (void **)&api.remove },
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        rc = load(assembly, MANAGED_TYPE, entries[i].method, UNMANAGEDCALLERSONLY_METHOD, NULL, entries[i].target);
        if (rc != 0 || !*entries[i].target) {
            set_error("omst_init: %s has no entry point %s.%s (error 0x%x): the assemblies in %s/%s do not match "
                      "this libomnistore", assembly, MANAGED_TYPE, entries[i].method, (unsigned)rc, directory,
                      OMST_MANAGED_SUBDIR);
            return OMST_E_RUNTIME;
        }
    }
    runtime_started = 1;
    return OMST_OK;
}

/* Called with state_lock held exclusive. */
static int initialize_locked(const char *uri)
{
    if (state == STATE_FINALIZED) {
        return fail(OMST_E_FINALIZED, "omst_init: omst_finalize was called; the library cannot be used again in this process");
    }
    if (state == STATE_READY) {
        return fail(OMST_E_ALREADY_INITIALIZED, "omst_init: the library is already initialized");
    }
    if (!runtime_started) {
        int rc = start_runtime();
        if (rc != OMST_OK) {
            return rc;
        }
    }
    int rc = api.open(uri, last_error, sizeof last_error);
    if (rc == OMST_OK) {
        state = STATE_READY;
    }
    return rc;
}

/* Takes state_lock shared if the library is ready; otherwise returns the code that says why not. */
static int enter(const char *function)
{
    pthread_rwlock_rdlock(&state_lock);
    if (state == STATE_READY) {
        return OMST_OK;
    }
    int finalized = state == STATE_FINALIZED;
    pthread_rwlock_unlock(&state_lock);
    if (finalized) {
        set_error("%s: omst_finalize was called; the library cannot be used again in this process", function);
        return OMST_E_FINALIZED;
    }
    set_error("%s: the library is not initialized (call omst_init first)", function);
    return OMST_E_NOT_INITIALIZED;
}

/* enter(), initializing from the environment first if nobody has: OmniStorage's functions did. */
static int enter_or_initialize(const char *function)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = enter(function);
        if (rc != OMST_E_NOT_INITIALIZED || attempt > 0) {
            return rc;
        }
        pthread_rwlock_wrlock(&state_lock);
        rc = state == STATE_NOT_INITIALIZED ? initialize_locked(NULL) : OMST_OK;
        pthread_rwlock_unlock(&state_lock);
        if (rc != OMST_OK) {
            return rc;
        }
    }
    return OMST_E_NOT_INITIALIZED;
}

static void leave(void)
{
    pthread_rwlock_unlock(&state_lock);
}

static int check_buffer(const char *function, const void *buffer, size_t size)
{
    if (!buffer && size != 0) {
        set_error("%s: the buffer is NULL but its size is %zu", function, size);
        return OMST_E_INVALID_ARGUMENT;
    }
    return OMST_OK;
}

static int check_name(const char *function, const char *name)
{
    if (!name) {
        set_error("%s: the name is NULL", function);
        return OMST_E_INVALID_NAME;
    }
    return OMST_OK;
}

OMST_API int omst_init(const char *uri)
{
    pthread_rwlock_wrlock(&state_lock);
    int rc = initialize_locked(uri);
    pthread_rwlock_unlock(&state_lock);
    return rc;
}

OMST_API int omst_finalize(void)
{
    pthread_rwlock_wrlock(&state_lock);
    int rc;
    if (state == STATE_READY) {
        rc = api.close(last_error, sizeof last_error);
        state = STATE_FINALIZED;
    } else if (state == STATE_FINALIZED) {
        rc = fail(OMST_E_FINALIZED, "omst_finalize: the library is already finalized");
    } else {
        rc = fail(OMST_E_NOT_INITIALIZED, "omst_finalize: the library is not initialized");
    }
    pthread_rwlock_unlock(&state_lock);
    return rc;
}

static int put_data(const char *function, const char *name, const void *data, size_t size, int initialize)
{
    int rc = check_name(function, name);
    if (rc == OMST_OK) {
        rc = check_buffer(function, data, size);
    }
    if (rc == OMST_OK) {
        rc = initialize ? enter_or_initialize(function) : enter(function);
    }
    if (rc != OMST_OK) {
        return rc;
    }
    rc = api.put(name, data, size, last_error, sizeof last_error);
    leave();
    return rc;
}

static long long get_data(const char *function, const char *name, void *buf, size_t size, int initialize)
{
    int rc = check_name(function, name);
    if (rc == OMST_OK) {
        rc = check_buffer(function, buf, size);
    }
    if (rc == OMST_OK) {
        rc = initialize ? enter_or_initialize(function) : enter(function);
    }
    if (rc != OMST_OK) {
        return rc;
    }
    long long result = api.get(name, buf, size, last_error, sizeof last_error);
    leave();
    return result;
}

OMST_API int omst_put_data(const char *name, const void *data, size_t size)
{
    return put_data("omst_put_data", name, data, size, 0);
}

OMST_API long long omst_get_data(const char *name, void *buf, size_t size)
{
    return get_data("omst_get_data", name, buf, size, 0);
}

OMST_API int OmstPutData(const char *name, const void *data, size_t size)
{
    return put_data("OmstPutData", name, data, size, 1);
}

OMST_API long long OmstGetData(const char *name, void *data, size_t size)
{
    return get_data("OmstGetData", name, data, size, 1);
}

OMST_API long long omst_get_size(const char *name)
{
    int rc = check_name("omst_get_size", name);
    if (rc == OMST_OK) {
        rc = enter("omst_get_size");
    }
    if (rc != OMST_OK) {
        return rc;
    }
    long long result = api.size(name, last_error, sizeof last_error);
    leave();
    return result;
}

OMST_API int omst_delete(const char *name)
{
    int rc = check_name("omst_delete", name);
    if (rc == OMST_OK) {
        rc = enter("omst_delete");
    }
    if (rc != OMST_OK) {
        return rc;
    }
    rc = api.remove(name, last_error, sizeof last_error);
    leave();
    return rc;
}

OMST_API const char *omst_strerror(int code)
{
    switch (code) {
    case OMST_OK: return "success";
    case OMST_E_UNKNOWN: return "unknown error";
    case OMST_E_NOT_FOUND: return "no object is bound to the name";
    case OMST_E_INVALID_NAME: return "invalid object name (1..1024 bytes of UTF-8, no control characters)";
    case OMST_E_TOO_SMALL: return "the buffer is smaller than the object";
    case OMST_E_STORE_FULL: return "the store is full";
    case OMST_E_CORRUPT: return "data does not match its content id";
    case OMST_E_UNAVAILABLE: return "the node or the store is unavailable";
    case OMST_E_UNAUTHORIZED: return "the node refused the shared secret";
    case OMST_E_PROTOCOL: return "protocol error";
    case OMST_E_INVALID_ARGUMENT: return "invalid argument";
    case OMST_E_CANCELLED: return "the operation was cancelled";
    case OMST_E_DISPOSED: return "the client or store was closed";
    case OMST_E_NOT_INITIALIZED: return "the library is not initialized (omst_init)";
    case OMST_E_FINALIZED: return "the library was finalized (omst_finalize)";
    case OMST_E_ALREADY_INITIALIZED: return "the library is already initialized";
    case OMST_E_RUNTIME: return "the .NET runtime or the library's assemblies cannot be found or started";
    default: return "unknown OmniStore error code";
    }
}

OMST_API const char *omst_last_error(void)
{
    return last_error;
}
