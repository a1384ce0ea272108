using System.Diagnostics;
using System.Security.Cryptography;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Transport;

namespace OmniStore.Cli.Demo;

/// <summary>
/// The tree demo, in one process over loopback sockets: a root, two site relays and eight workers
/// (four per site). The master puts one object at the root; then all workers get it at once, first
/// each straight from the root ("direct"), then each through its site's relay ("relay"). Every
/// figure comes from the nodes' link counters, read before and after each mode; nothing is
/// computed from what the tree is supposed to do.
/// </summary>
internal static class TreeDemoRun
{
    public const string ObjectName = "demo/tree";
    public const int WorkersPerSite = 4;

    private static readonly string[] Sites = ["site-a", "site-b"];
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Each relay's cache: room for the object with margin, and at least 256 MiB.</summary>
    public static long RelayCacheSize(long objectSize) => Math.Max(256L << 20, 2 * objectSize);

    public static async Task<TreeDemoResult> RunAsync(long size, int chunkSize, string directory, CancellationToken cancellationToken)
    {
        var data = new byte[size];
        DemoDataSet.FillPseudoRandom(data, seed: 3UL << 32);
        var expectedHash = XxHash3.Hash128(data);
        var clientOptions = new OmniStoreOptions { DataDirectory = directory, ChunkSize = chunkSize };

        var nodes = new List<TreeNode>();

        // The demo's nodes share a relay secret of their own, made for this run: its root accepts
        // its relays, and nothing else that says it is one.
        var relaySecret = RandomNumberGenerator.GetBytes(32);
        try
        {
            var root = await StartNodeAsync(nodes, "root", parent: null, Path.Combine(directory, "root"), cacheSize: 0, relaySecret, cancellationToken);
            var relays = new List<TreeNode>();
            foreach (string site in Sites)
            {
                relays.Add(await StartNodeAsync(nodes, site, root.Address, Path.Combine(directory, site), RelayCacheSize(size), relaySecret, cancellationToken));
            }

            TimeSpan putTime;
            await using (var master = await OmniStoreClient.ConnectAsync(root.Address.ToString(), clientOptions, cancellationToken))
            {
                long start = Stopwatch.GetTimestamp();
                await master.PutAsync(ObjectName, data, cancellationToken);
                putTime = Stopwatch.GetElapsedTime(start);
            }

            var modes = new List<TreeDemoMode>();
            var direct = Enumerable.Repeat(root, Sites.Length * WorkersPerSite).ToList();
            modes.Add(await RunModeAsync("direct", "every worker gets it from the root", direct, root, relays, data, expectedHash, clientOptions, cancellationToken));
            var throughRelays = Enumerable.Range(0, Sites.Length * WorkersPerSite).Select(w => relays[w / WorkersPerSite]).ToList();
            modes.Add(await RunModeAsync("relay", "every worker gets it from its site's relay", throughRelays, root, relays, data, expectedHash, clientOptions, cancellationToken));
            return new TreeDemoResult(ObjectName, size, chunkSize, putTime, modes);
        }
        finally
        {
            foreach (var node in Enumerable.Reverse(nodes))
            {
                await node.DisposeAsync();
            }
        }
    }

    private static async Task<TreeNode> StartNodeAsync(List<TreeNode> nodes, string site, NodeAddress? parent, string directory, long cacheSize, byte[] relaySecret, CancellationToken cancellationToken)
    {
        var node = await TreeNode.StartAsync(
            new TreeNodeOptions
            {
                Listen = [new NodeAddress("tcp", "127.0.0.1", 0)],
                Parent = parent,
                Site = site,
                DataDirectory = directory,
                CacheSize = cacheSize,
                RelaySecret = relaySecret,
            },
            cancellationToken);
        nodes.Add(node);
        if (parent is not null && node.Parent?.Current is null)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The relay {site} could not connect to the root at {parent}.");
        }

        return node;
    }

    /// <summary>Connects one worker to each of <paramref name="targets"/>, and has them all get the object at once.</summary>
    private static async Task<TreeDemoMode> RunModeAsync(
        string name,
        string source,
        IReadOnlyList<TreeNode> targets,
        TreeNode root,
        List<TreeNode> relays,
        byte[] data,
        UInt128 expectedHash,
        OmniStoreOptions options,
        CancellationToken cancellationToken)
    {
        var workers = new List<OmniStoreClient>();
        try
        {
            foreach (var target in targets)
            {
                workers.Add(await OmniStoreClient.ConnectAsync(target.Address.ToString(), options, cancellationToken));
            }

            // A node registers a child just after the handshake: wait until it counts them all, so
            // that the "before" figures include every link the mode will use.
            await WaitForChildrenAsync(root, relays.Count + targets.Count(t => t == root), cancellationToken);
            foreach (var relay in relays)
            {
                await WaitForChildrenAsync(relay, targets.Count(t => t == relay), cancellationToken);
            }

            var rootBefore = SentToChildren(root);
            var relaysBefore = relays.Select(ReceivedFromParent).ToList();
            long start = Stopwatch.GetTimestamp();
            var copies = await Task.WhenAll(workers.Select(async worker =>
            {
                var copy = new VerifyingStream(data);
                long length = await worker.GetAsync(ObjectName, copy, cancellationToken);
                return length == data.Length && copy.BytesWritten == data.Length && copy.FirstMismatch is null && copy.Hash == expectedHash;
            }));
            var time = Stopwatch.GetElapsedTime(start);

            // Read while every worker is still connected: a closed link's counters leave the node's list.
            var rootSent = SentToChildrenSince(root, rootBefore);
            var relayReceived = relays.Select((relay, i) => (relay.Site, ReceivedFromParent(relay) - relaysBefore[i])).ToList();
            return new TreeDemoMode(name, source, time, rootSent, relayReceived, workers.Count, copies.Count(ok => ok));
        }
        finally
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    private static async Task WaitForChildrenAsync(TreeNode node, int count, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        while (node.Children.Count < count)
        {
            if (Stopwatch.GetElapsedTime(start) > ConnectTimeout)
            {
                throw new OmniStoreException(OmniStoreError.Unavailable, $"{node.Site} has {node.Children.Count} children after {ConnectTimeout.TotalSeconds} s; {count} connected to it.");
            }

            await Task.Delay(10, cancellationToken);
        }
    }

    /// <summary>What <paramref name="node"/> has sent on each of its child links so far.</summary>
    private static Dictionary<PeerConnection, LinkBytes> SentToChildren(TreeNode node) =>
        node.Children.ToDictionary(child => child, child => new LinkBytes(child.Counters.PayloadOut, child.Counters.WireOut));

    /// <summary>
    /// What <paramref name="node"/> sent to its children since <paramref name="before"/>, link by
    /// link: a link that closed meanwhile (the master's) must not subtract what it had carried.
    /// </summary>
    private static LinkBytes SentToChildrenSince(TreeNode node, Dictionary<PeerConnection, LinkBytes> before)
    {
        var total = default(LinkBytes);
        foreach (var (child, now) in SentToChildren(node))
        {
            var delta = now - before.GetValueOrDefault(child);
            total = new LinkBytes(total.Payload + delta.Payload, total.Wire + delta.Wire);
        }

        return total;
    }

    private static LinkBytes ReceivedFromParent(TreeNode relay) =>
        relay.Parent is { Counters: var counters } ? new LinkBytes(counters.PayloadIn, counters.WireIn) : default;
}
