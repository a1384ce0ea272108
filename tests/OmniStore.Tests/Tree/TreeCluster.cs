using System.Security.Cryptography;
using OmniStore.Node;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>A root and relays on loopback, each with its own store, torn down on dispose.</summary>
public sealed class TreeCluster : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("omnistore-tree");
    private readonly List<TreeNode> _nodes = [];

    internal TreeNode Root { get; private set; } = null!;

    internal List<TreeNode> Relays { get; } = [];

    public byte[]? Secret { get; init; }

    /// <summary>The tree's relay secret, given to every node: random per cluster unless a test sets it.</summary>
    public byte[]? RelaySecret { get; init; } = RandomNumberGenerator.GetBytes(32);

    public bool AcceptRelaysWithoutSecret { get; init; }

    public TimeSpan LateRelayCooldown { get; init; } = TimeSpan.FromSeconds(30);

    public long RelayCacheSize { get; init; } = 512L << 20;

    public int BindingCacheSize { get; init; } = TreeNodeOptions.DefaultBindingCacheSize;

    /// <summary>Changes to every node's options (limits under test).</summary>
    internal Func<TreeNodeOptions, TreeNodeOptions> Configure { get; init; } = static options => options;

    public TimeSpan UpdateTimeout { get; init; } = TreeNodeOptions.DefaultUpdateTimeout;

    /// <summary>The transport the nodes listen and connect with: <c>tcp</c> or <c>mem</c>. Defaults to tcp.</summary>
    public string Transport { get; init; } = "tcp";

    /// <summary>
    /// Every registered transport: the tree suite runs once over each. The TLS ones (tls+tcp,
    /// tls+rudp) need every node to hold a certificate, which this cluster does not give them yet.
    /// </summary>
    public static TheoryData<string> Transports => new(OmniStore.Transport.TransportRegistry.Default.Schemes.Where(s => !s.StartsWith(OmniStore.Transport.Tls.TlsTransport.Prefix, StringComparison.Ordinal)));

    internal static async Task<TreeCluster> StartAsync(int relays, byte[]? secret = null, long relayCache = 512L << 20, string transport = "tcp")
    {
        var cluster = new TreeCluster { Secret = secret, RelayCacheSize = relayCache, Transport = transport };
        cluster.Root = await cluster.StartNodeAsync("root", parent: null);
        for (int i = 0; i < relays; i++)
        {
            cluster.Relays.Add(await cluster.StartNodeAsync($"site{i}", cluster.Root.Address));
        }

        return cluster;
    }

    /// <summary>As <see cref="StartAsync"/> over tcp, with <paramref name="configure"/> applied to every node's options.</summary>
    internal static async Task<TreeCluster> StartWithAsync(int relays, Func<TreeNodeOptions, TreeNodeOptions> configure)
    {
        var cluster = new TreeCluster { Configure = configure };
        try
        {
            cluster.Root = await cluster.StartNodeAsync("root", parent: null);
            for (int i = 0; i < relays; i++)
            {
                cluster.Relays.Add(await cluster.StartNodeAsync($"site{i}", cluster.Root.Address));
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    internal async Task<TreeNode> StartNodeAsync(string site, NodeAddress? parent, string? directory = null, int port = 0)
    {
        var node = await TreeNode.StartAsync(Configure(new TreeNodeOptions
        {
            Listen = [ListenAddress(port)],
            Parent = parent,
            Site = site,
            DataDirectory = directory ?? _dir.Sub($"{site}-{Guid.NewGuid():N}"),
            CacheSize = parent is null ? 0 : RelayCacheSize,
            Secret = Secret,
            RelaySecret = RelaySecret,
            AcceptRelaysWithoutSecret = AcceptRelaysWithoutSecret,
            BindingCacheSize = BindingCacheSize,
            UpdateTimeout = UpdateTimeout,
            LateRelayCooldown = LateRelayCooldown,
        }));
        _nodes.Add(node);
        return node;
    }

    internal string DirectoryOf(string name) => _dir.Sub(name);

    /// <summary>Where a node listens: a port (0: any) on loopback, or an in-process name (0: a fresh one; else the one that port was reported with).</summary>
    private NodeAddress ListenAddress(int port) => Transport switch
    {
        "mem" => port == 0 ? new NodeAddress("mem", "node", 0) : new NodeAddress("mem", $"node-{port}", port),
        _ => new NodeAddress(Transport, "127.0.0.1", port),
    };

    internal async Task StopAsync(TreeNode node)
    {
        _nodes.Remove(node);
        await node.DisposeAsync();
    }

    internal static Task<OmniStoreClient> ConnectAsync(TreeNode node, OmniStoreOptions? options = null) =>
        OmniStoreClient.ConnectAsync(node.Address.ToString(), options ?? new OmniStoreOptions());

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_nodes).ToList())
        {
            await node.DisposeAsync();
        }

        _dir.Dispose();
    }
}
