using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace OmniStore.Lab.Internal;

/// <summary>
/// miniupnpd on a <see cref="NatKind.Upnp"/> site's gateway: its configuration and lease file in a
/// directory of the run (named with the run's prefix, removed at teardown), its nftables table
/// (<see cref="TableName"/>, in the gateway's namespace, so it goes with it), started in the
/// foreground and waited for until it listens.
/// </summary>
internal static class MiniUpnpd
{
    /// <summary>Where Debian installs it.</summary>
    public const string Program = "/usr/sbin/miniupnpd";

    /// <summary>The nftables table whose chains miniupnpd fills with its forwards (family inet, as its nftables backend expects).</summary>
    public const string TableName = "omnistore_upnp";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The chains miniupnpd writes to: a forward chain that accepts what it forwards (the lab's own
    /// forward chain accepts DNAT'ed packets too: a packet must pass both), and its NAT chains, its
    /// source NAT before the lab's masquerade so that a forwarded port keeps its number outbound.
    /// </summary>
    public static string Rules() =>
        $$"""
        table inet {{TableName}} {
            chain forward {
                type filter hook forward priority filter - 1; policy accept;
                jump miniupnpd
            }
            chain miniupnpd {
            }
            chain prerouting {
                type nat hook prerouting priority dstnat; policy accept;
                jump prerouting_miniupnpd
            }
            chain prerouting_miniupnpd {
            }
            chain postrouting {
                type nat hook postrouting priority srcnat - 1; policy accept;
                jump postrouting_miniupnpd
            }
            chain postrouting_miniupnpd {
            }
        }

        """;

    /// <summary>
    /// The configuration: LAN and WAN devices, NAT-PMP, PCP and UPnP on, secure mode, only the site's
    /// /24 may ask, short minimum lifetimes (tests renew within seconds), and STUN against the lab's
    /// responder so that the reserved WAN address does not turn port forwarding off.
    /// </summary>
    public static string Configuration(string directory, int siteIndex, IPAddress stunServer) =>
        Invariant($"""
        ext_ifname={LabNames.WanDevice}
        listening_ip={LabNames.LanDevice}
        http_port=0
        enable_natpmp=yes
        enable_upnp=yes
        ipv6_disable=yes
        secure_mode=yes
        system_uptime=no
        upnp_table_name={TableName}
        upnp_nat_table_name={TableName}
        upnp_forward_chain=miniupnpd
        upnp_nat_chain=prerouting_miniupnpd
        upnp_nat_postrouting_chain=postrouting_miniupnpd
        lease_file={Path.Combine(directory, "upnp.leases")}
        uuid={Guid.NewGuid()}
        min_lifetime=2
        max_lifetime=86400
        ext_perform_stun=yes
        ext_stun_host={stunServer}
        ext_stun_port={LabStunResponder.Port}
        allow 1024-65535 198.18.{siteIndex}.0/24 1024-65535
        deny 0-65535 0.0.0.0/0 0-65535

        """);

    /// <summary>Starts it in <paramref name="gatewayNamespace"/> and waits until it listens for NAT-PMP and PCP (after its STUN check).</summary>
    /// <exception cref="LabException">It exited, said port forwarding is off, or did not get ready in time; the message holds its last lines.</exception>
    public static async Task<Process> StartAsync(string gatewayNamespace, string directory, Func<Process, LabProcess> track, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["netns", "exec", gatewayNamespace, Program, "-d", "-f", Path.Combine(directory, "miniupnpd.conf"), "-P", Path.Combine(directory, "miniupnpd.pid")])
        {
            start.ArgumentList.Add(argument);
        }

        var lines = new Queue<string>();
        var ready = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(object? sender, DataReceivedEventArgs e)
        {
            if (e.Data is not { } line)
            {
                return;
            }

            lock (lines)
            {
                lines.Enqueue(line);
                if (lines.Count > 40)
                {
                    lines.Dequeue();
                }
            }

            if (line.Contains("Port forwarding is impossible", StringComparison.Ordinal) || line.Contains("Port forwarding is now disabled", StringComparison.Ordinal) || line.Contains("EXITING", StringComparison.Ordinal))
            {
                ready.TrySetResult(line);
            }
            else if (line.Contains("Listening for NAT-PMP/PCP traffic", StringComparison.Ordinal))
            {
                ready.TrySetResult(null);
            }
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        if (!process.Start())
        {
            throw new LabException($"Could not start {Program} in {gatewayNamespace}.");
        }

        track(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync(cancellationToken);
        var first = await Task.WhenAny(ready.Task, exited, Task.Delay(StartTimeout, cancellationToken)).ConfigureAwait(false);
        string? problem = first == ready.Task ? await ready.Task.ConfigureAwait(false) : first == exited ? "it exited" : "it did not listen within " + StartTimeout.TotalSeconds + " s";
        if (problem is not null)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string log;
            lock (lines)
            {
                log = string.Join("\n", lines);
            }

            throw new LabException($"miniupnpd in {gatewayNamespace} is not usable ({problem}); its last lines:\n{log}");
        }

        return process;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
