using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace OmniStore.Content.Internal;

/// <summary>
/// Constants, the default secret and the length-specialised paths of XXH3 (xxHash 0.8.x), shared
/// by the one-shot <see cref="XxHash3"/> entry points and the streaming <see cref="XxHash3Hasher"/>.
/// The input-size dispatch and the long-input kernels live elsewhere; everything here is scalar
/// because inputs of at most 240 bytes are latency-bound, not throughput-bound.
/// </summary>
/// <remarks>
/// <para>
/// All functions take <c>ref byte</c> plus an explicit length instead of spans: the length checks
/// that choose a path already prove every read is in range, so span bounds checks would be pure cost.
/// </para>
/// <para>
/// The short paths always use the default secret (a seed is mixed in arithmetically), and they read
/// it through <see cref="DefaultSecretRef"/> rather than a parameter: the JIT then sees reads at
/// constant offsets of constant data and folds them into immediates.
/// </para>
/// </remarks>
internal static class Xxh3Core
{
    internal const int StripeLength = 64;
    internal const int SecretSize = 192;
    internal const int SecretConsumeRate = 8;
    internal const int StripesPerBlock = (SecretSize - StripeLength) / SecretConsumeRate;
    internal const int BlockLength = StripeLength * StripesPerBlock;
    internal const int AccumulatorCount = 8;
    internal const int MidSizeMax = 240;

    /// <summary>
    /// Bytes the streaming hasher holds back before consuming them: four stripes, and more than
    /// <see cref="MidSizeMax"/> so that short inputs are always still whole at digest time.
    /// </summary>
    internal const int StreamPendingCapacity = 4 * StripeLength;

    // Offsets into the secret fixed by the format; changing any of them changes every hash.
    internal const int SecretLastAccStart = 7;
    internal const int SecretMergeAccsStart = 11;
    internal const int SecretSizeMin = 136;
    internal const int MidSizeStartOffset = 3;
    internal const int MidSizeLastOffset = 17;

    /// <summary>Offset of the key used for the final, possibly overlapping, stripe.</summary>
    internal const int LastStripeSecretOffset = SecretSize - StripeLength - SecretLastAccStart;

    /// <summary>Offset of the key used to scramble the accumulators after each block.</summary>
    internal const int ScrambleSecretOffset = SecretSize - StripeLength;

    internal const uint Prime32_1 = 0x9E3779B1U;
    internal const uint Prime32_2 = 0x85EBCA77U;
    internal const uint Prime32_3 = 0xC2B2AE3DU;
    internal const ulong Prime64_1 = 0x9E3779B185EBCA87UL;
    internal const ulong Prime64_2 = 0xC2B2AE3D27D4EB4FUL;
    internal const ulong Prime64_3 = 0x165667B19E3779F9UL;
    internal const ulong Prime64_4 = 0x85EBCA77C2B2AE63UL;
    internal const ulong Prime64_5 = 0x27D4EB2F165667C5UL;
    internal const ulong PrimeMx1 = 0x165667919E3779F9UL;
    internal const ulong PrimeMx2 = 0x9FB21C651E98DF25UL;

    /// <summary>The 192-byte default secret ("kSecret") from the xxHash specification.</summary>
    /// <remarks>A <c>ReadOnlySpan</c> over a constant array compiles to a view of the assembly's data section, so no copy or allocation is made.</remarks>
    internal static ReadOnlySpan<byte> DefaultSecret =>
    [
        0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
        0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
        0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
        0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
        0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
        0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
        0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
        0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
        0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
        0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
        0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
        0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
    ];

