using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using OmniStore.Cli.Tests.Infrastructure;
using OmniStore.Lab;
using OmniStore.Nat;
using OmniStore.Nat.PortMapping;
using OmniStore.Protocol;
using OmniStore.Testing;
using OmniStore.Transport;
using OmniStore.Transport.Rudp;
using OmniStore.Transport.Rudp.Internal;
using LabNetwork = OmniStore.Lab.Lab;

namespace OmniStore.Cli.Tests.Nat;

/// <summary>
/// A lab for NAT traversal (docs/nat.md): a public site with an <c>omnistore rendezvous</c>, and two
/// sites of each NAT kind (none, cone, symmetric). Nodes in it are in-process: their sockets are
/// made inside a site's namespace and stay there.
/// </summary>
internal sealed class NatLab : IAsyncDisposable
{
    public static readonly byte[] Secret = "the lab tree's shared secret, 32"u8.ToArray();

    private readonly TempDirectory _dir = new("omnistore-natlab");
    private LabNetwork? _lab;
    private DaemonProcess? _rendezvous;

    /// <summary>The site names: "public" (the rendezvous), then none-a/b, cone-a/b, symmetric-a/b.</summary>
    public static readonly string[] Kinds = ["none", "cone", "symmetric", "upnp"];

    private static readonly string[] Ends = ["a", "b"];

    public LabNetwork Lab => _lab!;

    public NodeAddress Rendezvous { get; private set; } = null!;

    public DaemonProcess RendezvousProcess => _rendezvous!;

    public static async Task<NatLab> StartAsync(CancellationToken cancellationToken)
    {
        var natLab = new NatLab();
        try
        {
            var link = new WanLinkSpec { Delay = TimeSpan.FromMilliseconds(5) };
            natLab._lab = await LabNetwork.StartAsync(new LabTopology
            {
                Master = new SiteSpec("public") { Link = link },
                Sites = [.. Kinds.SelectMany(kind => Ends.Select(end => new SiteSpec($"{kind}-{end}") { Link = link, Nat = Nat(kind) }))],
            }, cancellationToken);
            string secretFile = natLab._dir.Sub("secret");
            await File.WriteAllBytesAsync(secretFile, Secret, cancellationToken);
            natLab._rendezvous = await DaemonProcess.StartInNamespaceAsync(natLab.Lab.Master.Namespace, natLab._dir.Sub("data"), "rendezvous", "--listen", $"rudp://{natLab.Lab.Master.Address}:0", "--secret-file", secretFile, "--log-level", "Debug");
            natLab.Rendezvous = NodeAddress.Parse(natLab._rendezvous.Address);
            return natLab;
        }
        catch
        {
            await natLab.DisposeAsync();
            throw;
        }
    }

    private static NatKind Nat(string kind) => kind switch
    {
        "cone" => NatKind.Cone,
        "symmetric" => NatKind.Symmetric,
        "upnp" => NatKind.Upnp,
        _ => NatKind.None,
    };

