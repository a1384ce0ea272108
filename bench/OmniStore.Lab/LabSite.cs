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

    /// <summary>The gateway's address on the site's LAN, 198.18.INDEX.1: the hosts' default route, and where a <see cref="NatKind.Upnp"/> gateway answers NAT-PMP, PCP and SSDP.</summary>
    public IPAddress GatewayAddress => AddressPlan.SiteGateway(Index);

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
    /// <remarks>
    /// Both ends are read within microseconds of each other, in this process (a thread enters each
    /// namespace and reads its /proc/thread-self/net/dev): a rate measured between two reads is not
    /// skewed by how long a helper process takes to start on a busy machine.
    /// </remarks>
    public Task<WanLinkCounters> ReadWanCountersAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var siteEnd = ReadCounters(GatewayNamespace, LabNames.WanDevice);
        var coreEnd = ReadCounters(_lab.CoreNamespace, CoreDevice);
        return Task.FromResult(new WanLinkCounters(siteEnd, coreEnd));
    }

    /// <summary>The traffic-control statistics (<c>tc -s qdisc</c>) of both ends of the site's WAN link: sent, dropped, overlimits, backlog.</summary>
    public async Task<string> ShowWanQdiscsAsync(CancellationToken cancellationToken = default)
    {
        var siteEnd = await CommandRunner.RunAsync("tc", ["-n", GatewayNamespace, "-s", "qdisc", "show", "dev", LabNames.WanDevice], cancellationToken: cancellationToken).ConfigureAwait(false);
        var coreEnd = await CommandRunner.RunAsync("tc", ["-n", _lab.CoreNamespace, "-s", "qdisc", "show", "dev", CoreDevice], cancellationToken: cancellationToken).ConfigureAwait(false);
        return $"site end (upload): {siteEnd.StandardOutput.Trim()}\ncore end (download): {coreEnd.StandardOutput.Trim()}";
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Namespace}, {Address})";

    /// <summary>Reads one device's counters from /proc/thread-self/net/dev on a thread inside the namespace.</summary>
    internal static InterfaceCounters ReadCounters(string ns, string device) =>
        NetworkNamespace.Run(ns, () => ParseNetDev(File.ReadAllText("/proc/thread-self/net/dev"), device, ns));

    /// <summary>
    /// Finds DEVICE's line in /proc/net/dev ("name: rx_bytes rx_packets errs drop fifo frame
    /// compressed multicast tx_bytes tx_packets errs drop ...").
    /// </summary>
    internal static InterfaceCounters ParseNetDev(string text, string device, string ns)
    {
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || line[..colon].Trim() != device)
            {
                continue;
            }

            var fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 12)
            {
                break;
            }

            long Field(int i) => long.Parse(fields[i], CultureInfo.InvariantCulture);
            return new InterfaceCounters(Field(0), Field(1), Field(3), Field(8), Field(9), Field(11));
        }

        throw new LabException($"No counters of {device} in {ns}'s /proc/net/dev.");
    }
}
