/*
 * omnistore.h: the C API of OmniStore (libomnistore).
 *
 * A master puts named data once; any number of workers get it, from the embedded store of their
 * own process or through a relay tree. This is OmniStorage's API (OmstPutData / OmstGetData) and
 * its omst_* counterparts, for C, C++ and Fortran (through ISO_C_BINDING).
 *
 *     #include <omnistore.h>
 *
 *     double initialdata[1000 * 1000];
 *     OmstPutData("MyInitialData", initialdata, sizeof initialdata);      (master)
 *     OmstGetData("MyInitialData", initialdata, sizeof initialdata);      (worker)
 *
 * Build with:  cc prog.c $(pkg-config --cflags --libs omnistore)
 *
 * Return values
 *   Every function returns 0 (or, for the ones that return a length, a length >= 0) on success and
 *   a negative OMST_E_* code on failure. Misuse (a NULL pointer, a bad name, a buffer too small, a
 *   call before omst_init or after omst_finalize) is reported with a code, never by a crash.
 *   omst_strerror(code) describes a code; omst_last_error() gives the message of the calling
 *   thread's last failure, with the details (which name, which address, which file).
 *
 * Names
 *   1..1024 bytes of UTF-8 without control characters, NUL-terminated. Anything else gives
 *   OMST_E_INVALID_NAME, including NULL.
 *
 * Thread safety
 *   Every function may be called from any thread, concurrently. Puts and Gets from several
 *   threads run in parallel. omst_init and omst_finalize are serialized with every other call:
 *   omst_finalize waits for the calls in progress on other threads to return, and calls that
 *   start after it fail with OMST_E_FINALIZED. omst_strerror returns constant strings;
 *   omst_last_error returns a buffer that belongs to the calling thread.
 *
 * The runtime
 *   libomnistore.so is OmniStore's C# library compiled ahead of time (NativeAOT): it carries its
 *   own runtime and needs no .NET installed, nothing but the C library (glibc) and libm/libdl/
 *   libpthread. Its runtime starts when the library is loaded and stays until the process exits.
 *   It installs handlers for fault signals (SIGSEGV, SIGFPE, ...) and passes on the faults it does
 *   not own to handlers installed before. Do not fork() after the first call and use the library
 *   in the child: the runtime's threads are not forked. OMST_E_RUNTIME is kept for programs
 *   written against earlier versions, which loaded an installed .NET; this library never returns it.
 */
#ifndef OMNISTORE_H
#define OMNISTORE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define OMST_API __attribute__((visibility("default")))
#else
#define OMST_API
#endif

/* The version of this header and of the library it belongs to. */
#define OMST_VERSION_MAJOR 0
#define OMST_VERSION_MINOR 1
#define OMST_VERSION_PATCH 0

/*
 * Return codes. OMST_E_UNKNOWN .. OMST_E_CONFLICT are OmniStore's error codes (the C# enum
 * OmniStore.OmniStoreError, whose values are stable), negated. The codes from -101 on are
 * conditions of the C library only.
 */
#define OMST_OK 0
#define OMST_E_UNKNOWN (-1)           /* an error that fits no other code */
#define OMST_E_NOT_FOUND (-2)         /* no object is bound to the name (or it was evicted from a cache) */
#define OMST_E_INVALID_NAME (-3)      /* NULL, empty, over 1024 bytes, not UTF-8, or a control character */
#define OMST_E_TOO_SMALL (-4)         /* the buffer is smaller than the object; nothing was copied */
#define OMST_E_STORE_FULL (-5)        /* a pinned store has no room left for new data */
#define OMST_E_CORRUPT (-6)           /* stored or received data does not match its content id */
#define OMST_E_UNAVAILABLE (-7)       /* the node cannot be reached, or the store cannot be opened */
#define OMST_E_UNAUTHORIZED (-8)      /* the node refused the shared secret */
#define OMST_E_PROTOCOL (-9)          /* the node sent something the protocol does not allow */
#define OMST_E_INVALID_ARGUMENT (-10) /* an argument is out of range (a NULL buffer with a size, a bad URI) */
#define OMST_E_CANCELLED (-11)        /* the operation was cancelled */
#define OMST_E_DISPOSED (-12)         /* the client or store was closed */
#define OMST_E_CONFLICT (-13)         /* a conditional put found the name moved on; nothing was bound */
#define OMST_E_NOT_INITIALIZED (-101) /* omst_init has not succeeded yet */
#define OMST_E_FINALIZED (-102)       /* omst_finalize was called: the library cannot be used again */
#define OMST_E_ALREADY_INITIALIZED (-103) /* omst_init was called again after it succeeded */
#define OMST_E_RUNTIME (-104)         /* the library's runtime could not be started (not returned since NativeAOT) */

