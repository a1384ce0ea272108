using FASTER.core;

namespace OmniStore.Storage.Internal;

/// <summary>What a read does with the value it finds.</summary>
internal enum ReadMode : byte
{
    /// <summary>Copy into <see cref="ReadInput.Destination"/> if it is large enough; always report the length.</summary>
    CopyToDestination,

    /// <summary>Copy into a new array.</summary>
    Allocate,

    /// <summary>Only report the length.</summary>
    LengthOnly,

    /// <summary>Copy the first bytes of the value, as many as <see cref="ReadInput.Destination"/> holds.</summary>
    Prefix,
}

/// <summary>
/// Read input. FASTER's ReadAsync takes no output argument, so the caller's destination travels in
/// the input, which FASTER keeps with a pending read.
/// </summary>
internal struct ReadInput
{
    public ReadMode Mode;
    public Memory<byte> Destination;
}

internal struct ReadOutput
{
    /// <summary>The value's length, whatever the mode.</summary>
    public int Length;

    /// <summary>Whether the value was copied into the destination.</summary>
    public bool Copied;

    /// <summary>The copy made in <see cref="ReadMode.Allocate"/>.</summary>
    public byte[]? Allocated;
}

/// <summary>FASTER callbacks for byte keys and byte values: writes are plain copies, reads copy out as the input asks.</summary>
internal sealed class StoreFunctions : FunctionsBase<SpanByte, SpanByte, ReadInput, ReadOutput, Empty>
{
    public override bool SingleWriter(ref SpanByte key, ref ReadInput input, ref SpanByte src, ref SpanByte dst, ref ReadOutput output, ref UpsertInfo upsertInfo, WriteReason reason) =>
        src.TryCopyTo(ref dst);

    // Values are immutable once written (content-addressed, or a whole binding), so an in-place
    // update is a plain overwrite of a record of the same length; anything else goes to a new record.
    public override bool ConcurrentWriter(ref SpanByte key, ref ReadInput input, ref SpanByte src, ref SpanByte dst, ref ReadOutput output, ref UpsertInfo upsertInfo) =>
        src.Length == dst.Length && src.TryCopyTo(ref dst);

    public override bool SingleReader(ref SpanByte key, ref ReadInput input, ref SpanByte value, ref ReadOutput dst, ref ReadInfo readInfo)
    {
        CopyOut(ref input, value.AsReadOnlySpan(), ref dst);
        return true;
    }

    public override bool ConcurrentReader(ref SpanByte key, ref ReadInput input, ref SpanByte value, ref ReadOutput dst, ref ReadInfo readInfo)
    {
        CopyOut(ref input, value.AsReadOnlySpan(), ref dst);
        return true;
    }

    private static void CopyOut(ref ReadInput input, ReadOnlySpan<byte> value, ref ReadOutput dst)
    {
        dst.Length = value.Length;
        switch (input.Mode)
        {
            case ReadMode.CopyToDestination when input.Destination.Length >= value.Length:
                value.CopyTo(input.Destination.Span);
                dst.Copied = true;
                break;
            case ReadMode.Prefix:
                value[..Math.Min(value.Length, input.Destination.Length)].CopyTo(input.Destination.Span);
                dst.Copied = true;
                break;
            case ReadMode.Allocate:
                dst.Allocated = value.ToArray();
                dst.Copied = true;
                break;
        }
    }
}
