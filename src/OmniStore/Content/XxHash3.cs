using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OmniStore.Content.Internal;

namespace OmniStore.Content;

/// <summary>
/// One-shot XXH3 hashing (64-bit and 128-bit variants), bit-exact with the reference xxHash 0.8.x
/// implementation (<c>XXH3_64bits_withSeed</c> / <c>XXH3_128bits_withSeed</c>).
/// </summary>
/// <remarks>
/// <para>
/// XXH3 is a fast non-cryptographic hash: use it for content addressing, deduplication and integrity
/// checks against accidental corruption, never against an adversary.
/// </para>
/// <para>
/// Inputs longer than 240 bytes are processed with 512-, 256- or 128-bit SIMD when the CPU supports it,
/// and with a scalar loop otherwise; every path produces identical results.
/// For incremental input use <see cref="XxHash3Hasher"/>.
/// </para>
/// </remarks>
internal static class XxHash3
{
    /// <summary>
    /// The fastest kernel this process can run. A <c>static readonly</c> so the tiered JIT folds the
    /// selection into a constant and the public entry points pay nothing for the choice.
    /// </summary>
    internal static readonly XxHash3Path DefaultPath = SelectDefaultPath();

    /// <summary>Computes the 64-bit XXH3 hash of <paramref name="data"/>.</summary>
    /// <param name="data">The bytes to hash.</param>
    /// <param name="seed">
    /// The seed; 0 (the default) gives the same result as the reference <c>XXH3_64bits</c>
    /// and <c>xxhsum -H3</c>.
    /// </param>
    /// <returns>The 64-bit hash.</returns>
    public static ulong Hash64(ReadOnlySpan<byte> data, ulong seed = 0) => Hash64(data, seed, DefaultPath);

    /// <summary>Computes the 128-bit XXH3 hash (XXH128) of <paramref name="data"/>.</summary>
    /// <param name="data">The bytes to hash.</param>
    /// <param name="seed">
    /// The seed; 0 (the default) gives the same result as the reference <c>XXH3_128bits</c>
    /// and <c>xxhsum -H2</c>.
    /// </param>
    /// <returns>
    /// The 128-bit hash: <see cref="UInt128"/>'s upper 64 bits are the reference's <c>high64</c> and the
    /// lower 64 bits its <c>low64</c>, so the value's big-endian hex form is xxHash's canonical form.
    /// </returns>
    public static UInt128 Hash128(ReadOnlySpan<byte> data, ulong seed = 0) => Hash128(data, seed, DefaultPath);

    /// <summary>Computes the 64-bit hash with an explicit kernel, so tests can compare every kernel on one machine.</summary>
    internal static ulong Hash64(ReadOnlySpan<byte> data, ulong seed, XxHash3Path path)
    {
        ref byte input = ref MemoryMarshal.GetReference(data);
        nuint length = (nuint)data.Length;
        return length <= Xxh3Core.MidSizeMax
            ? Xxh3Core.Hash64Short(ref input, length, seed)
            : HashLong64(ref input, length, seed, path);
    }

    /// <summary>Computes the 128-bit hash with an explicit kernel, so tests can compare every kernel on one machine.</summary>
    internal static UInt128 Hash128(ReadOnlySpan<byte> data, ulong seed, XxHash3Path path)
    {
        ref byte input = ref MemoryMarshal.GetReference(data);
        nuint length = (nuint)data.Length;
        return length <= Xxh3Core.MidSizeMax
            ? Xxh3Core.Hash128Short(ref input, length, seed)
            : HashLong128(ref input, length, seed, path);
    }

    /// <summary>Whether <paramref name="path"/> can run on this CPU.</summary>
    internal static bool IsSupported(XxHash3Path path) => path switch
    {
        XxHash3Path.Scalar => true,
        XxHash3Path.Vector128 => Xxh3Vector128Kernel.IsSupported,
        XxHash3Path.Vector256 => Xxh3Vector256Kernel.IsSupported,
        XxHash3Path.Vector512 => Xxh3Vector512Kernel.IsSupported,
        _ => false,
    };

    /// <summary>Folds consecutive stripes of one block into the accumulators with the kernel for <paramref name="path"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Accumulate(XxHash3Path path, ref ulong acc, ref byte input, ref byte secret, nuint stripes)
    {
        switch (path)
        {
            case XxHash3Path.Vector512:
                Xxh3Vector512Kernel.Accumulate(ref acc, ref input, ref secret, stripes);
                break;
            case XxHash3Path.Vector256:
                Xxh3Vector256Kernel.Accumulate(ref acc, ref input, ref secret, stripes);
                break;
            case XxHash3Path.Vector128:
                Xxh3Vector128Kernel.Accumulate(ref acc, ref input, ref secret, stripes);
                break;
            default:
                Xxh3ScalarKernel.Accumulate(ref acc, ref input, ref secret, stripes);
                break;
        }
    }

