using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OmniStore.Content.Internal;
using static OmniStore.Content.Internal.Xxh3Core;

namespace OmniStore.Content;

/// <summary>
/// Incremental XXH3 hasher: feed the input in pieces of any size with <see cref="Append"/> and read
/// the 64-bit or 128-bit hash at any point. The result always equals <see cref="XxHash3.Hash64(ReadOnlySpan{byte}, ulong)"/> /
/// <see cref="XxHash3.Hash128(ReadOnlySpan{byte}, ulong)"/> of the concatenated input, however it was split.
/// </summary>
/// <remarks>
/// Instances are not thread-safe. Reading a hash does not change the state, so a caller can keep
/// appending afterwards; <see cref="Reset"/> starts over with the same seed.
/// </remarks>
internal sealed class XxHash3Hasher
{
    private readonly ulong _seed;
    private readonly XxHash3Path _path;

    // Always a private copy, even for seed 0: one code path, and 192 bytes per hasher is cheap.
    private Xxh3Secret _secret;
    private Xxh3Accumulators _acc;

    // [0, StripeLength): the last stripe consumed; [StripeLength, ...): pending input.
    private Xxh3StreamBuffer _buffer;
    private int _pendingLength;
    private nuint _stripesInBlock;
    private ulong _totalLength;

    /// <summary>Creates a hasher with the given seed.</summary>
    /// <param name="seed">
    /// The seed; the hashes equal <see cref="XxHash3.Hash64(ReadOnlySpan{byte}, ulong)"/> / <see cref="XxHash3.Hash128(ReadOnlySpan{byte}, ulong)"/> with the same seed.
    /// </param>
    public XxHash3Hasher(ulong seed = 0)
        : this(seed, XxHash3.DefaultPath)
    {
    }

    /// <summary>Creates a hasher pinned to one kernel, so tests can cover every kernel on one machine.</summary>
    internal XxHash3Hasher(ulong seed, XxHash3Path path)
    {
        _seed = seed;
        _path = path;
        DeriveSecret(seed, ref _secret[0]);
        Reset();
    }

    /// <summary>Gets the seed this hasher was created with.</summary>
    public ulong Seed => _seed;

    /// <summary>Gets the number of bytes appended since creation or the last <see cref="Reset"/>.</summary>
    public ulong Length => _totalLength;

    /// <summary>Discards all appended input; the seed is kept.</summary>
    public void Reset()
    {
        InitAccumulators(ref _acc[0]);
        _stripesInBlock = 0;
        _pendingLength = 0;
        _totalLength = 0;
    }

    /// <summary>Adds <paramref name="data"/> to the input.</summary>
    /// <param name="data">The next bytes of the input; may be empty.</param>
    public void Append(ReadOnlySpan<byte> data)
    {
        _totalLength += (ulong)data.Length;
        Span<byte> buffer = _buffer;
        Span<byte> pending = buffer[StripeLength..];
        int free = StreamPendingCapacity - _pendingLength;
        if (data.Length <= free)
        {
            data.CopyTo(pending[_pendingLength..]);
            _pendingLength += data.Length;
            return;
        }

        // From here on at least one byte of input stays pending after everything consumed below:
        // the final stripe must be hashed with its own key at digest time, so a stripe is only
        // consumed once it is known not to be the last.
        if (_pendingLength > 0)
        {
            data[..free].CopyTo(pending[_pendingLength..]);
            data = data[free..];
            ConsumeStripes(_path, ref _acc[0], ref _stripesInBlock, ref pending[0], StreamPendingCapacity / StripeLength, ref _secret[0]);
            pending[(StreamPendingCapacity - StripeLength)..].CopyTo(buffer);
            _pendingLength = 0;
        }

        if (data.Length > StreamPendingCapacity)
        {
            // Large input is consumed in place rather than copied through the buffer.
            int stripes = (data.Length - 1) / StripeLength;
            ConsumeStripes(_path, ref _acc[0], ref _stripesInBlock, ref MemoryMarshal.GetReference(data), (nuint)stripes, ref _secret[0]);
            int consumed = stripes * StripeLength;
            data.Slice(consumed - StripeLength, StripeLength).CopyTo(buffer);
            data = data[consumed..];
        }

        data.CopyTo(pending);
        _pendingLength = data.Length;
    }