    /// <summary>Reference to the first byte of <see cref="DefaultSecret"/>; the data is immutable and never written through.</summary>
    internal static ref byte DefaultSecretRef
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ref MemoryMarshal.GetReference(DefaultSecret);
    }

    // ---------------------------------------------------------------- primitives

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Read64(ref byte source, nuint offset)
    {
        ulong value = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref source, offset));
        return BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Read32(ref byte source, nuint offset)
    {
        uint value = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref source, offset));
        return BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Write64(ref byte destination, nuint offset, ulong value)
    {
        if (!BitConverter.IsLittleEndian)
        {
            value = BinaryPrimitives.ReverseEndianness(value);
        }

        Unsafe.WriteUnaligned(ref Unsafe.Add(ref destination, offset), value);
    }

    /// <summary>Full 64x64->128 multiply folded back to 64 bits; the core mixer of XXH3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Mul128Fold64(ulong left, ulong right)
    {
        return (left * right) ^ MultiplyHigh(left, right);
    }

    /// <summary>Full 64x64->128 multiply.</summary>
    /// <remarks>
    /// Math.BigMul passes the low half through a stack slot (an out parameter, even behind the
    /// UInt128 overload); a separate low multiply plus mulx for the high half stays in registers
    /// and is shorter on the critical path of the short-input hashes.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static UInt128 Multiply(ulong left, ulong right) => new(MultiplyHigh(left, right), left * right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MultiplyHigh(ulong left, ulong right) =>
        Bmi2.X64.IsSupported ? Bmi2.X64.MultiplyNoFlags(left, right) : Math.BigMul(left, right, out _);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong XorShift(ulong value, int shift) => value ^ (value >> shift);

    /// <summary>XXH64's final mix, reused by XXH3 for 0-3 byte inputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Xxh64Avalanche(ulong hash)
    {
        hash ^= hash >> 33;
        hash *= Prime64_2;
        hash ^= hash >> 29;
        hash *= Prime64_3;
        hash ^= hash >> 32;
        return hash;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Avalanche(ulong hash)
    {
        hash = XorShift(hash, 37);
        hash *= PrimeMx1;
        return XorShift(hash, 32);
    }

    /// <summary>Stronger final mix used by the 4-8 byte path, where a single multiply would leave weak bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong RrmxMx(ulong hash, ulong length)
    {
        hash ^= BitOperations.RotateLeft(hash, 49) ^ BitOperations.RotateLeft(hash, 24);
        hash *= PrimeMx2;
        hash ^= (hash >> 35) + length;
        hash *= PrimeMx2;
        return XorShift(hash, 28);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix16(ref byte input, nuint inputOffset, ref byte secret, nuint secretOffset, ulong seed)
    {
        ulong low = Read64(ref input, inputOffset);
        ulong high = Read64(ref input, inputOffset + 8);
        return Mul128Fold64(
            low ^ (Read64(ref secret, secretOffset) + seed),
            high ^ (Read64(ref secret, secretOffset + 8) - seed));
    }

    /// <summary>Writes the secret derived from <paramref name="seed"/>; only inputs over 240 bytes use it.</summary>
    internal static void DeriveSecret(ulong seed, ref byte destination)
    {
        ref byte source = ref DefaultSecretRef;
        for (nuint offset = 0; offset < SecretSize; offset += 16)
        {
            Write64(ref destination, offset, Read64(ref source, offset) + seed);
            Write64(ref destination, offset + 8, Read64(ref source, offset + 8) - seed);
        }
    }

    /// <summary>Initial accumulator values, identical for every seed and secret.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void InitAccumulators(ref ulong acc)
    {
        Unsafe.Add(ref acc, 0) = Prime32_3;
        Unsafe.Add(ref acc, 1) = Prime64_1;
        Unsafe.Add(ref acc, 2) = Prime64_2;
        Unsafe.Add(ref acc, 3) = Prime64_3;
        Unsafe.Add(ref acc, 4) = Prime64_4;
        Unsafe.Add(ref acc, 5) = Prime32_2;
        Unsafe.Add(ref acc, 6) = Prime64_5;
        Unsafe.Add(ref acc, 7) = Prime32_1;
    }

    internal static ulong MergeAccumulators(ref ulong acc, ref byte secret, nuint secretOffset, ulong start)
    {
        ulong result = start;
        for (nuint i = 0; i < 4; i++)
        {
            result += Mul128Fold64(
                Unsafe.Add(ref acc, 2 * i) ^ Read64(ref secret, secretOffset + (16 * i)),
                Unsafe.Add(ref acc, (2 * i) + 1) ^ Read64(ref secret, secretOffset + (16 * i) + 8));
        }

        return Avalanche(result);
    }

    /// <summary>Final step of the long-input path, shared by the one-shot and streaming hashers.</summary>
    internal static ulong FinishLong64(ref ulong acc, ref byte secret, ulong length) =>
        MergeAccumulators(ref acc, ref secret, SecretMergeAccsStart, length * Prime64_1);

    /// <summary>Final step of the long-input 128-bit path; the high half merges with a key from the other end of the secret.</summary>
    internal static UInt128 FinishLong128(ref ulong acc, ref byte secret, ulong length)
    {
        ulong low = MergeAccumulators(ref acc, ref secret, SecretMergeAccsStart, length * Prime64_1);
        ulong high = MergeAccumulators(
            ref acc,
            ref secret,
            SecretSize - StripeLength - SecretMergeAccsStart,
            ~(length * Prime64_2));
        return new UInt128(high, low);
    }

    // ---------------------------------------------------------------- 64-bit, up to 240 bytes

    internal static ulong Hash64Short(ref byte input, nuint length, ulong seed)
    {
        if (length <= 16)
        {
            return Hash64Upto16(ref input, length, seed);
        }

        return length <= 128
            ? Hash64Upto128(ref input, length, seed)
            : Hash64Upto240(ref input, length, seed);
    }

    private static ulong Hash64Upto16(ref byte input, nuint length, ulong seed)
    {
        ref byte secret = ref DefaultSecretRef;
        if (length > 8)
        {
            ulong bitflip1 = (Read64(ref secret, 24) ^ Read64(ref secret, 32)) + seed;
            ulong bitflip2 = (Read64(ref secret, 40) ^ Read64(ref secret, 48)) - seed;
            ulong low = Read64(ref input, 0) ^ bitflip1;
            ulong high = Read64(ref input, length - 8) ^ bitflip2;
            ulong acc = length + BinaryPrimitives.ReverseEndianness(low) + high + Mul128Fold64(low, high);
            return Avalanche(acc);
        }

        if (length >= 4)
        {
            seed ^= (ulong)BinaryPrimitives.ReverseEndianness((uint)seed) << 32;
            ulong first = Read32(ref input, 0);
            ulong last = Read32(ref input, length - 4);
            ulong bitflip = (Read64(ref secret, 8) ^ Read64(ref secret, 16)) - seed;
            ulong keyed = (last + (first << 32)) ^ bitflip;
            return RrmxMx(keyed, length);
        }

        if (length > 0)
        {
            uint combined = Combine1To3(ref input, length);
            ulong bitflip = (Read32(ref secret, 0) ^ Read32(ref secret, 4)) + seed;
            return Xxh64Avalanche(combined ^ bitflip);
        }

        return Xxh64Avalanche(seed ^ Read64(ref secret, 56) ^ Read64(ref secret, 64));
    }

    /// <summary>Packs 1-3 bytes and the length into 32 bits so every input of that size maps to a distinct value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Combine1To3(ref byte input, nuint length)
    {
        uint c1 = input;
        uint c2 = Unsafe.Add(ref input, length >> 1);
        uint c3 = Unsafe.Add(ref input, length - 1);
        return (c1 << 16) | (c2 << 24) | c3 | ((uint)length << 8);
    }

    private static ulong Hash64Upto128(ref byte input, nuint length, ulong seed)
    {
        ref byte secret = ref DefaultSecretRef;
        ulong acc = length * Prime64_1;
        if (length > 32)
        {
            if (length > 64)
            {
                if (length > 96)
                {
                    acc += Mix16(ref input, 48, ref secret, 96, seed);
                    acc += Mix16(ref input, length - 64, ref secret, 112, seed);
                }

                acc += Mix16(ref input, 32, ref secret, 64, seed);
                acc += Mix16(ref input, length - 48, ref secret, 80, seed);
            }

            acc += Mix16(ref input, 16, ref secret, 32, seed);
            acc += Mix16(ref input, length - 32, ref secret, 48, seed);
        }

        acc += Mix16(ref input, 0, ref secret, 0, seed);
        acc += Mix16(ref input, length - 16, ref secret, 16, seed);
        return Avalanche(acc);
    }

    private static ulong Hash64Upto240(ref byte input, nuint length, ulong seed)
    {
        ref byte secret = ref DefaultSecretRef;
        ulong acc = length * Prime64_1;
        nuint rounds = length / 16;
        for (nuint i = 0; i < 8; i++)
        {
            acc += Mix16(ref input, 16 * i, ref secret, 16 * i, seed);
        }

        // The first 128 bytes are avalanched on their own so the tail rounds, which reuse the secret
        // at an odd offset, cannot cancel them out.
        acc = Avalanche(acc);
        for (nuint i = 8; i < rounds; i++)
        {
            acc += Mix16(ref input, 16 * i, ref secret, (16 * (i - 8)) + MidSizeStartOffset, seed);
        }

        acc += Mix16(ref input, length - 16, ref secret, SecretSizeMin - MidSizeLastOffset, seed);
        return Avalanche(acc);
    }

    // ---------------------------------------------------------------- 128-bit, up to 240 bytes

    internal static UInt128 Hash128Short(ref byte input, nuint length, ulong seed)
    {
        if (length <= 16)
        {
            return Hash128Upto16(ref input, length, seed);
        }

        return length <= 128
            ? Hash128Upto128(ref input, length, seed)
            : Hash128Upto240(ref input, length, seed);
    }

    private static UInt128 Hash128Upto16(ref byte input, nuint length, ulong seed)
    {
        ref byte secret = ref DefaultSecretRef;
        if (length > 8)
        {
            return Hash128Len9To16(ref input, length, seed);
        }

        if (length >= 4)
        {
            return Hash128Len4To8(ref input, length, seed);
        }

        if (length > 0)
        {
            uint combinedLow = Combine1To3(ref input, length);
            uint combinedHigh = BitOperations.RotateLeft(BinaryPrimitives.ReverseEndianness(combinedLow), 13);
            ulong bitflipLow = (Read32(ref secret, 0) ^ Read32(ref secret, 4)) + seed;
            ulong bitflipHigh = (Read32(ref secret, 8) ^ Read32(ref secret, 12)) - seed;
            return new UInt128(
                Xxh64Avalanche(combinedHigh ^ bitflipHigh),
                Xxh64Avalanche(combinedLow ^ bitflipLow));
        }

        return new UInt128(
            Xxh64Avalanche(seed ^ Read64(ref secret, 80) ^ Read64(ref secret, 88)),
            Xxh64Avalanche(seed ^ Read64(ref secret, 64) ^ Read64(ref secret, 72)));
    }

    private static UInt128 Hash128Len4To8(ref byte input, nuint length, ulong seed)
    {
        ref byte secret = ref DefaultSecretRef;
        seed ^= (ulong)BinaryPrimitives.ReverseEndianness((uint)seed) << 32;
        ulong first = Read32(ref input, 0);
        ulong last = Read32(ref input, length - 4);
        ulong bitflip = (Read64(ref secret, 16) ^ Read64(ref secret, 24)) + seed;
        ulong keyed = (first + (last << 32)) ^ bitflip;

        // The length enters through the multiplier; adding a multiple of four keeps the multiplier odd.
        UInt128 product = Multiply(keyed, Prime64_1 + (length << 2));
        ulong low = (ulong)product;
        ulong high = (ulong)(product >> 64) + (low << 1);
        low ^= high >> 3;
        low = XorShift(low, 35);
        low *= PrimeMx2;
        low = XorShift(low, 28);
        return new UInt128(Avalanche(high), low);
    }

    private static UInt128 Hash128Len9To16(ref byte input, nuint length, ulong seed)
    {
        ref byte secret = ref DefaultSecretRef;
        ulong bitflipLow = (Read64(ref secret, 32) ^ Read64(ref secret, 40)) - seed;
        ulong bitflipHigh = (Read64(ref secret, 48) ^ Read64(ref secret, 56)) + seed;
        ulong inputLow = Read64(ref input, 0);
        ulong inputHigh = Read64(ref input, length - 8);

        UInt128 m = Multiply(inputLow ^ inputHigh ^ bitflipLow, Prime64_1);
        ulong mLow = (ulong)m + ((ulong)(length - 1) << 54);
        ulong mHigh = (ulong)(m >> 64);
        inputHigh ^= bitflipHigh;

        // Multiplying the low half by (PRIME32_2 - 1) and adding the input is a 32-bit-friendly
        // way to multiply it by PRIME32_2; the result must match the reference bit for bit.
        mHigh += inputHigh + ((ulong)(uint)inputHigh * (Prime32_2 - 1));
        mLow ^= BinaryPrimitives.ReverseEndianness(mHigh);

        UInt128 h = Multiply(mLow, Prime64_2);
        ulong hHigh = (ulong)(h >> 64) + (mHigh * Prime64_2);
        return new UInt128(Avalanche(hHigh), Avalanche((ulong)h));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mix32(
        ref ulong accLow,
        ref ulong accHigh,
        ref byte input,
        nuint offset1,
        nuint offset2,
        ref byte secret,
        nuint secretOffset,
        ulong seed)
    {
        accLow += Mix16(ref input, offset1, ref secret, secretOffset, seed);
        accLow ^= Read64(ref input, offset2) + Read64(ref input, offset2 + 8);
        accHigh += Mix16(ref input, offset2, ref secret, secretOffset + 16, seed);
        accHigh ^= Read64(ref input, offset1) + Read64(ref input, offset1 + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static UInt128 Finish128Mid(ulong accLow, ulong accHigh, nuint length, ulong seed)
    {
        ulong low = accLow + accHigh;
        ulong high = (accLow * Prime64_1) + (accHigh * Prime64_4) + ((length - seed) * Prime64_2);
        return new UInt128(0UL - Avalanche(high), Avalanche(low));
    }

    private static UInt128 Hash128Upto128(ref byte input, nuint length, ulong seed)
    {
        ref byte secret = ref DefaultSecretRef;
        ulong accLow = length * Prime64_1;
        ulong accHigh = 0;
        if (length > 32)
        {
            if (length > 64)
            {
                if (length > 96)
                {
                    Mix32(ref accLow, ref accHigh, ref input, 48, length - 64, ref secret, 96, seed);
                }

                Mix32(ref accLow, ref accHigh, ref input, 32, length - 48, ref secret, 64, seed);
            }

            Mix32(ref accLow, ref accHigh, ref input, 16, length - 32, ref secret, 32, seed);
        }

        Mix32(ref accLow, ref accHigh, ref input, 0, length - 16, ref secret, 0, seed);
        return Finish128Mid(accLow, accHigh, length, seed);
    }

    private static UInt128 Hash128Upto240(ref byte input, nuint length, ulong seed)
    {
        ref byte secret = ref DefaultSecretRef;
        ulong accLow = length * Prime64_1;
        ulong accHigh = 0;
        nuint rounds = length / 32;
        for (nuint i = 0; i < 4; i++)
        {
            Mix32(ref accLow, ref accHigh, ref input, 32 * i, (32 * i) + 16, ref secret, 32 * i, seed);
        }

        accLow = Avalanche(accLow);
        accHigh = Avalanche(accHigh);
        for (nuint i = 4; i < rounds; i++)
        {
            Mix32(
                ref accLow,
                ref accHigh,
                ref input,
                32 * i,
                (32 * i) + 16,
                ref secret,
                MidSizeStartOffset + (32 * (i - 4)),
                seed);
        }

        // The last 32 bytes are mixed in reverse order with the negated seed, as the format specifies.
        Mix32(
            ref accLow,
            ref accHigh,
            ref input,
            length - 16,
            length - 32,
            ref secret,
            SecretSizeMin - MidSizeLastOffset - 16,
            0UL - seed);
        return Finish128Mid(accLow, accHigh, length, seed);
    }
}
