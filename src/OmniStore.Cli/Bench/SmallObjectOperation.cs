namespace OmniStore.Cli.Bench;

/// <summary>What the clients of <c>omnistore bench small</c> do, back to back.</summary>
internal enum SmallObjectOperation
{
    /// <summary>Get one of the prepared objects, chosen at random.</summary>
    Get,

    /// <summary>Put an object under a name of its own, acknowledged once durable at the root.</summary>
    Put,
}
