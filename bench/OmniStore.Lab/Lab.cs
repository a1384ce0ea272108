using System.Diagnostics;
using System.Security.Cryptography;
using OmniStore.Lab.Internal;

namespace OmniStore.Lab;

/// <summary>
/// A running WAN lab: the network namespaces, links, rate limits, gateways (with NAT) and the wire process
/// that a <see cref="LabTopology"/> describes, on this machine. Linux only, as root.
/// </summary>
/// <remarks>
/// <para>Every resource is named with <see cref="Prefix"/> and removed when the lab is disposed, when
/// building it fails, and when the process gets SIGINT or SIGTERM or exits. If the process is
/// killed outright, the wire exits by itself (its standard input closes) and
/// <see cref="LabCleanup.RemoveLeftoversAsync"/> removes the rest.</para>
/// <para>Topology: the master site and each site have a namespace for their hosts and one for their
/// gateway, joined by a veth (the site's LAN). Each gateway joins the WAN core namespace through
/// the site's WAN link, a pair of TUN devices that the wire joins; a site with NAT has its NAT on
/// its gateway.</para>
/// </remarks>
/// <example>
/// <code>
/// await using var lab = await Lab.StartAsync(LabTopology.Uniform(2, new WanLinkSpec
/// {
///     RateBitsPerSecond = 100_000_000,
///     Delay = TimeSpan.FromMilliseconds(10),
/// }));
/// await using var root = lab.Master.StartProcess("omnistore", "relay", "--listen", $"tcp://{lab.Master.Address}:7070", "--data-dir", "/tmp/root");
/// var before = await lab.Sites[0].ReadWanCountersAsync();
/// var result = await lab.Sites[0].RunAsync("omnistore", ["get", "input", "-o", "/tmp/input", "--relay", $"tcp://{lab.Master.Address}:7070"]);
/// var wanBytes = (await lab.Sites[0].ReadWanCountersAsync() - before).DownBytes;
/// </code>
/// </example>
public sealed partial class Lab : IAsyncDisposable, IDisposable
{
    private static readonly string[] RequiredTools = ["ip", "tc", "nft", "sysctl"];

    private readonly List<string> _namespaces = [];
    private readonly List<LabProcess> _processes = [];
    private readonly List<IAsyncDisposable> _services = [];
    private readonly List<string> _directories = [];
    private readonly ulong _seed;
    private readonly Lock _lock = new();
    private WireProcess? _wire;
    private Task? _teardown;

    private Lab(LabTopology topology, string prefix)
    {
        Topology = topology;
        Prefix = prefix;
        CoreNamespace = LabNames.Core(prefix);
        _seed = topology.Seed ?? BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        Master = new LabSite(this, 0, topology.Master);
        Sites = topology.Sites.Select((spec, i) => new LabSite(this, i + 1, spec)).ToArray();
    }

    /// <summary>The description the lab was built from.</summary>
    public LabTopology Topology { get; }

    /// <summary>The run's unique prefix (<c>omnilab-</c> and six hex digits) that every namespace, the wire's command line and the run's marker file carry.</summary>
    public string Prefix { get; }

    /// <summary>The master's site: where the root runs.</summary>
    public LabSite Master { get; }

    /// <summary>The other sites, in topology order.</summary>
    public IReadOnlyList<LabSite> Sites { get; }

    /// <summary>The master and then the sites.</summary>
    public IEnumerable<LabSite> AllSites => Sites.Prepend(Master);

    /// <summary>The WAN core's namespace: a router joining every site's link.</summary>
    public string CoreNamespace { get; }

    /// <summary>Every namespace the lab created (core, site hosts, site gateways).</summary>
    public IReadOnlyList<string> Namespaces
    {
        get
        {
            lock (_lock)
            {
                return [.. _namespaces];
            }
        }
    }

    /// <summary>The wire's process id, while it runs.</summary>
    public int? WireProcessId => _wire is { HasExited: false } wire ? wire.ProcessId : null;

    /// <summary>The site with this name (the master included).</summary>
    /// <exception cref="KeyNotFoundException">No site has that name.</exception>
    public LabSite this[string name] =>
        AllSites.FirstOrDefault(s => s.Name == name) ?? throw new KeyNotFoundException($"The lab has no site named '{name}'.");

