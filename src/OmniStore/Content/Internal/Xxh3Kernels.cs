using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static OmniStore.Content.Internal.Xxh3Core;

namespace OmniStore.Content.Internal;

// The kernels below implement the same operations on the 8 x 64-bit accumulators of the
// long-input path (more than 240 bytes):
//   Accumulate  - fold N consecutive 64-byte stripes into the accumulators, the key for stripe n
//                 starting 8 * n bytes into the secret;
//   Scramble    - the per-block (1024-byte) accumulator mix;
//   AccumulateBlocks - whole 1024-byte blocks, each followed by Scramble (the streaming hot loop);
//   HashLong    - the whole one-shot loop: full blocks, the partial block and the final stripe.
// HashLong and AccumulateBlocks exist per kernel (instead of being composed from Accumulate and
// Scramble) so the vector kernels keep the accumulators in registers across blocks.
// The entry points are AggressiveOptimization: a short-lived process (a CLI put, a C program
// through libomnistore) would otherwise hash its first hundreds of MiB in unoptimized tier-0 code,
// several times slower, before tiering replaces it.

/// <summary>Portable 64-bit scalar kernel; the reference behaviour every vector kernel must match.</summary>
internal static class Xxh3ScalarKernel
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stripe(ref ulong acc, ref byte input, ref byte secret)
    {
        for (nuint i = 0; i < AccumulatorCount; i++)
        {
            ulong data = Read64(ref input, 8 * i);
            ulong dataKey = data ^ Read64(ref secret, 8 * i);

            // Adding the raw input to the neighbouring lane keeps the input recoverable even when
            // dataKey's product is zero, so no input byte can be lost to the multiply.
            Unsafe.Add(ref acc, i ^ 1) += data;
            Unsafe.Add(ref acc, i) += (uint)dataKey * (dataKey >> 32);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Accumulate(ref ulong acc, ref byte input, ref byte secret, nuint stripes)
    {
        for (nuint n = 0; n < stripes; n++)
        {
            Stripe(ref acc, ref Unsafe.Add(ref input, n * StripeLength), ref Unsafe.Add(ref secret, n * SecretConsumeRate));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Scramble(ref ulong acc, ref byte secret)
    {
        for (nuint i = 0; i < AccumulatorCount; i++)
        {
            ulong value = Unsafe.Add(ref acc, i);
            value ^= value >> 47;
            value ^= Read64(ref secret, 8 * i);
            Unsafe.Add(ref acc, i) = value * Prime32_1;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AccumulateBlocks(ref ulong acc, ref byte input, nuint blocks, ref byte secret)
    {
        for (nuint b = 0; b < blocks; b++)
        {
            Accumulate(ref acc, ref Unsafe.Add(ref input, b * BlockLength), ref secret, StripesPerBlock);
            Scramble(ref acc, ref Unsafe.Add(ref secret, ScrambleSecretOffset));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void HashLong(ref ulong acc, ref byte input, nuint length, ref byte secret)
    {
        nuint blocks = (length - 1) / BlockLength;
        AccumulateBlocks(ref acc, ref input, blocks, ref secret);

        nuint stripes = (length - 1 - (blocks * BlockLength)) / StripeLength;
        Accumulate(ref acc, ref Unsafe.Add(ref input, blocks * BlockLength), ref secret, stripes);
        Stripe(ref acc, ref Unsafe.Add(ref input, length - StripeLength), ref Unsafe.Add(ref secret, LastStripeSecretOffset));
    }
}

/// <summary>
/// 128-bit SIMD kernel: four accumulator vectors of two lanes. Uses SSE2 <c>pmuludq</c> for the
/// 32x32->64 multiply on x86; elsewhere the portable Vector128 operators.
/// </summary>
internal static class Xxh3Vector128Kernel
{
    internal static bool IsSupported => Vector128.IsHardwareAccelerated && BitConverter.IsLittleEndian;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Load(ref byte source, nuint offset) =>
        Vector128.LoadUnsafe(ref source, offset).AsUInt64();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Round(Vector128<ulong> acc, Vector128<ulong> data, Vector128<ulong> key)
    {
        Vector128<ulong> dataKey = data ^ key;
        Vector128<ulong> product;
        Vector128<ulong> swapped;
        if (Sse2.IsSupported)
        {
            product = Sse2.Multiply(dataKey.AsUInt32(), Sse2.ShiftRightLogical(dataKey, 32).AsUInt32());
            swapped = Sse2.Shuffle(data.AsUInt32(), 0b01_00_11_10).AsUInt64();
        }
        else
        {
            product = (dataKey & Vector128.Create(0xFFFF_FFFFUL)) * Vector128.ShiftRightLogical(dataKey, 32);
            swapped = Vector128.Shuffle(data, Vector128.Create(1UL, 0UL));
        }

        // Summing the two terms first leaves one add, not two, on the loop-carried accumulator chain.
        return acc + (swapped + product);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Scramble(Vector128<ulong> acc, Vector128<ulong> key)
    {
        acc ^= Vector128.ShiftRightLogical(acc, 47);
        acc ^= key;
        if (Sse2.IsSupported)
        {
            // pmuludq only sees the low 32 bits of each lane, so multiply both halves by the
            // 32-bit prime and recombine; the high product's upper half falls off the lane anyway.
            Vector128<uint> prime = Vector128.Create(Prime32_1);
            Vector128<ulong> low = Sse2.Multiply(acc.AsUInt32(), prime);
            Vector128<ulong> high = Sse2.Multiply(Sse2.ShiftRightLogical(acc, 32).AsUInt32(), prime);
            return low + Sse2.ShiftLeftLogical(high, 32);
        }

        return acc * Vector128.Create((ulong)Prime32_1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stripe(
        ref Vector128<ulong> a0,
        ref Vector128<ulong> a1,
        ref Vector128<ulong> a2,
        ref Vector128<ulong> a3,
        ref byte input,
        ref byte secret)
    {
        a0 = Round(a0, Load(ref input, 0), Load(ref secret, 0));
        a1 = Round(a1, Load(ref input, 16), Load(ref secret, 16));
        a2 = Round(a2, Load(ref input, 32), Load(ref secret, 32));
        a3 = Round(a3, Load(ref input, 48), Load(ref secret, 48));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Accumulate(ref ulong acc, ref byte input, ref byte secret, nuint stripes)
    {
        Vector128<ulong> a0 = Vector128.LoadUnsafe(ref acc, 0);
        Vector128<ulong> a1 = Vector128.LoadUnsafe(ref acc, 2);
        Vector128<ulong> a2 = Vector128.LoadUnsafe(ref acc, 4);
        Vector128<ulong> a3 = Vector128.LoadUnsafe(ref acc, 6);
        for (nuint n = 0; n < stripes; n++)
        {
            Stripe(ref a0, ref a1, ref a2, ref a3, ref Unsafe.Add(ref input, n * StripeLength), ref Unsafe.Add(ref secret, n * SecretConsumeRate));
        }

        a0.StoreUnsafe(ref acc, 0);
        a1.StoreUnsafe(ref acc, 2);
        a2.StoreUnsafe(ref acc, 4);
        a3.StoreUnsafe(ref acc, 6);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Scramble(ref ulong acc, ref byte secret)
    {
        for (nuint i = 0; i < AccumulatorCount; i += 2)
        {
            Scramble(Vector128.LoadUnsafe(ref acc, i), Load(ref secret, 8 * i)).StoreUnsafe(ref acc, i);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block(
        ref Vector128<ulong> a0,
        ref Vector128<ulong> a1,
        ref Vector128<ulong> a2,
        ref Vector128<ulong> a3,
        ref byte block,
        ref byte secret)
    {
        // Two stripes per iteration: halves the loop overhead and lets the two independent
        // load/multiply chains overlap.
        for (nuint n = 0; n < StripesPerBlock; n += 2)
        {
            Stripe(ref a0, ref a1, ref a2, ref a3, ref Unsafe.Add(ref block, n * StripeLength), ref Unsafe.Add(ref secret, n * SecretConsumeRate));
            Stripe(ref a0, ref a1, ref a2, ref a3, ref Unsafe.Add(ref block, (n + 1) * StripeLength), ref Unsafe.Add(ref secret, (n + 1) * SecretConsumeRate));
        }

        a0 = Scramble(a0, Load(ref secret, ScrambleSecretOffset));
        a1 = Scramble(a1, Load(ref secret, ScrambleSecretOffset + 16));
        a2 = Scramble(a2, Load(ref secret, ScrambleSecretOffset + 32));
        a3 = Scramble(a3, Load(ref secret, ScrambleSecretOffset + 48));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AccumulateBlocks(ref ulong acc, ref byte input, nuint blocks, ref byte secret)
    {
        Vector128<ulong> a0 = Vector128.LoadUnsafe(ref acc, 0);
        Vector128<ulong> a1 = Vector128.LoadUnsafe(ref acc, 2);
        Vector128<ulong> a2 = Vector128.LoadUnsafe(ref acc, 4);
        Vector128<ulong> a3 = Vector128.LoadUnsafe(ref acc, 6);
        for (nuint b = 0; b < blocks; b++)
        {
            Block(ref a0, ref a1, ref a2, ref a3, ref Unsafe.Add(ref input, b * BlockLength), ref secret);
        }

        a0.StoreUnsafe(ref acc, 0);
        a1.StoreUnsafe(ref acc, 2);
        a2.StoreUnsafe(ref acc, 4);
        a3.StoreUnsafe(ref acc, 6);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void HashLong(ref ulong acc, ref byte input, nuint length, ref byte secret)
    {
        Vector128<ulong> a0 = Vector128.LoadUnsafe(ref acc, 0);
        Vector128<ulong> a1 = Vector128.LoadUnsafe(ref acc, 2);
        Vector128<ulong> a2 = Vector128.LoadUnsafe(ref acc, 4);
        Vector128<ulong> a3 = Vector128.LoadUnsafe(ref acc, 6);

        nuint blocks = (length - 1) / BlockLength;
        for (nuint b = 0; b < blocks; b++)
        {
            Block(ref a0, ref a1, ref a2, ref a3, ref Unsafe.Add(ref input, b * BlockLength), ref secret);
        }

        ref byte tail = ref Unsafe.Add(ref input, blocks * BlockLength);
        nuint stripes = (length - 1 - (blocks * BlockLength)) / StripeLength;
        for (nuint n = 0; n < stripes; n++)
        {
            Stripe(ref a0, ref a1, ref a2, ref a3, ref Unsafe.Add(ref tail, n * StripeLength), ref Unsafe.Add(ref secret, n * SecretConsumeRate));
        }

        Stripe(ref a0, ref a1, ref a2, ref a3, ref Unsafe.Add(ref input, length - StripeLength), ref Unsafe.Add(ref secret, LastStripeSecretOffset));

        a0.StoreUnsafe(ref acc, 0);
        a1.StoreUnsafe(ref acc, 2);
        a2.StoreUnsafe(ref acc, 4);
        a3.StoreUnsafe(ref acc, 6);
    }
}

/// <summary>
/// 256-bit SIMD kernel: two accumulator vectors of four lanes. Uses AVX2 <c>vpmuludq</c> for the
/// 32x32->64 multiply; elsewhere the portable Vector256 operators.
/// </summary>
internal static class Xxh3Vector256Kernel
{
    internal static bool IsSupported => Vector256.IsHardwareAccelerated && BitConverter.IsLittleEndian;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Load(ref byte source, nuint offset) =>
        Vector256.LoadUnsafe(ref source, offset).AsUInt64();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Round(Vector256<ulong> acc, Vector256<ulong> data, Vector256<ulong> key)
    {
        Vector256<ulong> dataKey = data ^ key;
        Vector256<ulong> product;
        Vector256<ulong> swapped;
        if (Avx2.IsSupported)
        {
            product = Avx2.Multiply(dataKey.AsUInt32(), Avx2.ShiftRightLogical(dataKey, 32).AsUInt32());

            // In-lane dword shuffle swaps adjacent 64-bit lanes without a cross-lane permute.
            swapped = Avx2.Shuffle(data.AsUInt32(), 0b01_00_11_10).AsUInt64();
        }
        else
        {
            product = (dataKey & Vector256.Create(0xFFFF_FFFFUL)) * Vector256.ShiftRightLogical(dataKey, 32);
            swapped = Vector256.Shuffle(data, Vector256.Create(1UL, 0UL, 3UL, 2UL));
        }

        // Summing the two terms first leaves one add, not two, on the loop-carried accumulator chain.
        return acc + (swapped + product);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Scramble(Vector256<ulong> acc, Vector256<ulong> key)
    {
        acc ^= Vector256.ShiftRightLogical(acc, 47);
        acc ^= key;
        if (Avx2.IsSupported)
        {
            // See the Vector128 kernel: a 64x32 multiply built from two 32x32 products.
            Vector256<uint> prime = Vector256.Create(Prime32_1);
            Vector256<ulong> low = Avx2.Multiply(acc.AsUInt32(), prime);
            Vector256<ulong> high = Avx2.Multiply(Avx2.ShiftRightLogical(acc, 32).AsUInt32(), prime);
            return low + Avx2.ShiftLeftLogical(high, 32);
        }

        return acc * Vector256.Create((ulong)Prime32_1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stripe(ref Vector256<ulong> a0, ref Vector256<ulong> a1, ref byte input, ref byte secret)
    {
        a0 = Round(a0, Load(ref input, 0), Load(ref secret, 0));
        a1 = Round(a1, Load(ref input, 32), Load(ref secret, 32));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Accumulate(ref ulong acc, ref byte input, ref byte secret, nuint stripes)
    {
        Vector256<ulong> a0 = Vector256.LoadUnsafe(ref acc, 0);
        Vector256<ulong> a1 = Vector256.LoadUnsafe(ref acc, 4);
        for (nuint n = 0; n < stripes; n++)
        {
            Stripe(ref a0, ref a1, ref Unsafe.Add(ref input, n * StripeLength), ref Unsafe.Add(ref secret, n * SecretConsumeRate));
        }

        a0.StoreUnsafe(ref acc, 0);
        a1.StoreUnsafe(ref acc, 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Scramble(ref ulong acc, ref byte secret)
    {
        Scramble(Vector256.LoadUnsafe(ref acc, 0), Load(ref secret, 0)).StoreUnsafe(ref acc, 0);
        Scramble(Vector256.LoadUnsafe(ref acc, 4), Load(ref secret, 32)).StoreUnsafe(ref acc, 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block(ref Vector256<ulong> a0, ref Vector256<ulong> a1, ref byte block, ref byte secret)
    {
        // Four stripes per iteration: the JIT does not unroll, and the per-stripe work is short
        // enough that loop overhead would otherwise be a large share of it.
        for (nuint n = 0; n < StripesPerBlock; n += 4)
        {
            ref byte stripe = ref Unsafe.Add(ref block, n * StripeLength);
            ref byte key = ref Unsafe.Add(ref secret, n * SecretConsumeRate);
            Stripe(ref a0, ref a1, ref stripe, ref key);
            Stripe(ref a0, ref a1, ref Unsafe.Add(ref stripe, StripeLength), ref Unsafe.Add(ref key, SecretConsumeRate));
            Stripe(ref a0, ref a1, ref Unsafe.Add(ref stripe, 2 * StripeLength), ref Unsafe.Add(ref key, 2 * SecretConsumeRate));
            Stripe(ref a0, ref a1, ref Unsafe.Add(ref stripe, 3 * StripeLength), ref Unsafe.Add(ref key, 3 * SecretConsumeRate));
        }

        a0 = Scramble(a0, Load(ref secret, ScrambleSecretOffset));
        a1 = Scramble(a1, Load(ref secret, ScrambleSecretOffset + 32));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AccumulateBlocks(ref ulong acc, ref byte input, nuint blocks, ref byte secret)
    {
        Vector256<ulong> a0 = Vector256.LoadUnsafe(ref acc, 0);
        Vector256<ulong> a1 = Vector256.LoadUnsafe(ref acc, 4);
        for (nuint b = 0; b < blocks; b++)
        {
            Block(ref a0, ref a1, ref Unsafe.Add(ref input, b * BlockLength), ref secret);
        }

        a0.StoreUnsafe(ref acc, 0);
        a1.StoreUnsafe(ref acc, 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void HashLong(ref ulong acc, ref byte input, nuint length, ref byte secret)
    {
        Vector256<ulong> a0 = Vector256.LoadUnsafe(ref acc, 0);
        Vector256<ulong> a1 = Vector256.LoadUnsafe(ref acc, 4);

        nuint blocks = (length - 1) / BlockLength;
        for (nuint b = 0; b < blocks; b++)
        {
            Block(ref a0, ref a1, ref Unsafe.Add(ref input, b * BlockLength), ref secret);
        }

        ref byte tail = ref Unsafe.Add(ref input, blocks * BlockLength);
        nuint stripes = (length - 1 - (blocks * BlockLength)) / StripeLength;
        for (nuint n = 0; n < stripes; n++)
        {
            Stripe(ref a0, ref a1, ref Unsafe.Add(ref tail, n * StripeLength), ref Unsafe.Add(ref secret, n * SecretConsumeRate));
        }

        Stripe(ref a0, ref a1, ref Unsafe.Add(ref input, length - StripeLength), ref Unsafe.Add(ref secret, LastStripeSecretOffset));

        a0.StoreUnsafe(ref acc, 0);
        a1.StoreUnsafe(ref acc, 4);
    }
}

/// <summary>
/// 512-bit SIMD kernel: all eight accumulators in one vector. Uses AVX-512F <c>vpmuludq</c>; only
/// selected where the runtime reports Vector512 as accelerated (it does not on CPUs that
/// down-clock for 512-bit work).
/// </summary>
internal static class Xxh3Vector512Kernel
{
    internal static bool IsSupported => Vector512.IsHardwareAccelerated && BitConverter.IsLittleEndian;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Load(ref byte source, nuint offset) =>
        Vector512.LoadUnsafe(ref source, offset).AsUInt64();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Round(Vector512<ulong> acc, Vector512<ulong> data, Vector512<ulong> key)
    {
        Vector512<ulong> dataKey = data ^ key;
        Vector512<ulong> product;
        Vector512<ulong> swapped;
        if (Avx512F.IsSupported)
        {
            product = Avx512F.Multiply(dataKey.AsUInt32(), Avx512F.ShiftRightLogical(dataKey, 32).AsUInt32());
            swapped = Avx512F.Shuffle(data.AsUInt32(), 0b01_00_11_10).AsUInt64();
        }
        else
        {
            product = (dataKey & Vector512.Create(0xFFFF_FFFFUL)) * Vector512.ShiftRightLogical(dataKey, 32);
            swapped = Vector512.Shuffle(data, Vector512.Create(1UL, 0UL, 3UL, 2UL, 5UL, 4UL, 7UL, 6UL));
        }

        return acc + (swapped + product);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Scramble(Vector512<ulong> acc, Vector512<ulong> key)
    {
        acc ^= Vector512.ShiftRightLogical(acc, 47);
        acc ^= key;
        if (Avx512F.IsSupported)
        {
            // See the Vector128 kernel: a 64x32 multiply built from two 32x32 products.
            Vector512<uint> prime = Vector512.Create(Prime32_1);
            Vector512<ulong> low = Avx512F.Multiply(acc.AsUInt32(), prime);
            Vector512<ulong> high = Avx512F.Multiply(Avx512F.ShiftRightLogical(acc, 32).AsUInt32(), prime);
            return low + Avx512F.ShiftLeftLogical(high, 32);
        }

        return acc * Vector512.Create((ulong)Prime32_1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Stripe(Vector512<ulong> acc, ref byte input, nuint inputOffset, ref byte secret, nuint secretOffset) =>
        Round(acc, Load(ref input, inputOffset), Load(ref secret, secretOffset));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Accumulate(ref ulong acc, ref byte input, ref byte secret, nuint stripes)
    {
        Vector512<ulong> a = Vector512.LoadUnsafe(ref acc);
        for (nuint n = 0; n < stripes; n++)
        {
            a = Stripe(a, ref input, n * StripeLength, ref secret, n * SecretConsumeRate);
        }

        a.StoreUnsafe(ref acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Scramble(ref ulong acc, ref byte secret) =>
        Scramble(Vector512.LoadUnsafe(ref acc), Load(ref secret, 0)).StoreUnsafe(ref acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Block(Vector512<ulong> a, ref byte block, ref byte secret, Vector512<ulong> scrambleKey)
    {
        // Four stripes per iteration, as in the Vector256 kernel.
        for (nuint n = 0; n < StripesPerBlock; n += 4)
        {
            a = Stripe(a, ref block, n * StripeLength, ref secret, n * SecretConsumeRate);
            a = Stripe(a, ref block, (n + 1) * StripeLength, ref secret, (n + 1) * SecretConsumeRate);
            a = Stripe(a, ref block, (n + 2) * StripeLength, ref secret, (n + 2) * SecretConsumeRate);
            a = Stripe(a, ref block, (n + 3) * StripeLength, ref secret, (n + 3) * SecretConsumeRate);
        }

        return Scramble(a, scrambleKey);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AccumulateBlocks(ref ulong acc, ref byte input, nuint blocks, ref byte secret)
    {
        Vector512<ulong> a = Vector512.LoadUnsafe(ref acc);
        Vector512<ulong> scrambleKey = Load(ref secret, ScrambleSecretOffset);
        for (nuint b = 0; b < blocks; b++)
        {
            a = Block(a, ref Unsafe.Add(ref input, b * BlockLength), ref secret, scrambleKey);
        }

        a.StoreUnsafe(ref acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void HashLong(ref ulong acc, ref byte input, nuint length, ref byte secret)
    {
        Vector512<ulong> a = Vector512.LoadUnsafe(ref acc);
        Vector512<ulong> scrambleKey = Load(ref secret, ScrambleSecretOffset);

        nuint blocks = (length - 1) / BlockLength;
        for (nuint b = 0; b < blocks; b++)
        {
            a = Block(a, ref Unsafe.Add(ref input, b * BlockLength), ref secret, scrambleKey);
        }

        ref byte tail = ref Unsafe.Add(ref input, blocks * BlockLength);
        nuint stripes = (length - 1 - (blocks * BlockLength)) / StripeLength;
        for (nuint n = 0; n < stripes; n++)
        {
            a = Stripe(a, ref tail, n * StripeLength, ref secret, n * SecretConsumeRate);
        }

        a = Stripe(a, ref input, length - StripeLength, ref secret, LastStripeSecretOffset);
        a.StoreUnsafe(ref acc);
    }
}