/*
 * Opens the store the process will use. `uri` is one of:
 *   NULL                  what the environment says: the node at $OMNISTORE_RELAY (with the
 *                         comma-separated $OMNISTORE_FALLBACK addresses to move to when it goes
 *                         away) if set, else the embedded store in $OMNISTORE_DATA, else in
 *                         ~/.local/share/omnistore;
 *   "tcp://HOST:PORT"     a relay or the root of a tree; more comma-separated addresses after the
 *                         first are fallbacks ("tcp://relay-a:7070,tcp://root:7070");
 *   "file:///DIR"         the embedded store in DIR (created if missing; one process at a time).
 * Settings may follow the addresses, each after a ';' (a connection string):
 *   "tls+tcp://relay-a:7443;tlsCert=/etc/omnistore/w.pem;tlsKey=/etc/omnistore/w.key;tlsCa=/etc/omnistore/ca.pem"
 *   secretFile=PATH       the tree's shared secret (else the file $OMNISTORE_SECRET_FILE names);
 *   tlsCert=, tlsKey=, tlsCa=, tlsCrl=   the client's certificate, key, the tree CA and its
 *                         revocation list, for tls+tcp:// and tls+rudp:// addresses (docs/tls.md);
 *   window=N              requests in flight per transfer (1..128, default 16).
 * The same string works as $OMNISTORE_RELAY.
 * Returns OMST_OK, or OMST_E_UNAVAILABLE (no node
 * answers, or the store is in use by another process), OMST_E_UNAUTHORIZED,
 * OMST_E_INVALID_ARGUMENT (a URI that is none of the above, an unknown setting, a TLS file
 * missing or readable by others),
 * OMST_E_ALREADY_INITIALIZED, OMST_E_FINALIZED. After a failure, omst_init may be called again.
 */
OMST_API int omst_init(const char *uri);

/*
 * Stores `size` bytes at `data` under `name`, replacing what the name was bound to, and returns
 * once the object is durable at the root (or in the embedded store). The data is read in place;
 * the caller may reuse the buffer when the call returns. `data` may be NULL only when `size` is 0
 * (an empty object). Returns OMST_OK or a negative code (OMST_E_INVALID_NAME,
 * OMST_E_INVALID_ARGUMENT, OMST_E_STORE_FULL, OMST_E_UNAVAILABLE, ...).
 */
OMST_API int omst_put_data(const char *name, const void *data, size_t size);

/* Flags of omst_put_with. */
#define OMST_PUT_IF_NOT_EXISTS 1 /* bind only if no object is bound to the name now */
#define OMST_PUT_IF_CHANGED 2    /* leave a name bound to identical content as it is (no new version) */
#define OMST_PUT_BROADCAST 4     /* push the object down to every relay once bound */

/*
 * omst_put_data with conditions and a time to live (docs/api.md, "Publish"), checked at the root
 * with the binding. `if_version`: bind only if the name is bound at this version now (0: any;
 * negative is OMST_E_INVALID_ARGUMENT). `ttl_ms`: the root unbinds the name this many
 * milliseconds after it binds it (0: never; negative, or over ten years, is
 * OMST_E_INVALID_ARGUMENT). `flags`: OMST_PUT_* or'ed (others are OMST_E_INVALID_ARGUMENT).
 * Returns the binding's version (>= 1; with OMST_PUT_IF_CHANGED, the version kept), or a negative
 * code: OMST_E_CONFLICT when a condition does not hold (nothing was bound), OMST_E_PROTOCOL when
 * the node is older than this library and cannot check them (nothing was bound), or those of
 * omst_put_data.
 */
