using System.Diagnostics;

namespace OmniStore.Protocol;

/// <summary>
/// TRACE (protocol version 8; docs/protocol.md, "TRACE"): the W3C trace context of the request
/// that follows it on its stream. Exactly 25 bytes: the 16-byte trace id, the 8-byte id of the
/// sender's span (the parent of the receiver's), and the trace flags byte (bit 0: sampled).
/// </summary>
internal static class TraceMessage
{
    /// <summary>The payload's only length.</summary>
    public const int Size = 16 + 8 + 1;

    public static byte[] Encode(in ActivityContext context)
    {
        var payload = new byte[Size];
        context.TraceId.CopyTo(payload.AsSpan(0, 16));
        context.SpanId.CopyTo(payload.AsSpan(16, 8));
        payload[24] = (byte)context.TraceFlags;
        return payload;
    }

    /// <summary>
    /// The context in <paramref name="payload"/> (of <see cref="Size"/> bytes, checked by the caller),
    /// or null when its trace or span id is all zeros, which W3C trace context calls invalid: the
    /// request is then served untraced. Flag bits other than "sampled" are kept, as W3C asks.
    /// </summary>
    public static ActivityContext? Decode(ReadOnlySpan<byte> payload)
    {
        Debug.Assert(payload.Length == Size);
        var traceId = payload[..16];
        var spanId = payload[16..24];
        if (!traceId.ContainsAnyExcept((byte)0) || !spanId.ContainsAnyExcept((byte)0))
        {
            return null;
        }

        return new ActivityContext(ActivityTraceId.CreateFromBytes(traceId), ActivitySpanId.CreateFromBytes(spanId), (ActivityTraceFlags)payload[24], traceState: null, isRemote: true);
    }
}
