using System.Runtime.InteropServices;

namespace OmniStore.Native;

/// <summary>
/// The entry points libomnistore.so calls, one per C function of <c>omnistore.h</c>. Each returns
/// 0 or a non-negative result on success and a negative code on failure, and on failure writes a
/// message into the caller's buffer (<c>error</c>, <c>errorSize</c> bytes).
/// </summary>
/// <remarks>
/// Nothing may throw out of an <see cref="UnmanagedCallersOnlyAttribute"/> method: the runtime
/// would end the process. Every entry point therefore catches everything.
/// The C library serializes <see cref="Open"/> and <see cref="Close"/> with the other calls (a
/// reader-writer lock), so the client never goes away under a call in progress.
/// </remarks>
internal static unsafe class NativeExports
{
    private static OmniStoreClient? _client;

    /// <summary>
    /// Opens the client: <paramref name="uri"/> null means <see cref="OmniStoreClient.FromEnvironment"/>;
    /// <c>file:///DIR</c> the embedded store in DIR; <c>tcp://HOST:PORT</c> a node, or a
    /// comma-separated list of them tried in order.
    /// </summary>
    [UnmanagedCallersOnly]
    internal static int Open(byte* uri, byte* error, int errorSize)
    {
        try
        {
            if (Volatile.Read(ref _client) is not null)
            {
                NativeText.WriteMessage(error, errorSize, "omst_init: the library is already initialized.");
                return NativeStatus.AlreadyInitialized;
            }

            Volatile.Write(ref _client, OpenClient(NativeText.Decode(uri)));
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, error, errorSize);
        }
    }

    /// <summary>Disposes the client: the embedded store is checkpointed and closed, connections are closed.</summary>
    [UnmanagedCallersOnly]
    internal static int Close(byte* error, int errorSize)
    {
        try
        {
            var client = Interlocked.Exchange(ref _client, null);
            if (client is null)
            {
                NativeText.WriteMessage(error, errorSize, "omst_finalize: the library is not initialized.");
                return NativeStatus.NotInitialized;
            }

            client.Dispose();
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, error, errorSize);
        }
    }

    /// <summary>Stores <paramref name="size"/> bytes at <paramref name="data"/> under the name, read in place.</summary>
    [UnmanagedCallersOnly]
    internal static int Put(byte* name, byte* data, nuint size, byte* error, int errorSize)
    {
        try
        {
            if (Volatile.Read(ref _client) is not { } client)
            {
                return NotInitialized(error, errorSize);
            }

            string objectName = NativeText.DecodeName(name);
            CheckBuffer(data, size);
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
        catch (Exception e)
        {
            return Fail(e, error, errorSize);
        }
    }

    /// <summary>Copies the object into <paramref name="buffer"/> and returns its length; nothing is copied if it does not fit.</summary>
    [UnmanagedCallersOnly]
    internal static long Get(byte* name, byte* buffer, nuint size, byte* error, int errorSize)
    {
        try
        {
            if (Volatile.Read(ref _client) is not { } client)
            {
                return NotInitialized(error, errorSize);
            }

            string objectName = NativeText.DecodeName(name);
            CheckBuffer(buffer, size);
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
        catch (Exception e)
        {
            return Fail(e, error, errorSize);
        }
    }

    /// <summary>The length of the object bound to the name.</summary>
    [UnmanagedCallersOnly]
    internal static long GetSize(byte* name, byte* error, int errorSize)
    {
        try
        {
            if (Volatile.Read(ref _client) is not { } client)
            {
                return NotInitialized(error, errorSize);
            }

            string objectName = NativeText.DecodeName(name);
            var info = client.StatAsync(objectName).AsTask().GetAwaiter().GetResult()
                ?? throw new OmniStoreException(OmniStoreError.NotFound, $"No object is bound to the name '{objectName}'.");
            return info.Length;
        }
        catch (Exception e)
        {
            return Fail(e, error, errorSize);
        }
    }

    /// <summary>Unbinds the name; <see cref="OmniStoreError.NotFound"/> if nothing was bound to it.</summary>
    [UnmanagedCallersOnly]
    internal static int Delete(byte* name, byte* error, int errorSize)
    {
        try
        {
            if (Volatile.Read(ref _client) is not { } client)
            {
                return NotInitialized(error, errorSize);
            }

            string objectName = NativeText.DecodeName(name);
            if (!client.DeleteAsync(objectName).AsTask().GetAwaiter().GetResult())
            {
                throw new OmniStoreException(OmniStoreError.NotFound, $"No object is bound to the name '{objectName}'.");
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, error, errorSize);
        }
    }

    private static OmniStoreClient OpenClient(string? uri)
    {
        if (uri is null)
        {
            return OmniStoreClient.FromEnvironment();
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
        var options = new OmniStoreOptions { SharedSecret = Internal.SecretFile.FromEnvironment() };
        return OmniStoreClient.ConnectAsync(uri, options).GetAwaiter().GetResult();
    }

    /// <summary>
    /// A Get into a buffer longer than a span can be: checks the length first, so that a buffer
    /// that is too small is left untouched, then writes the object one chunk at a time.
    /// </summary>
    private static long GetLarge(OmniStoreClient client, string name, byte* buffer, nuint size)
    {
        var info = client.StatAsync(name).AsTask().GetAwaiter().GetResult()
            ?? throw new OmniStoreException(OmniStoreError.NotFound, $"No object is bound to the name '{name}'.");
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

    private static void CheckBuffer(byte* buffer, nuint size)
    {
        if (buffer is null && size != 0)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The buffer is NULL but its size is {size}.");
        }

        if (size > long.MaxValue)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The size {size} is larger than any object can be.");
        }
    }

    private static int Fail(Exception exception, byte* error, int errorSize)
    {
        NativeText.WriteMessage(error, errorSize, exception.Message);
        return NativeStatus.From(exception);
    }

    private static int NotInitialized(byte* error, int errorSize)
    {
        NativeText.WriteMessage(error, errorSize, "The library is not initialized (omst_init).");
        return NativeStatus.NotInitialized;
    }
}
