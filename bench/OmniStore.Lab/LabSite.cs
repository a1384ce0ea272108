using System.Diagnostics;
using System.Globalization;
using System.Net;
using OmniStore.Lab.Internal;

namespace OmniStore.Lab;

/// <summary>
/// One site of a running <see cref="Lab"/>: a network namespace for its hosts, whose processes
/// reach the other sites through the site's gateway (a router, and a NAT if the site has one) and
/// its WAN link.
/// </summary>
public sealed class LabSite
{
    private readonly Lab _lab;

    internal LabSite(Lab lab, int index, SiteSpec spec)
    {
        _lab = lab;
        Index = index;
        Spec = spec;
        Namespace = LabNames.SiteHost(lab.Prefix, spec.Name);
        GatewayNamespace = LabNames.SiteGateway(lab.Prefix, spec.Name);
        Address = AddressPlan.SiteHost(index);
        PublicAddress = spec.Nat == NatKind.None ? Address : AddressPlan.SiteEnd(index);
        CoreDevice = LabNames.CoreDevice(index);
    }

    /// <summary>The site's name from the topology.</summary>
    public string Name => Spec.Name;

    /// <summary>0 for the master, 1..K for the sites in topology order: the third byte of the site's addresses.</summary>
    public int Index { get; }

    /// <summary>The description the site was built from; <see cref="SiteSpec.Link"/> is the link as last set.</summary>
    public SiteSpec Spec { get; internal set; }

    /// <summary>The network namespace of the site's hosts (relay, workers; the root at the master).</summary>
    public string Namespace { get; }

    /// <summary>
    /// The namespace of the site's gateway: the router between the site's LAN and its WAN link, and
    /// its NAT when it has one. The link's site end, its upload rate limit and its counters are here,
    /// so a sender in the site meets the bottleneck in the network, as it would on a real WAN.
    /// </summary>
    public string GatewayNamespace { get; }

    /// <summary>The site host's address, 198.18.INDEX.2: where a relay (or the root) listens. Reachable from other sites only without NAT.</summary>
    public IPAddress Address { get; }

    /// <summary>The address other sites see the site's connections come from: <see cref="Address"/>, or with NAT the gateway's public address 198.19.INDEX.2.</summary>
    public IPAddress PublicAddress { get; }

    /// <summary>The WAN core's device for this site's link.</summary>
    internal string CoreDevice { get; }

    /// <summary>
    /// Starts a program inside the site's namespace (<c>ip netns exec</c>). <paramref name="start"/>
    /// gives the program, its <see cref="ProcessStartInfo.ArgumentList"/>, redirections, environment
    /// and working directory; the lab kills the process when it is disposed.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="start"/> uses <see cref="ProcessStartInfo.Arguments"/> (a single string) or shell execution.</exception>
    public LabProcess StartProcess(ProcessStartInfo start)
    {
        ArgumentNullException.ThrowIfNull(start);
        if (!string.IsNullOrEmpty(start.Arguments) || start.UseShellExecute)
        {
            throw new ArgumentException("Give the arguments as ArgumentList, without shell execution.", nameof(start));
        }

        var wrapped = new ProcessStartInfo("ip")
        {
            RedirectStandardInput = start.RedirectStandardInput,
            RedirectStandardOutput = start.RedirectStandardOutput,
            RedirectStandardError = start.RedirectStandardError,
            StandardOutputEncoding = start.StandardOutputEncoding,
            StandardErrorEncoding = start.StandardErrorEncoding,
            WorkingDirectory = start.WorkingDirectory,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["netns", "exec", Namespace, start.FileName, .. start.ArgumentList])
        {
            wrapped.ArgumentList.Add(argument);
        }

        wrapped.Environment.Clear();
        foreach (var (name, value) in start.Environment)
        {
            wrapped.Environment[name] = value;
        }

        return _lab.Track(Process.Start(wrapped) ?? throw new LabException($"Could not start {start.FileName} in {Namespace}."), Namespace);
    }

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="arguments"/> inside the site's namespace, standard output and error redirected.</summary>
    public LabProcess StartProcess(string fileName, params IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return StartProcess(start);
    }

    /// <summary>Runs a program inside the site's namespace to completion and returns its exit status and output.</summary>
    /// <param name="fileName">The program.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="timeout">After this the program is killed and the result has exit status -1. Defaults to 30 s.</param>
    /// <param name="cancellationToken">Kills the program when cancelled.</param>
    public Task<LabCommandResult> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        return CommandRunner.RunAsync("ip", ["netns", "exec", Namespace, fileName, .. arguments], timeout: timeout, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a thread that has entered the site's namespace, and returns
    /// its result. Sockets created inside stay in the site's namespace wherever they are used later,
    /// so a test can bind, listen or connect "from the site" without a child process.
    /// </summary>
    /// <example><c>var socket = site.RunInNamespace(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));</c></example>
    public T RunInNamespace<T>(Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        return NetworkNamespace.Run(Namespace, action);
    }

    /// <summary>Reads the kernel byte and packet counters of both ends of the site's WAN link.</summary>
    public async Task<WanLinkCounters> ReadWanCountersAsync(CancellationToken cancellationToken = default)
    {
        var siteEnd = ReadCountersAsync(GatewayNamespace, LabNames.WanDevice, cancellationToken);
        var coreEnd = ReadCountersAsync(_lab.CoreNamespace, CoreDevice, cancellationToken);
        return new WanLinkCounters(await siteEnd.ConfigureAwait(false), await coreEnd.ConfigureAwait(false));
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Namespace}, {Address})";

    /// <summary>Reads /sys/class/net/DEVICE/statistics inside the namespace (<c>ip netns exec</c> mounts that namespace's sysfs).</summary>
    internal static async Task<InterfaceCounters> ReadCountersAsync(string ns, string device, CancellationToken cancellationToken)
    {
        string[] names = ["rx_bytes", "rx_packets", "rx_dropped", "tx_bytes", "tx_packets", "tx_dropped"];
        var output = await CommandRunner.InNamespaceAsync(ns, "cat", [.. names.Select(n => $"/sys/class/net/{device}/statistics/{n}")], cancellationToken).ConfigureAwait(false);
        var values = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        if (values.Length != names.Length)
        {
            throw new LabException($"Unexpected counters of {device} in {ns}: '{output}'.");
        }

        return new InterfaceCounters(values[0], values[1], values[2], values[3], values[4], values[5]);
    }
}