    /// <summary>Computes the 64-bit XXH3 hash of everything appended so far.</summary>
    /// <returns>The same value as <see cref="XxHash3.Hash64(ReadOnlySpan{byte}, ulong)"/> over the whole input with this hasher's seed.</returns>
    public ulong GetCurrentHash64()
    {
        if (_totalLength <= MidSizeMax)
        {
            return XxHash3.Hash64(PendingSpan(), _seed);
        }

        Xxh3Accumulators acc = _acc;
        DigestLong(ref acc[0]);
        return FinishLong64(ref acc[0], ref _secret[0], _totalLength);
    }

    /// <summary>Computes the 128-bit XXH3 hash (XXH128) of everything appended so far.</summary>
    /// <returns>The same value as <see cref="XxHash3.Hash128(ReadOnlySpan{byte}, ulong)"/> over the whole input with this hasher's seed.</returns>
    public UInt128 GetCurrentHash128()
    {
        if (_totalLength <= MidSizeMax)
        {
            return XxHash3.Hash128(PendingSpan(), _seed);
        }

        Xxh3Accumulators acc = _acc;
        DigestLong(ref acc[0]);
        return FinishLong128(ref acc[0], ref _secret[0], _totalLength);
    }

    // Short inputs never reach the accumulators (the pending buffer outgrows MidSizeMax before
    // anything is consumed), so they are still whole in the buffer.
    private ReadOnlySpan<byte> PendingSpan() => ((ReadOnlySpan<byte>)_buffer).Slice(StripeLength, _pendingLength);

    /// <summary>Finishes a copy of the accumulators, leaving the hasher itself untouched.</summary>
    private void DigestLong(ref ulong acc)
    {
        nuint stripesInBlock = _stripesInBlock;
        nuint stripes = (nuint)(_pendingLength - 1) / StripeLength;
        ConsumeStripes(_path, ref acc, ref stripesInBlock, ref _buffer[StripeLength], stripes, ref _secret[0]);

        // The final 64 input bytes end where the pending bytes end; with fewer than 64 pending they
        // reach back into the saved stripe in front of them.
        XxHash3.Accumulate(_path, ref acc, ref _buffer[_pendingLength], ref _secret[LastStripeSecretOffset], 1);
    }

    /// <summary>Consumes whole stripes, scrambling whenever a 1024-byte block fills up.</summary>
    private static void ConsumeStripes(
        XxHash3Path path,
        ref ulong acc,
        ref nuint stripesInBlock,
        ref byte input,
        nuint stripes,
        ref byte secret)
    {
        while (stripes > 0)
        {
            if (stripesInBlock == 0 && stripes >= StripesPerBlock)
            {
                // Block-aligned bulk input: the kernels keep the accumulators in registers across blocks.
                nuint blocks = stripes / StripesPerBlock;
                XxHash3.AccumulateBlocks(path, ref acc, ref input, blocks, ref secret);
                input = ref Unsafe.Add(ref input, blocks * BlockLength);
                stripes -= blocks * StripesPerBlock;
                continue;
            }

            nuint take = Math.Min(StripesPerBlock - stripesInBlock, stripes);
            XxHash3.Accumulate(path, ref acc, ref input, ref Unsafe.Add(ref secret, stripesInBlock * SecretConsumeRate), take);
            input = ref Unsafe.Add(ref input, take * StripeLength);
            stripes -= take;
            stripesInBlock += take;
            if (stripesInBlock == StripesPerBlock)
            {
                XxHash3.Scramble(path, ref acc, ref Unsafe.Add(ref secret, ScrambleSecretOffset));
                stripesInBlock = 0;
            }
        }
    }
}
