using System.Runtime.CompilerServices;

namespace OmniStore.Content.Internal;

// Fixed-size inline buffers: they live on the stack in the one-shot path and inside the hasher
// object in the streaming path, so neither needs a separate array allocation.

/// <summary>The eight 64-bit accumulators of the long-input path.</summary>
[InlineArray(Xxh3Core.AccumulatorCount)]
internal struct Xxh3Accumulators
{
    private ulong _element0;
}

/// <summary>A 192-byte secret, used when a non-zero seed derives its own.</summary>
[InlineArray(Xxh3Core.SecretSize)]
internal struct Xxh3Secret
{
    private byte _element0;
}

/// <summary>
/// Streaming buffer: one stripe of already-consumed input followed by the pending input.
/// Keeping the consumed stripe directly in front of the pending bytes makes "the last 64 bytes of
/// the input" one contiguous range however few bytes are pending.
/// </summary>
[InlineArray(Xxh3Core.StripeLength + Xxh3Core.StreamPendingCapacity)]
internal struct Xxh3StreamBuffer
{
    private byte _element0;
}
