using System.Security.Cryptography;
using OmniStore.Node;
using OmniStore.Security;
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
    /// Every registered transport: the tree suite runs once over each. Over the TLS ones (tls+tcp,
    /// tls+rudp) every node gets a certificate of the cluster's own CA (the root's role root, the
    /// relays' relay), and clients connected through <see cref="ConnectAsync"/> a client's that may
    /// read and write every name.
    /// </summary>
    public static TheoryData<string> Transports => new(OmniStore.Transport.TransportRegistry.Default.Schemes);

    /// <summary>
    /// The transports without TLS: for what only they have (the shared secret, which is not asked
    /// for over TLS) and for raw peers that sign a handshake by hand (over TLS that needs a
    /// certificate's key).
    /// </summary>
    public static TheoryData<string> PlainTransports => new(OmniStore.Transport.TransportRegistry.Default.Schemes.Where(s => !IsTls(s)));

    /// <summary>Whether <paramref name="transport"/> is one of the TLS ones (the shared secret is not asked for over them).</summary>
    public static bool IsTls(string transport) => transport.StartsWith(OmniStore.Transport.Tls.TlsTransport.Prefix, StringComparison.Ordinal);

    private TreeCa? _ca;
    private readonly Dictionary<string, TlsOptions> _tlsByDirectory = [];

    // The client certificate of the cluster each node belongs to, for the static ConnectAsync.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<TreeNode, TlsOptions> ClientTls = [];

    /// <summary>A certificate of the cluster's CA for <paramref name="name"/> (made on first use), answering to 127.0.0.1.</summary>
    internal TlsOptions IssueTls(string name, CertificateRole role, string[]? write = null, string[]? read = null)
    {
        _ca ??= TreeCa.Init(_dir.Sub("ca"), "tree-cluster", 30);
        var issued = _ca.Issue(name, role, ["127.0.0.1", "::1", "localhost"], role == CertificateRole.Client ? write ?? [""] : null, read, 30);
        return WriteIssued(issued, _dir.Sub($"tls-{name}-{Guid.NewGuid():N}"), Path.Combine(_dir.Sub("ca"), TreeCa.CertificateFile));
    }

    /// <summary>Writes <paramref name="issued"/> to <paramref name="directory"/> (the key readable by its owner only) and names the files, with the tree CA's certificate.</summary>
    internal static TlsOptions WriteIssued(IssuedCertificate issued, string directory, string caFile)
    {
        Directory.CreateDirectory(directory);
        var options = new TlsOptions
        {
            CertificateFile = Path.Combine(directory, "node.pem"),
            KeyFile = Path.Combine(directory, "node.key"),
            CaFile = caFile,
        };
        File.WriteAllText(options.CertificateFile, issued.CertificatePem);
        File.WriteAllText(options.KeyFile, issued.KeyPem);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(options.KeyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return options;
    }

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
        directory ??= _dir.Sub($"{site}-{Guid.NewGuid():N}");
        TlsOptions? tls = null;
        if (IsTls(Transport) && !_tlsByDirectory.TryGetValue(directory, out tls))
        {
            // One certificate per data directory: a node restarted on it keeps its key, so its id.
            tls = IssueTls(site, parent is null ? CertificateRole.Root : CertificateRole.Relay);
            _tlsByDirectory[directory] = tls;
        }

        var node = await TreeNode.StartAsync(Configure(new TreeNodeOptions
        {
            Tls = tls,
            Listen = [ListenAddress(port)],
            Parent = parent,
            Site = site,
            DataDirectory = directory,
            CacheSize = parent is null ? 0 : RelayCacheSize,
            Secret = Secret,
            RelaySecret = RelaySecret,
            AcceptRelaysWithoutSecret = AcceptRelaysWithoutSecret,
            BindingCacheSize = BindingCacheSize,
            UpdateTimeout = UpdateTimeout,
            LateRelayCooldown = LateRelayCooldown,
        }));
        _nodes.Add(node);
        if (tls is not null)
        {
            ClientTls.AddOrUpdate(node, IssueTls($"client-of-{site}", CertificateRole.Client));
        }

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

    /// <summary>
    /// A bare link to <paramref name="node"/> and the client identity to run the protocol over it
    /// with: over TLS, a client certificate of the cluster's CA and its key.
    /// </summary>
    internal async Task<(TransportConnection Link, OmniStore.Protocol.ConnectionIdentity Identity)> DialAsync(TreeNode node, LinkCounters counters, CancellationToken ct)
    {
        if (!ClientTls.TryGetValue(node, out var tls))
        {
            return (await TransportRegistry.Default.ConnectAsync(node.Address, counters, ct), OmniStore.Protocol.ConnectionIdentity.NewClient());
        }

        var credentials = tls.Load();
        _credentials.Add(credentials);
        var link = await TransportRegistry.Default.WithTls(credentials).ConnectAsync(node.Address, counters, ct);
        return (link, new OmniStore.Protocol.ConnectionIdentity(OmniStore.Protocol.NodeIdentity.FromCertificate(credentials.Certificate), OmniStore.Protocol.NodeRole.Client, string.Empty, null));
    }

    private readonly List<TlsCredentials> _credentials = [];

    internal static Task<OmniStoreClient> ConnectAsync(TreeNode node, OmniStoreOptions? options = null)
    {
        options ??= new OmniStoreOptions();
        if (options.Tls is null && ClientTls.TryGetValue(node, out var tls))
        {
            options = options with { Tls = tls };
        }

        return OmniStoreClient.ConnectAsync(node.Address.ToString(), options);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_nodes).ToList())
        {
            await node.DisposeAsync();
        }

        _ca?.Dispose();
        foreach (var credentials in _credentials)
        {
            credentials.Dispose();
        }

        _dir.Dispose();
    }
}
