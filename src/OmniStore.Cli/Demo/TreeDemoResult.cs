namespace OmniStore.Cli.Demo;

/// <summary>What the tree demo measured.</summary>
/// <param name="ObjectName">The object the workers got.</param>
/// <param name="Length">Its length in bytes.</param>
/// <param name="ChunkSize">Its chunk size.</param>
/// <param name="PutTime">How long the master's Put to the root took (durable at the root).</param>
/// <param name="Modes">The measurements of each mode, in the order they ran.</param>
internal sealed record TreeDemoResult(string ObjectName, long Length, int ChunkSize, TimeSpan PutTime, IReadOnlyList<TreeDemoMode> Modes);

/// <summary>One mode of the tree demo: every worker got the object at once, from <see cref="Source"/>.</summary>
/// <param name="Name">"direct" or "relay".</param>
/// <param name="Source">Where the workers connected, for people.</param>
/// <param name="Time">From the first Get's start to the last one's end.</param>
/// <param name="RootSent">What the root sent on all its child links during the mode (counter deltas).</param>
/// <param name="RelayReceived">What each relay received from its parent during the mode (counter deltas), by site.</param>
/// <param name="Workers">How many workers got the object.</param>
/// <param name="Verified">How many of their copies had the right length, bytes and XXH3-128.</param>
internal sealed record TreeDemoMode(
    string Name,
    string Source,
    TimeSpan Time,
    LinkBytes RootSent,
    IReadOnlyList<(string Site, LinkBytes Bytes)> RelayReceived,
    int Workers,
    int Verified);

/// <summary>Bytes over a link in one direction: payload (message bytes) and wire (all the transport carried).</summary>
internal readonly record struct LinkBytes(long Payload, long Wire)
{
    public static LinkBytes operator -(LinkBytes after, LinkBytes before) => new(after.Payload - before.Payload, after.Wire - before.Wire);

    public static LinkBytes Subtract(LinkBytes after, LinkBytes before) => after - before;
}