OMST_API long long omst_put_with(const char *name, const void *data, size_t size, long long if_version, long long ttl_ms, int flags);

/*
 * Copies the object bound to `name` into `buf`, which holds `size` bytes, and returns the
 * object's length (<= size). If the object is longer than `size`, copies nothing and returns
 * OMST_E_TOO_SMALL (omst_get_size tells the length). Every chunk is verified against its content
 * id. `buf` may be NULL only when `size` is 0. Other errors: OMST_E_NOT_FOUND,
 * OMST_E_INVALID_NAME, OMST_E_CORRUPT, OMST_E_UNAVAILABLE, ...; after one of these (not after
 * OMST_E_TOO_SMALL) the buffer may hold part of the object.
 */
OMST_API long long omst_get_data(const char *name, void *buf, size_t size);

/* The length in bytes of the object bound to `name`, or a negative code (OMST_E_NOT_FOUND, ...). */
OMST_API long long omst_get_size(const char *name);

/*
 * Unbinds `name`. Returns OMST_OK, or OMST_E_NOT_FOUND if nothing was bound to it. The space is
 * reclaimed later; Gets that already started still complete.
 */
OMST_API int omst_delete(const char *name);

/*
 * Waits until an object is bound to `name` and returns its length: at once if one is, else as soon
 * as a Put binds it (the node answers when the binding reaches it; nothing polls). `timeout_ms`:
 * how long to wait, in milliseconds; negative waits without end, 0 only looks. Returns the length,
 * or OMST_E_NOT_FOUND when the time runs out, OMST_E_FINALIZED when omst_finalize is called
 * meanwhile (it ends every wait), OMST_E_INVALID_NAME, OMST_E_PROTOCOL (a node older than this
 * library), OMST_E_UNAVAILABLE, ...
 */
OMST_API long long omst_wait(const char *name, long long timeout_ms);

/*
 * Lists the names bound under `prefix` (NULL or "" for every name) that come after `after` (NULL
 * or "" to start), in the order of their UTF-8 bytes: copies as many whole names as fit into `buf`,
 * each followed by a NUL, and returns the bytes written; 0 when no name is left. To go on, call
 * again with the last name written as `after`: any number of names pass through one buffer. A
 * buffer of 1025 bytes always holds the next name; a smaller one that does not gets
 * OMST_E_TOO_SMALL. Other errors: OMST_E_INVALID_NAME (a prefix no name could start with),
 * OMST_E_PROTOCOL (a node older than this library), OMST_E_UNAVAILABLE, ...
 */
OMST_API long long omst_list(const char *prefix, const char *after, char *buf, size_t size);

/*
 * Closes the store (the embedded store is checkpointed; connections are closed). Ends the
 * omst_wait calls in progress, then waits for calls in progress on other threads to return. Afterwards every function, omst_init included, returns
 * OMST_E_FINALIZED: the library is not restarted. Returns
 * OMST_OK, OMST_E_NOT_INITIALIZED, OMST_E_FINALIZED, or the error closing the store gave (the
 * library is finalized all the same).
 */
OMST_API int omst_finalize(void);

/*
 * A constant English description of `code` (OMST_OK or an OMST_E_* value); for any other value,
 * "unknown OmniStore error code". Never NULL; needs no omst_init.
 */
OMST_API const char *omst_strerror(int code);

/*
 * The message of the last call that failed on the calling thread (an empty string if none has),
 * with the details omst_strerror cannot give. Valid until the thread's next failing call.
 */
OMST_API const char *omst_last_error(void);

/*
 * OmniStorage's API, for programs written against it. The same as omst_put_data and
 * omst_get_data, except that the first call of either initializes the library as omst_init(NULL)
 * does (from the environment) when omst_init has not been called.
 */
OMST_API int OmstPutData(const char *name, const void *data, size_t size);
OMST_API long long OmstGetData(const char *name, void *data, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* OMNISTORE_H */
