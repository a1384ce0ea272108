using System.Buffers.Binary;

namespace OmniStore.Cli.Bench;

/// <summary>
/// The staging benchmark's object: pseudo-random bytes (xoshiro256**) fixed by a seed, so the master
/// and every worker derive the same bytes without shipping them, and each run's seed makes its
/// object new to every cache.
/// </summary>
internal static class StagingData
{
    /// <summary>The largest object the benchmark stages: every participant holds one copy in memory.</summary>
    public const long MaxSize = 1L << 30;

    public static byte[] Generate(long size, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, MaxSize);
        var data = GC.AllocateUninitializedArray<byte>((int)size);
        // SplitMix64 spreads the seed over the generator's four words, as its authors recommend.
        ulong s0 = SplitMix(ref seed), s1 = SplitMix(ref seed), s2 = SplitMix(ref seed), s3 = SplitMix(ref seed);
        var span = data.AsSpan();
        int i = 0;
        Span<byte> tail = stackalloc byte[8];
        while (i < span.Length)
        {
            ulong result = ulong.RotateLeft(s1 * 5, 7) * 9;
            ulong t = s1 << 17;
            s2 ^= s0;
            s3 ^= s1;
            s1 ^= s2;
            s0 ^= s3;
            s2 ^= t;
            s3 = ulong.RotateLeft(s3, 45);
            if (span.Length - i >= 8)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(span[i..], result);
                i += 8;
            }
            else
            {
                BinaryPrimitives.WriteUInt64LittleEndian(tail, result);
                tail[..(span.Length - i)].CopyTo(span[i..]);
                i = span.Length;
            }
        }

        return data;
    }

    private static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
