namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// Something the fuzzer feeds inputs to: a decoder, or a whole connection. A run returns an
/// outcome signature (a short string that tells apart the paths an input took: inputs with a new
/// one are kept and mutated further), throws <see cref="OmniStoreException"/> with one of
/// <see cref="DocumentedErrors"/>, or fails: any other exception, an undocumented error code, a
/// broken invariant (<see cref="FuzzInvariantException"/>), more allocation than
/// <see cref="AllocationBound"/>, or (async targets) no end within <see cref="CaseTimeout"/>.
/// </summary>
internal sealed class FuzzTarget
{
    /// <summary>The name, also the folder of its corpus (corpus/NAME/).</summary>
    public required string Name { get; init; }

    /// <summary>Its share of the fuzzing time budget (see <see cref="FuzzSettings"/>).</summary>
    public required double Weight { get; init; }

    /// <summary>The error codes the decoder documents for bad input; an empty list means it never throws.</summary>
    public required IReadOnlyList<OmniStoreError> DocumentedErrors { get; init; }

    /// <summary>Valid encodings made by the real encoders: the committed seeds (corpus/NAME/seed-*.bin).</summary>
    public required Func<IEnumerable<(string Name, byte[] Bytes)>> Seeds { get; init; }

    /// <summary>
    /// Whether a committed seed (first) is what <see cref="Seeds"/> writes today (second). Defaults
    /// to the same bytes; a target whose seeds hold signatures, which differ at every signing,
    /// compares the rest and checks the signature.
    /// </summary>
    public Func<byte[], byte[], bool> SeedMatches { get; init; } = static (committed, expected) => committed.AsSpan().SequenceEqual(expected);

    /// <summary>Runs one input synchronously (allocation is measured on the calling thread).</summary>
    public Func<byte[], string>? Run { get; init; }

    /// <summary>Runs one input asynchronously (allocation is measured process-wide: such a target must run alone).</summary>
    public Func<byte[], CancellationToken, Task<string>>? RunAsync { get; init; }

    /// <summary>Extra error codes an input allows (for example codes that a peer's own ERROR frame carries).</summary>
    public Func<byte[], IEnumerable<OmniStoreError>>? ErrorsAllowedByInput { get; init; }

    /// <summary>The outcome feature of a documented error, when its message holds text the input chose (defaults to the message's shape).</summary>
    public Func<byte[], OmniStoreException, string>? ErrorFeature { get; init; }

    /// <summary>Exceptions that a documented error may wrap, with whatever they wrap in turn (a library's own error, documented by it).</summary>
    public IReadOnlyList<Type> OpaqueInnerExceptions { get; init; } = [];

    /// <summary>Tokens the mutator inserts or overwrites with (magic numbers, JSON keys, valid names).</summary>
    public IReadOnlyList<byte[]> Dictionary { get; init; } = [];

    /// <summary>Mutated inputs are cut to this length.</summary>
    public int MaxInputLength { get; init; } = 64 * 1024;

    /// <summary>Whether the inputs are frame streams (adds frame-aware mutations).</summary>
    public bool FrameAware { get; init; }

    /// <summary>
    /// The most bytes one input may cost, allocated or rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>.
    /// Defaults to four times the input plus 64 KiB: a decoder may copy what it has, never size a
    /// buffer from a length it read without the bytes being there.
    /// </summary>
    public Func<byte[], long> AllocationBound { get; init; } = static input => (4L * input.Length) + (64 * 1024);

    /// <summary>Whether exceeding <see cref="AllocationBound"/> fails the run, or is only reported.</summary>
    public bool AllocationBoundEnforced { get; init; } = true;

    /// <summary>How long one input of an async target may take before it counts as a hang.</summary>
    public TimeSpan CaseTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public override string ToString() => Name;
}

/// <summary>Thrown by a target when an input breaks one of its invariants (a round trip, a limit): always a failure.</summary>
internal sealed class FuzzInvariantException : Exception
{
    public FuzzInvariantException(string message)
        : base(message)
    {
    }

    public FuzzInvariantException()
    {
    }

    public FuzzInvariantException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new FuzzInvariantException(what);
        }
    }
}
