using System.Buffers.Binary;

namespace OmniStore.Protocol;

/// <summary>
/// The conditions and time to live of a Put as BIND and PUT_OBJECT carry them (protocol version 8;
/// docs/protocol.md, "Conditional Puts"): bits 1-4 of the request's flags byte, and after that byte,
/// with bit 1, <c>i64</c> the version required and, with bit 4, <c>i64</c> the time to live in
/// milliseconds.
/// </summary>
/// <param name="IfVersion">The version the name must be bound at (0: no such condition).</param>
/// <param name="IfNotExists">The name must not be bound.</param>
/// <param name="IfChanged">A binding to the same manifest is left as it is.</param>
/// <param name="TimeToLiveMs">How long the binding lives, in milliseconds (0: for good).</param>
internal readonly record struct PutConditions(long IfVersion, bool IfNotExists, bool IfChanged, long TimeToLiveMs)
{
    public const byte IfVersionFlag = 1 << 1;
    public const byte IfNotExistsFlag = 1 << 2;
    public const byte IfChangedFlag = 1 << 3;
    public const byte TimeToLiveFlag = 1 << 4;

    /// <summary>Every flag bit of these requests: bit 0 (broadcast) and the conditions'.</summary>
    public const byte KnownFlags = 1 | IfVersionFlag | IfNotExistsFlag | IfChangedFlag | TimeToLiveFlag;

    /// <summary>The longest time to live, in milliseconds.</summary>
    public static readonly long MaxTimeToLiveMs = (long)PutOptions.MaxTimeToLive.TotalMilliseconds;

    /// <summary>What <paramref name="options"/> ask, validated (none for null).</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> for a value out of range.</exception>
    public static PutConditions From(PutOptions? options)
    {
        if (options is null)
        {
            return default;
        }

        options.Validate();

        // Whole milliseconds, at least one: a tiny positive time to live does not become "for good".
        long ttl = options.TimeToLive is { } t ? Math.Max(1, (long)Math.Ceiling(t.TotalMilliseconds)) : 0;
        return new PutConditions(options.IfVersion ?? 0, options.IfNotExists, options.IfChanged, ttl);
    }

    /// <summary>Whether nothing is asked: what every version carries.</summary>
    public bool IsEmpty => this == default;

    /// <summary>The flag bits (bit 0, broadcast, is the caller's).</summary>
    public byte Flags => (byte)((IfVersion != 0 ? IfVersionFlag : 0) | (IfNotExists ? IfNotExistsFlag : 0) | (IfChanged ? IfChangedFlag : 0) | (TimeToLiveMs != 0 ? TimeToLiveFlag : 0));

    /// <summary>The bytes of the fields after the flags byte.</summary>
    public int FieldsLength => (IfVersion != 0 ? 8 : 0) + (TimeToLiveMs != 0 ? 8 : 0);

    /// <summary>Writes the fields after the flags byte; returns their length.</summary>
    public int WriteFields(Span<byte> destination)
    {
        int at = 0;
        if (IfVersion != 0)
        {
            BinaryPrimitives.WriteInt64LittleEndian(destination, IfVersion);
            at += 8;
        }

        if (TimeToLiveMs != 0)
        {
            BinaryPrimitives.WriteInt64LittleEndian(destination[at..], TimeToLiveMs);
            at += 8;
        }

        return at;
    }

    /// <summary>Reads the fields <paramref name="flags"/> announce and checks every value.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.ProtocolError"/> for an unknown flag or a field cut short; <see cref="OmniStoreError.InvalidArgument"/> for a value out of range.</exception>
    public static PutConditions Read(byte flags, string request, ref PayloadReader reader)
    {
        if ((flags & ~KnownFlags) != 0)
        {
            throw HelloMessage.Malformed($"unknown {request} flags {flags}");
        }

        long version = (flags & IfVersionFlag) != 0 ? reader.Int64() : 0;
        long ttl = (flags & TimeToLiveFlag) != 0 ? reader.Int64() : 0;
        if ((flags & IfVersionFlag) != 0 && version < 1)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A {request} asks for version {version}: versions start at 1.");
        }

        if ((flags & TimeToLiveFlag) != 0 && (ttl < 1 || ttl > MaxTimeToLiveMs))
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A {request} asks for a time to live of {ttl} ms: it must be 1 to {MaxTimeToLiveMs}.");
        }

        if ((flags & IfVersionFlag) != 0 && (flags & IfNotExistsFlag) != 0)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A {request} asks for a version and for the name not to exist.");
        }

        return new PutConditions(version, (flags & IfNotExistsFlag) != 0, (flags & IfChangedFlag) != 0, ttl);
    }

    /// <summary>
    /// Refuses conditions a peer of <paramref name="version"/> cannot check, rather than have them
    /// ignored: said plainly before anything is sent.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.ProtocolError"/>.</exception>
    public void RequireVersion(ushort version, string peer)
    {
        if (!IsEmpty && version < ProtocolLimits.ConditionalPutVersion)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"A conditional or expiring Put needs protocol version {ProtocolLimits.ConditionalPutVersion}; {peer} speaks {version}, so nothing was put.");
        }
    }
}
