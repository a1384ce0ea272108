using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OmniStore.Native;

/// <summary>
/// The C API of <c>omnistore.h</c>: every function of the header, exported under its own name
/// from <c>libomnistore.so</c>, which is this assembly compiled ahead of time (NativeAOT) into a
/// shared library that needs no .NET installed. Each call is one call into
/// <see cref="OmniStoreClient"/>; the caller's memory is read and written in place.
/// </summary>
/// <remarks>
/// Nothing may throw out of an <see cref="UnmanagedCallersOnlyAttribute"/> method: the runtime
/// would end the process. Every entry point therefore catches everything and returns a code, with
/// the message kept for <c>omst_last_error</c> on the calling thread.
/// The library's state (not initialized, ready, finalized) is guarded by a reader-writer lock:
/// calls hold it shared, so they run in parallel; <c>omst_init</c> and <c>omst_finalize</c> hold
/// it exclusive, so the client is never closed under a call in progress, and a waiting
/// <c>omst_finalize</c> goes before new calls (a steady stream of Gets cannot keep it waiting).
/// </remarks>
internal static unsafe class NativeExports
{
    private static readonly ReaderWriterLockSlim StateLock = new(LockRecursionPolicy.NoRecursion);

    // Cancelled by omst_finalize before it waits for the calls in progress: a call that may wait
    // without end (omst_wait) gives up, so finalizing never waits for a Put that may not come.
    private static readonly CancellationTokenSource Finalizing = new();

    // Guarded by StateLock: written exclusive, read shared.
    private static LibraryState _state;
    private static OmniStoreClient? _client;

    private enum LibraryState
    {
        NotInitialized,
        Ready,
        Finalized,
    }

