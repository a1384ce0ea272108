namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// What each end tells the other in the handshake (docs/rudp.md, "Long header"): the Initial and
/// the Accept carry them after the token. Varints: idle timeout (ms), max ack delay (us), initial
/// MAX_DATA, and the largest datagram the sender accepts.
/// </summary>
internal readonly record struct RudpParameters(long IdleTimeoutMs, long MaxAckDelayUs, long InitialMaxData, long MaxDatagram)
{
    /// <summary>The most bytes the parameters take.</summary>
    public const int MaxSize = 4 * 8;

    /// <summary>The least a peer may offer: below this a window or a datagram is useless.</summary>
    public const long MinMaxData = 16 * 1024;

    public int Write(Span<byte> destination)
    {
        int at = Varint.Write(destination, (ulong)IdleTimeoutMs);
        at += Varint.Write(destination[at..], (ulong)MaxAckDelayUs);
        at += Varint.Write(destination[at..], (ulong)InitialMaxData);
        at += Varint.Write(destination[at..], (ulong)MaxDatagram);
        return at;
    }

    /// <summary>Reads the parameters (the rest after them ignored: padding, or a later version's extra ones); null with a reason when they are not valid.</summary>
    public static RudpParameters? TryRead(ReadOnlySpan<byte> source, out string? problem)
    {
        problem = null;
        Span<ulong> values = stackalloc ulong[4];
        int at = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (!Varint.TryRead(source[at..], out values[i], out int size))
            {
                problem = "transport parameters cut short";
                return null;
            }

            at += size;
        }

        var parameters = new RudpParameters((long)values[0], (long)values[1], (long)values[2], (long)values[3]);
        if (parameters.IdleTimeoutMs is < 1_000 or > 3_600_000)
        {
            problem = $"an idle timeout of {parameters.IdleTimeoutMs} ms (1 s to 1 h)";
        }
        else if (parameters.MaxAckDelayUs is < 1_000 or > 1_000_000)
        {
            problem = $"a max ack delay of {parameters.MaxAckDelayUs} us (1 ms to 1 s)";
        }
        else if (parameters.InitialMaxData is < MinMaxData or > int.MaxValue)
        {
            problem = $"an initial window of {parameters.InitialMaxData} bytes";
        }
        else if (parameters.MaxDatagram is < PacketHeader.MinInitialDatagram or > DatagramSocket.MaxDatagram)
        {
            problem = $"a largest datagram of {parameters.MaxDatagram} bytes";
        }

        return problem is null ? parameters : null;
    }
}
