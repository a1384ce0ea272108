namespace OmniStore.Cli.Bench;

/// <summary>How the workers of a staging run get the object.</summary>
internal enum StagingMode
{
    /// <summary>Every worker fetches from the root, across the WAN (the seed's "OmniRPC only").</summary>
    Direct,

    /// <summary>Workers fetch through their site's relay, which misses once to the root.</summary>
    Relay,

    /// <summary>The Put pushes the object to every relay; workers then hit their relay's cache.</summary>
    RelayBroadcast,
}

internal static class StagingModes
{
    public static string Name(this StagingMode mode) => mode switch
    {
        StagingMode.Direct => "direct",
        StagingMode.Relay => "relay",
        StagingMode.RelayBroadcast => "relay+broadcast",
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    public static bool TryParse(string text, out StagingMode mode)
    {
        foreach (var candidate in Enum.GetValues<StagingMode>())
        {
            if (string.Equals(candidate.Name(), text.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                mode = candidate;
                return true;
            }
        }

        mode = default;
        return false;
    }
}
