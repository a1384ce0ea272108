namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// Packet numbers on the wire (RFC 9000 section 17.1 and appendix A): a sender writes the fewest
/// low bytes (1 to 4) that let the receiver recover the full number from the largest it has
/// acknowledged; a receiver decodes a truncated number as the one closest to the next it expects.
/// </summary>
internal static class PacketNumber
{
    /// <summary>The largest packet number: numbers are never reused, and a connection ends before this.</summary>
    public const long Max = (1L << 62) - 1;

    /// <summary>
    /// Bytes to send <paramref name="number"/> in, given the largest number the peer acknowledged
    /// (-1 for none): enough for twice the distance (RFC 9000 appendix A.2).
    /// </summary>
    public static int EncodedLength(long number, long largestAcknowledged)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(number);
        long unacknowledged = largestAcknowledged < 0 ? number + 1 : number - largestAcknowledged;
        // Bits needed to represent twice the range, rounded up to bytes.
        int bits = 64 - (int)ulong.LeadingZeroCount((ulong)unacknowledged) + 1;
        int bytes = (bits + 7) / 8;
        if (bytes > 4)
        {
            throw new InvalidOperationException($"Packet {number} is {unacknowledged} ahead of the largest acknowledged: more than 4 bytes can tell apart.");
        }

        return Math.Max(1, bytes);
    }

    /// <summary>The full packet number of a truncated one of <paramref name="length"/> bytes, given the largest received so far (-1 for none) (RFC 9000 appendix A.3).</summary>
    public static long Decode(long largestReceived, uint truncated, int length)
    {
        long expected = largestReceived + 1;
        long window = 1L << (length * 8);
        long halfWindow = window / 2;
        long mask = window - 1;
        long candidate = (expected & ~mask) | truncated;
        if (candidate <= expected - halfWindow && candidate < (1L << 62) - window)
        {
            return candidate + window;
        }

        if (candidate > expected + halfWindow && candidate >= window)
        {
            return candidate - window;
        }

        return candidate;
    }
}
