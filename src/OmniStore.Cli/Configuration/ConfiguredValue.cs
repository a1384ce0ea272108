namespace OmniStore.Cli.Configuration;

/// <summary>A key's value as text, the way the command line would give it (one token per list element), and where it came from.</summary>
/// <param name="Tokens">The value's tokens: one, or one per element of a list.</param>
/// <param name="Source">Which source set it.</param>
/// <param name="Origin">Where exactly: <c>FILE line N</c>, <c>--cache-size</c>, <c>$OMNISTORE_CACHE_SIZE</c>.</param>
internal sealed record ConfiguredValue(IReadOnlyList<string> Tokens, ConfigurationSource Source, string Origin);