    /// <summary>
    /// A node registered as <paramref name="name"/> from <paramref name="site"/>: a rudp listener
    /// there that echoes every byte of every connection, and its NAT traversal.
    /// </summary>
    public async Task<Registrant> RegisterAsync(LabSite site, string name, CancellationToken cancellationToken)
    {
        var listener = site.RunInNamespace(() => RudpListener.Bind(new NodeAddress("rudp", site.Address.ToString(), 0), RudpSettings.Default));

        // Behind a UPnP gateway the node asks it for a mapping; its sockets are made in the site too.
        var mapping = site.Spec.Nat == NatKind.Upnp
            ? new PortMapperOptions { CreateSocket = (family, type, protocol) => site.RunInNamespace(() => new Socket(family, type, protocol)), FindGateway = () => site.GatewayAddress }
            : null;
        var nat = new NatTraversal(new NatOptions { Rendezvous = Rendezvous, Name = name, PortMapping = mapping }, listener.Endpoints[0], ConnectionIdentity.NewClient(Secret), NullLogger.Instance);
        var registrant = new Registrant(listener, nat);
        nat.Start();
        await nat.WaitRegisteredAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(20), cancellationToken);
        if (mapping is not null)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (nat.PortMapper?.PublicEndPoint is null && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, cancellationToken);
            }

            Assert.True(nat.PortMapper?.PublicEndPoint is not null, $"{site.Name}: the gateway granted no port mapping within 30 s");
            await Task.Delay(500, cancellationToken); // the registration again, with the mapping
        }

        return registrant;
    }

    /// <summary>
    /// A dialer in <paramref name="site"/>: NAT traversal on a fresh socket made there, bound to the
    /// site's address (its host candidate; the interfaces a socket bound to every address would list
    /// are read in the calling thread's namespace, which is not the site's).
    /// </summary>
    public Dialer NewDialer(LabSite site, bool tryDirect = true)
    {
        var endpoint = site.RunInNamespace(() => RudpEndpoint.Listen(new IPEndPoint(site.Address, 0), RudpSettings.Default));
        // On the lab's 5 ms links a hole answers within a few round trips: 1.5 s before the relay, not 3.
        var nat = new NatTraversal(new NatOptions { Rendezvous = Rendezvous, TryDirect = tryDirect, PunchTimeout = TimeSpan.FromSeconds(1.5) }, endpoint, ConnectionIdentity.NewClient(Secret), NullLogger.Instance);
        return new Dialer(endpoint, nat);
    }

    public async ValueTask DisposeAsync()
    {
        if (_rendezvous is not null)
        {
            await _rendezvous.DisposeAsync();
        }

        if (_lab is not null)
        {
            await _lab.DisposeAsync();
        }

        _dir.Dispose();
    }

    /// <summary>Sends <paramref name="data"/> over <paramref name="connection"/> and reads the echo back.</summary>
    public static async Task<byte[]> EchoAsync(TransportConnection connection, byte[] data, CancellationToken cancellationToken)
    {
        await connection.Output.WriteAsync(data, cancellationToken);
        var received = new byte[data.Length];
        int at = 0;
        while (at < data.Length)
        {
            var read = await connection.Input.ReadAsync(cancellationToken);
            foreach (var segment in read.Buffer)
            {
                int take = Math.Min(segment.Length, data.Length - at);
                segment.Span[..take].CopyTo(received.AsSpan(at));
                at += take;
            }

            connection.Input.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted && at < data.Length)
            {
                break;
            }
        }

        return received[..at];
    }

    public sealed class Registrant : IAsyncDisposable
    {
        private readonly RudpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;
        private readonly List<TransportConnection> _connections = [];

        internal Registrant(RudpListener listener, NatTraversal nat)
        {
            _listener = listener;
            Nat = nat;
            _accepting = Task.Run(AcceptAsync);
        }

        internal NatTraversal Nat { get; }

        /// <summary>The paths of the connections accepted so far.</summary>
        public List<PathType> Accepted { get; } = [];

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                AcceptResult result;
                try
                {
                    result = await _listener.AcceptAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                if (result.Status == AcceptStatus.Stopped)
                {
                    return;
                }

                if (result.Connection?.Open(new LinkCounters()) is { } connection)
                {
                    lock (_connections)
                    {
                        _connections.Add(connection);
                        Accepted.Add(connection.Path.Type);
                    }

                    _ = Task.Run(() => EchoAsync(connection));
                }
            }
        }

        private async Task EchoAsync(TransportConnection connection)
        {
            try
            {
                while (true)
                {
                    var read = await connection.Input.ReadAsync(_stop.Token);
                    foreach (var segment in read.Buffer)
                    {
                        await connection.Output.WriteAsync(segment, _stop.Token);
                    }

                    connection.Input.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted)
                    {
                        return;
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or OmniStoreException or IOException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Nat.DisposeAsync();
            await _listener.DisposeAsync();
            await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var connection in _connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    public sealed class Dialer(RudpEndpoint endpoint, NatTraversal nat) : IAsyncDisposable
    {
        internal NatTraversal Nat => nat;

        public async ValueTask DisposeAsync()
        {
            await nat.DisposeAsync();
            endpoint.Dispose();
        }
    }
}