    /// <summary><c>int omst_init(const char *uri)</c>: opens the store the process uses (see the header).</summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_init")]
    public static int Init(byte* uri)
    {
        try
        {
            StateLock.EnterWriteLock();
            try
            {
                return InitializeLocked(uri, "omst_init");
            }
            finally
            {
                StateLock.ExitWriteLock();
            }
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary><c>int omst_finalize(void)</c>: closes the store; the library cannot be used again.</summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_finalize")]
    public static int Finalize()
    {
        try
        {
            StateLock.EnterReadLock();
            bool ready = _state == LibraryState.Ready;
            StateLock.ExitReadLock();
            if (ready)
            {
                Finalizing.Cancel();
            }

            StateLock.EnterWriteLock();
            try
            {
                switch (_state)
                {
                    case LibraryState.Ready:
                        var client = _client!;
                        _client = null;
                        _state = LibraryState.Finalized;
                        client.Dispose();
                        return NativeStatus.Ok;
                    case LibraryState.Finalized:
                        return LastError.Fail(NativeStatus.Finalized, "omst_finalize: the library is already finalized");
                    default:
                        return LastError.Fail(NativeStatus.NotInitialized, "omst_finalize: the library is not initialized");
                }
            }
            finally
            {
                StateLock.ExitWriteLock();
            }
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary><c>int omst_put_data(const char *name, const void *data, size_t size)</c>.</summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_put_data")]
    public static int PutData(byte* name, byte* data, nuint size) => Put("omst_put_data", name, data, size, initialize: false);

    /// <summary>
    /// <c>long long omst_put_with(const char *name, const void *data, size_t size, long long if_version, long long ttl_ms, int flags)</c>:
    /// a Put with <see cref="PutOptions"/>; the binding's version, or a negative code.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_put_with")]
    public static long PutWith(byte* name, byte* data, nuint size, long ifVersion, long ttlMilliseconds, int flags)
    {
        const string Function = "omst_put_with";
        try
        {
            var options = PutOptionsFrom(Function, ifVersion, ttlMilliseconds, flags);
            CheckName(Function, name);
            CheckBuffer(Function, data, size);
            if (size > int.MaxValue)
            {
                throw new OmniStoreException(OmniStoreError.InvalidArgument, $"{Function}: {size} bytes; it puts objects of up to {int.MaxValue} bytes (omst_put_data takes any size)");
            }

            var client = Enter(Function, initialize: false);
            try
            {
                // The caller's memory, read in place, as omst_put_data reads it.
                return client.Put(NativeText.DecodeName(name), new ReadOnlySpan<byte>(data, (int)size), options).Version;
            }
            finally
            {
                StateLock.ExitReadLock();
            }
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>The options omst_put_with's arguments ask for; each checked, naming the bad one.</summary>
    private static PutOptions PutOptionsFrom(string function, long ifVersion, long ttlMilliseconds, int flags)
    {
        const int Known = 1 | 2 | 4; // OMST_PUT_IF_NOT_EXISTS, OMST_PUT_IF_CHANGED, OMST_PUT_BROADCAST
        if ((flags & ~Known) != 0 || ifVersion < 0 || ttlMilliseconds < 0 || ttlMilliseconds > (long)PutOptions.MaxTimeToLive.TotalMilliseconds)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"{function}: flags {flags}, if_version {ifVersion}, ttl_ms {ttlMilliseconds}: flags are OMST_PUT_* or'ed, if_version and ttl_ms 0 (none) or more, ttl_ms at most ten years");
        }

        return new PutOptions
        {
            IfVersion = ifVersion == 0 ? null : ifVersion,
            IfNotExists = (flags & 1) != 0,
            IfChanged = (flags & 2) != 0,
            Broadcast = (flags & 4) != 0,
            TimeToLive = ttlMilliseconds == 0 ? null : TimeSpan.FromMilliseconds(ttlMilliseconds),
        };
    }

    /// <summary><c>long long omst_get_data(const char *name, void *buf, size_t size)</c>.</summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_get_data")]
    public static long GetData(byte* name, byte* buffer, nuint size) => Get("omst_get_data", name, buffer, size, initialize: false);

    /// <summary>OmniStorage's <c>OmstPutData</c>: <c>omst_put_data</c>, initializing from the environment first if nobody has.</summary>
    [UnmanagedCallersOnly(EntryPoint = "OmstPutData")]
    public static int OmstPutData(byte* name, byte* data, nuint size) => Put("OmstPutData", name, data, size, initialize: true);

    /// <summary>OmniStorage's <c>OmstGetData</c>: <c>omst_get_data</c>, initializing from the environment first if nobody has.</summary>
    [UnmanagedCallersOnly(EntryPoint = "OmstGetData")]
    public static long OmstGetData(byte* name, byte* buffer, nuint size) => Get("OmstGetData", name, buffer, size, initialize: true);

    /// <summary><c>long long omst_get_size(const char *name)</c>.</summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_get_size")]
    public static long GetSize(byte* name)
    {
        try
        {
            CheckName("omst_get_size", name);
            var client = Enter("omst_get_size", initialize: false);
            try
            {
                string objectName = NativeText.DecodeName(name);
                var info = client.StatAsync(objectName).AsTask().GetAwaiter().GetResult()
                    ?? throw NotFound(objectName);
                return info.Length;
            }
            finally
            {
                StateLock.ExitReadLock();
            }
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary><c>int omst_delete(const char *name)</c>.</summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_delete")]
    public static int Delete(byte* name)
    {
        try
        {
            CheckName("omst_delete", name);
            var client = Enter("omst_delete", initialize: false);
            try
            {
                string objectName = NativeText.DecodeName(name);
                if (!client.DeleteAsync(objectName).AsTask().GetAwaiter().GetResult())
                {
                    throw NotFound(objectName);
                }

                return NativeStatus.Ok;
            }
            finally
            {
                StateLock.ExitReadLock();
            }
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>
    /// <c>long long omst_wait(const char *name, long long timeout_ms)</c>: the object's length once a
    /// Put binds the name (at once if one has); <c>timeout_ms</c> negative waits without end, 0 only
    /// looks. <c>OMST_E_NOT_FOUND</c> when the time runs out; <c>OMST_E_FINALIZED</c> when
    /// <c>omst_finalize</c> is called meanwhile (it ends every wait, rather than wait for them).
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_wait")]
    public static long Wait(byte* name, long timeoutMilliseconds)
    {
        try
        {
            CheckName("omst_wait", name);
            var client = Enter("omst_wait", initialize: false);
            try
            {
                string objectName = NativeText.DecodeName(name);
                if (timeoutMilliseconds == 0)
                {
                    return (client.StatAsync(objectName).AsTask().GetAwaiter().GetResult() ?? throw NotFound(objectName)).Length;
                }

                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Finalizing.Token);
                if (timeoutMilliseconds > 0)
                {
                    deadline.CancelAfter(TimeSpan.FromMilliseconds(Math.Min(timeoutMilliseconds, int.MaxValue)));
                }

                try
                {
                    return client.WaitForAsync(objectName, deadline.Token).AsTask().GetAwaiter().GetResult().Length;
                }
                catch (OperationCanceledException) when (Finalizing.IsCancellationRequested)
                {
                    throw new LibraryStateException(NativeStatus.Finalized, "omst_wait: omst_finalize was called while it waited");
                }
                catch (OperationCanceledException)
                {
                    throw new OmniStoreException(OmniStoreError.NotFound, $"omst_wait: '{objectName}' was not bound within {timeoutMilliseconds} ms.");
                }
            }
            finally
            {
                StateLock.ExitReadLock();
            }
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>
    /// <c>long long omst_list(const char *prefix, const char *after, char *buf, size_t size)</c>: the
    /// names bound under <c>prefix</c> that come after <c>after</c> (NULL or "" for the first), in
    /// the order of their UTF-8 bytes, copied into <c>buf</c> each followed by a NUL, as many whole
    /// ones as fit; returns the bytes written, 0 when no name is left. The next call passes the last
    /// name written as <c>after</c>: any number of names, in the caller's one buffer.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_list")]
    public static long List(byte* prefix, byte* after, byte* buffer, nuint size)
    {
        try
        {
            CheckBuffer("omst_list", buffer, size);
            var client = Enter("omst_list", initialize: false);
            try
            {
                string under = DecodePrefix(prefix, "prefix"), cursor = DecodePrefix(after, "after");
                long written = 0;
                while (true)
                {
                    var page = client.Service.ListPageAsync(new Protocol.ListRequest(under, cursor, Protocol.ListMessages.MaxPage, Cached: false), CancellationToken.None).GetAwaiter().GetResult();
                    foreach (var entry in page.Entries)
                    {
                        int length = System.Text.Encoding.UTF8.GetByteCount(entry.Name);
                        if (written + length + 1 > (long)size)
                        {
                            return written > 0 ? written : throw new OmniStoreException(OmniStoreError.TooSmall, $"omst_list: the next name has {length} bytes and a NUL; the buffer holds {size} (1025 always suffice).");
                        }

                        System.Text.Encoding.UTF8.GetBytes(entry.Name, new Span<byte>(buffer + written, length));
                        buffer[written + length] = 0;
                        written += length + 1;
                    }

                    if (!page.More)
                    {
                        return written;
                    }

                    cursor = page.Cursor;
                }
            }
            finally
            {
                StateLock.ExitReadLock();
            }
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>A prefix or cursor from C: NULL or empty for none, else what a name may start with.</summary>
    private static string DecodePrefix(byte* text, string what)
    {
        if (text is null || *text == 0)
        {
            return string.Empty;
        }

        var bytes = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text);
        if (bytes.Length > ObjectName.MaxByteLength)
        {
            throw new OmniStoreException(OmniStoreError.InvalidName, $"omst_list: the {what} has {bytes.Length} bytes; at most {ObjectName.MaxByteLength}.");
        }

        string decoded;
        try
        {
            decoded = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new OmniStoreException(OmniStoreError.InvalidName, $"omst_list: the {what} is not valid UTF-8.");
        }

        Protocol.ListMessages.ValidatePrefix(decoded);
        return decoded;
    }

    /// <summary><c>const char *omst_strerror(int code)</c>: a constant description, never NULL.</summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_strerror")]
    public static byte* StrError(int code) => Constant(code switch
    {
        NativeStatus.Ok => "success\0"u8,
        -1 => "unknown error\0"u8,
        -2 => "no object is bound to the name\0"u8,
        -3 => "invalid object name (1..1024 bytes of UTF-8, no control characters)\0"u8,
        -4 => "the buffer is smaller than the object\0"u8,
        -5 => "the store is full\0"u8,
        -6 => "data does not match its content id\0"u8,
        -7 => "the node or the store is unavailable\0"u8,
        -8 => "the node refused the shared secret\0"u8,
        -9 => "protocol error\0"u8,
        -10 => "invalid argument\0"u8,
        -11 => "the operation was cancelled\0"u8,
        -12 => "the client or store was closed\0"u8,
        -13 => "the name moved on: a condition of the put does not hold\0"u8,
        NativeStatus.NotInitialized => "the library is not initialized (omst_init)\0"u8,
        NativeStatus.Finalized => "the library was finalized (omst_finalize)\0"u8,
        NativeStatus.AlreadyInitialized => "the library is already initialized\0"u8,
        NativeStatus.Runtime => "the library's runtime could not be started\0"u8,
        _ => "unknown OmniStore error code\0"u8,
    });

    /// <summary><c>const char *omst_last_error(void)</c>: the calling thread's last failure ("" if none).</summary>
    [UnmanagedCallersOnly(EntryPoint = "omst_last_error")]
    public static byte* GetLastError() => LastError.Buffer;

    private static int Put(string function, byte* name, byte* data, nuint size, bool initialize)
    {
        try
        {
            CheckName(function, name);
            CheckBuffer(function, data, size);
            var client = Enter(function, initialize);
            try
            {
                string objectName = NativeText.DecodeName(name);
                if (size <= int.MaxValue)
                {
                    // The caller's memory, read in place: no copy before the chunks are hashed and stored.
                    client.Put(objectName, new ReadOnlySpan<byte>(data, (int)size));
                }
                else
                {
                    // A span cannot be this long; the stream overload reads it one chunk at a time.
                    using var source = new UnmanagedMemoryStream(data, (long)size);
                    client.PutAsync(objectName, source).AsTask().GetAwaiter().GetResult();
                }

                return NativeStatus.Ok;
            }
            finally
            {
                StateLock.ExitReadLock();
            }
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static long Get(string function, byte* name, byte* buffer, nuint size, bool initialize)
    {
        try
        {
            CheckName(function, name);
            CheckBuffer(function, buffer, size);
            var client = Enter(function, initialize);
            try
            {
                string objectName = NativeText.DecodeName(name);
                int capacity = (int)Math.Min(size, int.MaxValue);
                try
                {
                    // Chunks are copied (or received) straight into the caller's buffer.
                    return client.Get(objectName, new Span<byte>(buffer, capacity));
                }
                catch (OmniStoreException e) when (e.Error == OmniStoreError.TooSmall && size > int.MaxValue)
                {
                    return GetLarge(client, objectName, buffer, size);
                }
            }
            finally
            {
                StateLock.ExitReadLock();
            }
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>
    /// Takes the state lock shared and returns the client if the library is ready; otherwise
    /// (initializing from the environment first when <paramref name="initialize"/>, as OmniStorage's
    /// functions did) throws the condition that says why not. The caller releases the lock.
    /// </summary>
    private static OmniStoreClient Enter(string function, bool initialize)
    {
        for (int attempt = 0; ; attempt++)
        {
            StateLock.EnterReadLock();
            if (_state == LibraryState.Ready)
            {
                return _client!;
            }

            var state = _state;
            StateLock.ExitReadLock();
            if (state == LibraryState.Finalized)
            {
                throw new LibraryStateException(NativeStatus.Finalized, $"{function}: omst_finalize was called; the library cannot be used again in this process");
            }

            if (!initialize || attempt > 0)
            {
                throw new LibraryStateException(NativeStatus.NotInitialized, $"{function}: the library is not initialized (call omst_init first)");
            }

            StateLock.EnterWriteLock();
            try
            {
                if (_state == LibraryState.NotInitialized)
                {
                    int status = InitializeLocked(null, function);
                    if (status != NativeStatus.Ok)
                    {
                        throw new LibraryStateException(status, null);
                    }
                }
            }
            finally
            {
                StateLock.ExitWriteLock();
            }
        }
    }

    /// <summary>Called with the state lock held exclusive.</summary>
    private static int InitializeLocked(byte* uri, string function)
    {
        if (_state == LibraryState.Finalized)
        {
            return LastError.Fail(NativeStatus.Finalized, $"{function}: omst_finalize was called; the library cannot be used again in this process");
        }

        if (_state == LibraryState.Ready)
        {
            return LastError.Fail(NativeStatus.AlreadyInitialized, $"{function}: the library is already initialized");
        }

        try
        {
            _client = OpenClient(NativeText.Decode(uri));
            _state = LibraryState.Ready;
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static OmniStoreClient OpenClient(string? uri)
    {
        if (uri is null)
        {
            return OmniStoreClient.FromEnvironmentAsync().GetAwaiter().GetResult(); // omst_init reports an unreachable node itself
        }

        uri = uri.Trim();
        if (uri.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            // Only local paths: a host (file://server/dir) would name a network share.
            if (!Uri.TryCreate(uri, UriKind.Absolute, out var file) || !file.IsFile || file.IsUnc
                || file.Host is not ("" or "localhost") || !Path.IsPathFullyQualified(file.LocalPath))
            {
                throw new OmniStoreException(OmniStoreError.InvalidArgument, $"omst_init: '{Internal.UntrustedText.Escape(uri, 96)}' is not a file URI (file:///path/to/store).");
            }

            return OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = file.LocalPath });
        }

        // The library parses the list (docs/architecture.md, "Addresses"), so a bad address fails
        // here with the message and the InvalidArgument code it has everywhere, before any connection.
        // The string's own settings (";secretFile=...;tlsCert=...") come before $OMNISTORE_SECRET_FILE.
        var (addresses, settings) = ConnectionString.Split(uri, "omst_init");
        var options = ConnectionString.Apply(new OmniStoreOptions(), settings, "omst_init");
        if (options.SharedSecret is null)
        {
            options = options with { SharedSecret = Internal.SecretFile.FromEnvironment() };
        }

        return OmniStoreClient.ConnectAsync(addresses, options).GetAwaiter().GetResult();
    }

    /// <summary>
    /// A Get into a buffer longer than a span can be: checks the length first, so that a buffer
    /// that is too small is left untouched, then writes the object one chunk at a time.
    /// </summary>
    private static long GetLarge(OmniStoreClient client, string name, byte* buffer, nuint size)
    {
        var info = client.StatAsync(name).AsTask().GetAwaiter().GetResult() ?? throw NotFound(name);
        if ((ulong)info.Length > size)
        {
            throw new OmniStoreException(OmniStoreError.TooSmall, $"The destination holds {size} bytes but the object has {info.Length}.");
        }

        using var destination = new UnmanagedMemoryStream(buffer, 0, (long)Math.Min(size, long.MaxValue), FileAccess.Write);
        try
        {
            return client.GetAsync(name, destination).AsTask().GetAwaiter().GetResult();
        }
        catch (NotSupportedException e)
        {
            // Rebound to a larger object between the length check and the copy.
            throw new OmniStoreException(OmniStoreError.TooSmall, $"'{name}' grew beyond the destination's {size} bytes while it was being copied; the buffer holds part of it.", e);
        }
    }

    private static void CheckName(string function, byte* name)
    {
        if (name is null)
        {
            throw new OmniStoreException(OmniStoreError.InvalidName, $"{function}: the name is NULL");
        }
    }

    private static void CheckBuffer(string function, byte* buffer, nuint size)
    {
        if (buffer is null && size != 0)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"{function}: the buffer is NULL but its size is {size}");
        }

        if (size > long.MaxValue)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"{function}: the size {size} is larger than any object can be");
        }
    }

    private static OmniStoreException NotFound(string name) => OmniStore.Internal.ThrowHelper.NotFound(name);

    private static int Fail(Exception exception) => exception switch
    {
        // Without a message, the thread's last error already says why.
        LibraryStateException state => state.Message.Length == 0 ? state.Status : LastError.Fail(state.Status, state.Message),
        _ => LastError.Fail(NativeStatus.From(exception), exception.Message),
    };

    private static byte* Constant(ReadOnlySpan<byte> nulTerminated) =>
        // A u8 literal lives in the image's read-only data: its address never changes.
        (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(nulTerminated));

    /// <summary>A condition of the library itself (not initialized, finalized), with its C code.</summary>
    private sealed class LibraryStateException(int status, string? message) : Exception(message ?? string.Empty)
    {
        public int Status { get; } = status;
    }
}