    /// <summary>Folds whole blocks (each followed by its scramble) into the accumulators with the kernel for <paramref name="path"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void AccumulateBlocks(XxHash3Path path, ref ulong acc, ref byte input, nuint blocks, ref byte secret)
    {
        switch (path)
        {
            case XxHash3Path.Vector512:
                Xxh3Vector512Kernel.AccumulateBlocks(ref acc, ref input, blocks, ref secret);
                break;
            case XxHash3Path.Vector256:
                Xxh3Vector256Kernel.AccumulateBlocks(ref acc, ref input, blocks, ref secret);
                break;
            case XxHash3Path.Vector128:
                Xxh3Vector128Kernel.AccumulateBlocks(ref acc, ref input, blocks, ref secret);
                break;
            default:
                Xxh3ScalarKernel.AccumulateBlocks(ref acc, ref input, blocks, ref secret);
                break;
        }
    }

    /// <summary>Scrambles the accumulators at the end of a block with the kernel for <paramref name="path"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Scramble(XxHash3Path path, ref ulong acc, ref byte secret)
    {
        switch (path)
        {
            case XxHash3Path.Vector512:
                Xxh3Vector512Kernel.Scramble(ref acc, ref secret);
                break;
            case XxHash3Path.Vector256:
                Xxh3Vector256Kernel.Scramble(ref acc, ref secret);
                break;
            case XxHash3Path.Vector128:
                Xxh3Vector128Kernel.Scramble(ref acc, ref secret);
                break;
            default:
                Xxh3ScalarKernel.Scramble(ref acc, ref secret);
                break;
        }
    }

    // The long paths are separate, non-inlined methods so the short-input entry points stay small
    // and free of the stack buffers below.
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong HashLong64(ref byte input, nuint length, ulong seed, XxHash3Path path)
    {
        Unsafe.SkipInit(out Xxh3Secret derived);
        scoped ref byte secret = ref SelectSecret(seed, ref derived);
        Unsafe.SkipInit(out Xxh3Accumulators acc);
        RunLong(path, ref acc[0], ref input, length, ref secret);
        return Xxh3Core.FinishLong64(ref acc[0], ref secret, length);
    }

    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static UInt128 HashLong128(ref byte input, nuint length, ulong seed, XxHash3Path path)
    {
        Unsafe.SkipInit(out Xxh3Secret derived);
        scoped ref byte secret = ref SelectSecret(seed, ref derived);
        Unsafe.SkipInit(out Xxh3Accumulators acc);
        RunLong(path, ref acc[0], ref input, length, ref secret);
        return Xxh3Core.FinishLong128(ref acc[0], ref secret, length);
    }

    /// <summary>
    /// Long inputs take their seed only through a secret derived from it; seed 0 derives the default
    /// secret itself, so that case skips the derivation.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref byte SelectSecret(ulong seed, ref Xxh3Secret derived)
    {
        if (seed == 0)
        {
            return ref Xxh3Core.DefaultSecretRef;
        }

        Xxh3Core.DeriveSecret(seed, ref derived[0]);
        return ref derived[0];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunLong(XxHash3Path path, ref ulong acc, ref byte input, nuint length, ref byte secret)
    {
        Xxh3Core.InitAccumulators(ref acc);
        switch (path)
        {
            case XxHash3Path.Vector512:
                Xxh3Vector512Kernel.HashLong(ref acc, ref input, length, ref secret);
                break;
            case XxHash3Path.Vector256:
                Xxh3Vector256Kernel.HashLong(ref acc, ref input, length, ref secret);
                break;
            case XxHash3Path.Vector128:
                Xxh3Vector128Kernel.HashLong(ref acc, ref input, length, ref secret);
                break;
            default:
                Xxh3ScalarKernel.HashLong(ref acc, ref input, length, ref secret);
                break;
        }
    }

    private static XxHash3Path SelectDefaultPath()
    {
        if (Xxh3Vector512Kernel.IsSupported)
        {
            return XxHash3Path.Vector512;
        }

        if (Xxh3Vector256Kernel.IsSupported)
        {
            return XxHash3Path.Vector256;
        }

        return Xxh3Vector128Kernel.IsSupported ? XxHash3Path.Vector128 : XxHash3Path.Scalar;
    }
}

/// <summary>The kernel used for inputs longer than 240 bytes; shorter inputs are always scalar.</summary>
internal enum XxHash3Path
{
    /// <summary>Portable 64-bit arithmetic.</summary>
    Scalar = 0,

    /// <summary>128-bit SIMD (SSE2 on x86; the portable Vector128 operators elsewhere, e.g. Arm64 AdvSimd).</summary>
    Vector128 = 1,

    /// <summary>256-bit SIMD (AVX2).</summary>
    Vector256 = 2,

    /// <summary>512-bit SIMD (AVX-512F), where the runtime considers Vector512 profitable.</summary>
    Vector512 = 3,
}
