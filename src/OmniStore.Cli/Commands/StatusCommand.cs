using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using OmniStore.Cli.Status;
using OmniStore.Internal;
using OmniStore.Node;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore status --relay http://HOST:PORT [--json | --check]</c>: a node's status, read from its status
/// listener (<c>omnistore relay --status-listen</c>). The node protocol has no status request, so
/// the address is the http:// one of the listener, not the node's tcp:// one. With <c>--check</c>,
/// only whether the node is ready (its <c>/readyz</c>), in one line and the exit code.
/// </summary>
internal static class StatusCommand
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Listen addresses shown on one line: any status page could send thousands.</summary>
    private const int MaxListedAddresses = 16;

    public static Command Create()
    {
        var relay = new Option<Uri>("--relay")
        {
            Description = "The node's status listener, http://HOST:PORT (what it was started with as --status-listen)",
            HelpName = "URL",
            Required = true,
            CustomParser = ParseUrl,
        };
        var json = new Option<bool>("--json") { Description = "Print the status as the node serves it: one JSON object (role, parent, children, per-link traffic, store, requests)" };
        var check = new Option<bool>("--check")
        {
            Description = $"Only say whether the node is ready to serve (its /readyz), in one line: exit {ExitCodes.Success} when it is, {ExitCodes.For(OmniStoreError.Unavailable)} (Unavailable) when it is not or does not answer. For scripts and monitors",
        };

        var tree = new Option<bool>("--tree")
        {
            Description = "Show the tree below the node (docs/tree.md), as an indented text tree: node, site, role, link path and RTT, bytes each way, cache used/size, hit ratio, clients, transfers in progress; with --json, the tree's JSON",
        };

        var command = new Command("status", "Show a node's role, parent link, children, traffic, cache and requests in flight; with --tree, the tree below it; or, with --check, whether it is ready")
        {
            relay,
            json,
            check,
            tree,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(json) && result.GetValue(check))
            {
                result.AddError("--json and --check exclude each other: --check prints one line and exits by the node's readiness.");
            }

            if (result.GetValue(tree) && result.GetValue(check))
            {
                result.AddError("--tree and --check exclude each other: --check prints one line and exits by the node's readiness.");
            }
        });

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            if (parseResult.GetValue(check))
            {
                return await CheckAsync(new Uri(parseResult.GetRequiredValue(relay), "/readyz"), cancellationToken);
            }

            var node = parseResult.GetRequiredValue(relay);
            return parseResult.GetValue(tree)
                ? await ShowAsync(new Uri(node, "/tree"), "a tree", TreeJson.Deserialize, view => TreeText.Write(Console.Out, view), parseResult.GetValue(json), cancellationToken)
                : await ShowAsync(new Uri(node, "/status"), "a node status", StatusJson.Deserialize, Write, parseResult.GetValue(json), cancellationToken);
        });

        return command;
    }

    /// <summary>Reads <paramref name="url"/> and prints it: as served with <paramref name="json"/>, else as text.</summary>
    private static async Task<int> ShowAsync<T>(Uri url, string what, Func<string, T> parse, Action<T> write, bool json, CancellationToken cancellationToken)
    {
        string text = await FetchAsync(url, cancellationToken);
        T value;
        try
        {
            value = parse(text);
        }
        catch (JsonException ex)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"{url} did not answer with {what}: {ex.Message}", ex);
        }

        if (json)
        {
            Console.Out.WriteLine(text.TrimEnd());
        }
        else
        {
            write(value);
        }

        return ExitCodes.Success;
    }

    private static Uri? ParseUrl(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (NodeAddressOptions.TryParseHttp(text, forClient: true, out var uri, out string? problem))
        {
            return uri;
        }

        string hint = text.StartsWith("tcp://", StringComparison.OrdinalIgnoreCase)
            ? " The node protocol has no status request: give the node's status listener, http://HOST:PORT, as started with --status-listen."
            : "";
        result.AddError($"--relay: '{Transport.Internal.AddressGrammar.Quote(text)}' {problem}.{hint}");
        return null;
    }

    /// <summary>
    /// Asks the node's <c>/readyz</c>: prints its one line (escaped: any server could have written it)
    /// and returns 0 when it answered 200, <see cref="OmniStoreError.Unavailable"/>'s code when 503.
    /// </summary>
    private static async Task<int> CheckAsync(Uri url, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = Timeout, MaxResponseContentBufferSize = 64 * 1024 };
        try
        {
            using var response = await http.GetAsync(url, cancellationToken);
            string body = await response.Content.ReadAsStringAsync(cancellationToken);
            string line = Safe(body.Split('\n', 2)[0].TrimEnd('\r'));
            switch (response.StatusCode)
            {
                case System.Net.HttpStatusCode.OK:
                    Console.Out.WriteLine(line.Length == 0 ? "ready" : line);
                    return ExitCodes.Success;
                case System.Net.HttpStatusCode.ServiceUnavailable:
                    Console.Out.WriteLine(line.StartsWith(StatusListener.NotReadyPrefix, StringComparison.Ordinal) ? line : $"{StatusListener.NotReadyPrefix}{line}");
                    return ExitCodes.For(OmniStoreError.Unavailable);
                default:
                    throw new OmniStoreException(OmniStoreError.Unavailable, $"{url} answered {(int)response.StatusCode} {Safe(response.ReasonPhrase)}; not an omnistore status listener?");
            }
        }
        catch (HttpRequestException ex)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"not ready: no answer at {url}: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"not ready: no answer at {url} within {Timeout.TotalSeconds} s.", ex);
        }
    }

    private static async Task<string> FetchAsync(Uri url, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = Timeout };
        try
        {
            using var response = await http.GetAsync(url, cancellationToken);
            string body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new OmniStoreException(OmniStoreError.Unavailable, $"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}.");
            }

            return body;
        }
        catch (HttpRequestException ex)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"No status at {url}: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"No status at {url}: no answer within {Timeout.TotalSeconds} s.", ex);
        }
    }

    /// <summary>", tcp direct from 127.0.0.1:7070, rtt 0.21 ms (least 0.15 ms)", or nothing when unknown.</summary>
    private static string Describe(LinkDetails? link)
    {
        if (link is null || link.Transport is null)
        {
            return "";
        }

        var c = CultureInfo.InvariantCulture;
        string endpoint = link.RemoteEndPoint is { } e ? $" to {Safe(e)}" : "";
        string rtt = link.RttMs is { } r ? string.Create(c, $", rtt {r:0.###} ms (least {link.MinRttMs:0.###} ms)") : ", rtt not measured yet";
        return $"; {Safe(link.Transport)} {Safe(link.Path)}{endpoint}{rtt}{DescribeTransport(link.TransportState)}";
    }

    /// <summary>"; bbr/ProbeBw, window 1.5 MB, pacing 812 Mbit/s, 220 KB in flight, 0.12% of 81234 packets lost, path MTU 1472, receive window 4 MB, socket sendmmsg+gso/recvmmsg+gro" for a rudp link.</summary>
    private static string DescribeTransport(OmniStore.Transport.TransportStatistics? state)
    {
        if (state is null)
        {
            return "";
        }

        var c = CultureInfo.InvariantCulture;
        return string.Create(c, $"; {Safe(state.Congestion)}, window {Bytes(state.CongestionWindow)}, pacing {state.PacingRate * 8 / 1e6:0.#} Mbit/s, {Bytes(state.BytesInFlight)} in flight, {state.LossRatio * 100:0.##}% of {state.PacketsSent} packets lost, path MTU {state.PathMtu}, receive window {Bytes(state.ReceiveWindow)}, socket {Safe(state.SocketPath)}");

        static string Bytes(long bytes) => bytes >= 1 << 20 ? string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.#} MiB") : string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB");
    }

    private static void Write(NodeStatus status)
    {
        var c = CultureInfo.InvariantCulture;
        var output = Console.Out;
        // A status page of an older node has only the first address.
        var listening = status.ListenAddresses is { Count: > 0 } all ? all : [status.Listen];
        output.WriteLine(string.Create(c, $"{Safe(status.Role)} {Safe(status.NodeId)} at site {Safe(status.Site)}, listening on {string.Join(", ", listening.Take(MaxListedAddresses).Select(Safe))}{(listening.Count > MaxListedAddresses ? $" and {listening.Count - MaxListedAddresses} more" : "")}"));
        if (status.Readiness is { } readiness)
        {
            output.WriteLine($"{(readiness.Ready ? "ready:    " : "NOT READY: ")}{Safe(readiness.Reason)}");
        }

        if (status.Parent is { } parent)
        {
            string state = parent.Connected ? (parent.NodeId is { } id ? $"connected to node {Safe(id)}" : "connected") : "DISCONNECTED";
            string expected = parent.ExpectedNodeId is { } mustBe ? $", must be node {Safe(mustBe)}" : "";
            output.WriteLine(string.Create(c, $"parent:   {Safe(parent.Address)}{expected}, {state} (the link came up {parent.Connections} time{(parent.Connections == 1 ? "" : "s")}){Describe(parent.Link)}"));
            if (!parent.Connected && parent.Problem is { } problem)
            {
                output.WriteLine($"          last attempt: {Safe(problem)}");
            }
        }

        if (status.Nat is { } nat)
        {
            string registered = nat.Name is null ? "dials names only" : nat.Registered ? $"registered as {Safe(nat.Name)}" : $"NOT REGISTERED as {Safe(nat.Name)}";
            string seen = nat.Reflexive is { } reflexive ? $", seen at {Safe(reflexive)}" : "";
            string forwarded = nat.PortMapping is { } method ? $"; the gateway forwards {Safe(nat.Mapped ?? "nothing now")} ({Safe(method)})" : "";
            output.WriteLine($"nat:      rendezvous {Safe(nat.Rendezvous)}, {registered}{seen}; mapping {Safe(nat.Mapping ?? "unknown")}{forwarded}");
        }

        if (status.Rendezvous is { } served)
        {
            output.WriteLine(string.Create(c, $"rendezvous: {served.Registrations} names registered, {served.Relays} relays open, {ByteSize.Format(served.RelayedBytes)} relayed"));
        }

        var store = status.Store;
        string capacity = store.CapacityBytes == 0 ? "no limit" : ByteSize.Format(store.CapacityBytes);
        output.WriteLine(string.Create(c, $"store:    {Safe(store.Mode)}, {ByteSize.Format(store.UsedBytes)} used of {capacity}; {store.Hits} hits, {store.Misses} misses; {ByteSize.Format(store.EvictedBytes)} evicted"));
        if (store.LastCommit is { } committed)
        {
            output.WriteLine(string.Create(c, $"          last checkpoint {committed.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}; {ByteSize.Format(store.UncommittedBytes)} written since (what a kill -9 now would lose at most)"));
        }

        output.WriteLine(string.Create(c, $"requests: {status.InFlightRequests} in flight; {status.UpstreamChunkFetches} chunk fetches from the parent, {status.CoalescedChunkRequests} requests joined one already running; {status.RememberedMisses} misses answered from memory, {status.MissLimitedRequests} requests refused for too many misses"));
        output.WriteLine(string.Create(c, $"children: {status.Children.Count}"));
        if (status.Connections is { } connections)
        {
            output.WriteLine(string.Create(c, $"connections: {connections.Open} open ({connections.Handshaking} in their handshake) of at most {connections.MaxConnections}, {connections.MaxConnectionsPerAddress} per address; {connections.Accepted} accepted, {connections.RefusedAtLimit + connections.RefusedPerAddress + connections.RefusedHandshakes} refused, {connections.TimedOut} timed out, {connections.AcceptErrors} failed accepts"));
            if (connections.Refusing is { } refusing)
            {
                output.WriteLine(string.Create(c, $"REFUSING connections since {refusing.Since:yyyy-MM-dd'T'HH:mm:ss'Z'}: {refusing.Reason}"));
            }
        }

        output.WriteLine();

        List<string[]> rows = [["link", "peer", "payload in", "payload out", "wire in", "wire out"]];
        if (status.Parent is { } link)
        {
            rows.Add(Row("parent", Safe(link.Address), link.Traffic));
        }

        foreach (var child in status.Children)
        {
            rows.Add(Row($"child ({Safe(child.Role)})", $"{Safe(child.Site)} {Safe(child.NodeId?[..Math.Min(child.NodeId.Length, 8)])}", child.Traffic));
        }

        rows.Add(Row("children", "all, since start", status.ChildrenTotal));

        int[] widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var row in rows)
        {
            output.WriteLine(string.Join("  ", row.Select((cell, i) => i < 2 ? cell.PadRight(widths[i]) : cell.PadLeft(widths[i]))).TrimEnd());
        }
    }

    /// <summary>Text from the status page, which any server could have written: shown escaped, never as terminal controls.</summary>
    private static string Safe(string? text) => UntrustedText.Escape(text, 256);

    private static string[] Row(string link, string peer, LinkTraffic traffic) =>
        [link, peer, ByteSize.Format(traffic.PayloadIn), ByteSize.Format(traffic.PayloadOut), ByteSize.Format(traffic.WireIn), ByteSize.Format(traffic.WireOut)];
}