    /// <summary>
    /// True when this machine can build a lab: Linux, root, /dev/net/tun, and the ip, tc, nft and
    /// sysctl commands. Otherwise <paramref name="reason"/> says what is missing.
    /// </summary>
    public static bool IsSupported(out string reason)
    {
        if (!OperatingSystem.IsLinux())
        {
            reason = "the lab needs Linux network namespaces";
            return false;
        }

        if (Libc.GetEffectiveUserId() != 0)
        {
            reason = "the lab needs root (network namespaces, TUN devices, tc, nftables)";
            return false;
        }

        if (!File.Exists("/dev/net/tun"))
        {
            reason = "/dev/net/tun is missing (no TUN support)";
            return false;
        }

        var missing = RequiredTools.Where(tool => !IsOnPath(tool)).ToArray();
        if (missing.Length > 0)
        {
            reason = $"missing commands: {string.Join(", ", missing)} (Debian: apt-get install iproute2 nftables procps)";
            return false;
        }

        reason = "";
        return true;
    }

    /// <summary>Builds the topology and returns the running lab; on any failure removes what it had built and throws.</summary>
    /// <exception cref="ArgumentException">The topology is not valid.</exception>
    /// <exception cref="LabException">The machine cannot build a lab, or a step failed.</exception>
    public static async Task<Lab> StartAsync(LabTopology topology, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topology);
        topology.Validate(nameof(topology));
        if (!IsSupported(out var reason))
        {
            throw new LabException($"Cannot build a lab here: {reason}.");
        }

        if (topology.Sites.Append(topology.Master).Any(s => s.Nat == NatKind.Upnp) && !File.Exists(MiniUpnpd.Program))
        {
            throw new LabException($"Cannot build a lab with a {nameof(NatKind.Upnp)} site here: {MiniUpnpd.Program} is missing (Debian: apt-get install miniupnpd).");
        }

        var lab = new Lab(topology, LabNames.NewPrefix());
        LabRegistry.Add(lab);
        try
        {
            await lab.BuildAsync(cancellationToken).ConfigureAwait(false);
            return lab;
        }
        catch
        {
            try
            {
                await lab.DisposeAsync().ConfigureAwait(false);
            }
            catch (LabException)
            {
                // The build's own failure is the one to report; what teardown left, clean-up removes.
            }

            throw;
        }
    }

    /// <summary>
    /// Changes a site's link while the lab runs: the rate limits at once (packets queued under the old
    /// rate stay queued), and the wire's delay, jitter, loss, duplication and reordering from the next packet on.
    /// </summary>
    public async Task SetLinkAsync(string siteName, WanLinkSpec link, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(link);
        link.Validate(nameof(link));
        var site = this[siteName];
        ObjectDisposedException.ThrowIf(_teardown is not null, this);
        await ApplyLinkAsync(site, link, cancellationToken).ConfigureAwait(false);
        site.Spec = site.Spec with { Link = link };
    }

    /// <summary>Removes everything the lab created: its processes, the wire, the namespaces (and with them every link and rule) and the marker file.</summary>
    public ValueTask DisposeAsync() => new(TeardownOnce());

    /// <summary>Removes everything the lab created, blocking until done.</summary>
    public void Dispose() => TeardownOnce().GetAwaiter().GetResult();

    /// <summary>The wire's per-direction statistics, a line each (forwarded, lost, overflowed, errors, queued).</summary>
    internal async Task<IReadOnlyList<string>> WireStatisticsAsync(CancellationToken cancellationToken = default) =>
        _wire is { } wire ? await wire.StatisticsAsync(cancellationToken).ConfigureAwait(false) : [];

    internal LabProcess Track(Process process, string ns)
    {
        var tracked = new LabProcess(process, ns);
        lock (_lock)
        {
            if (_teardown is not null)
            {
                tracked.Dispose();
                throw new ObjectDisposedException(nameof(Lab));
            }

            _processes.Add(tracked);
        }

        return tracked;
    }

    /// <summary>Keeps something the lab runs in-process (a responder) until teardown, which disposes it after the processes are gone.</summary>
    internal void Track(IAsyncDisposable service)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_teardown is not null, this);
            _services.Add(service);
        }
    }

    /// <summary>Makes a directory of the run (its name starts with the run's prefix) that teardown removes.</summary>
    internal string CreateRunDirectory(string name)
    {
        var path = Path.Combine(Path.GetTempPath(), $"{Prefix}.{name}");
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_teardown is not null, this);
            _directories.Add(path); // recorded first: teardown removes it even if creating it half failed
        }

        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The lab runs on Linux only.");
        }

        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private static bool IsOnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, tool)));
}
