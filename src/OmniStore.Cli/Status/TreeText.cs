using System.Globalization;
using OmniStore.Internal;
using OmniStore.Node;

namespace OmniStore.Cli.Status;

/// <summary>
/// <c>omnistore status --tree</c>: a <see cref="TreeView"/> as an indented text tree, one line per
/// node (and one per transfer and error under it). Every string came from the status listener, and
/// through it from peers: each is shown escaped.
/// </summary>
internal static class TreeText
{
    /// <summary>Nodes printed at most; the rest are counted.</summary>
    public const int MaxNodes = 1000;

    public static void Write(TextWriter output, TreeView tree)
    {
        int printed = 0;
        if (tree.Name is { } name)
        {
            output.WriteLine($"staging of '{Safe(name)}': held whole by {Holders(tree.Root)}");
        }

        WriteNode(output, tree.Root, 0, tree.ReportIntervalMs, ref printed);
        if (printed >= MaxNodes)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"(only the first {MaxNodes} nodes are shown)"));
        }
    }

    /// <summary>One line: role, short id, site, link, cache, hit ratio, clients, requests in flight, and the report's age when stale.</summary>
    public static string Describe(TreeViewNode node, long reportIntervalMs)
    {
        var c = CultureInfo.InvariantCulture;
        string link = node.Link is { } l
            ? string.Create(c, $"; link {(l.Up ? "" : "DOWN ")}{Safe(l.Path)}{(l.RttMs is { } rtt ? string.Create(c, $", rtt {rtt:0.###} ms") : "")}, in {ByteSize.Format(l.BytesIn)}, out {ByteSize.Format(l.BytesOut)}")
            : "";
        string size = node.Cache.SizeBytes == 0 ? "" : $" of {ByteSize.Format(node.Cache.SizeBytes)}";
        string ratio = node.Cache.HitRatio is { } r ? string.Create(c, $"{r * 100:0.#}%") : "-";
        string age = !node.Reported ? "; no report yet" : node.AgeMs > 3 * reportIntervalMs ? string.Create(c, $"; report {node.AgeMs / 1000.0:0.#} s old") : "";
        string holds = node.Holds switch { true => "; holds it", false => "; does not hold it", null => "" };
        string omitted = node.Omitted > 0 ? string.Create(c, $"; {node.Omitted} relays below not shown") : "";
        return string.Create(c, $"{Safe(node.Role)} {Safe(ShortId(node.NodeId))} site {Safe(node.Site)}{link}; cache {ByteSize.Format(node.Cache.UsedBytes)}{size}, hit ratio {ratio}; {node.Clients} clients, {node.InFlight} in flight{holds}{age}{omitted}");
    }

    private static void WriteNode(TextWriter output, TreeViewNode node, int depth, long interval, ref int printed)
    {
        if (printed >= MaxNodes)
        {
            return;
        }

        printed++;
        string indent = new(' ', Math.Min(depth, 32) * 2);
        output.WriteLine($"{indent}{(depth == 0 ? "" : "- ")}{Describe(node, interval)}");
        string inner = indent + (depth == 0 ? "  " : "    ");
        var c = CultureInfo.InvariantCulture;
        foreach (var transfer in node.Transfers)
        {
            double percent = transfer.TotalBytes == 0 ? 100 : 100.0 * transfer.DoneBytes / transfer.TotalBytes;
            output.WriteLine(string.Create(c, $"{inner}transfer '{Safe(transfer.Name)}' to {(transfer.Peer.Length == 0 ? "a client" : $"site {Safe(transfer.Peer)}")}: {ByteSize.Format(transfer.DoneBytes)} of {ByteSize.Format(transfer.TotalBytes)} ({percent:0}%)"));
        }

        foreach (var error in node.Errors)
        {
            output.WriteLine(string.Create(c, $"{inner}error {error.At.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}: {Safe(error.Text)}"));
        }

        foreach (var child in node.Children)
        {
            WriteNode(output, child, depth + 1, interval, ref printed);
        }
    }

    private static string Holders(TreeViewNode root)
    {
        var holders = new List<string>();
        var stack = new Stack<TreeViewNode>([root]);
        while (stack.Count > 0 && holders.Count < 64)
        {
            var node = stack.Pop();
            if (node.Holds == true)
            {
                holders.Add($"{Safe(node.Site)} ({Safe(ShortId(node.NodeId))})");
            }

            foreach (var child in node.Children)
            {
                stack.Push(child);
            }
        }

        return holders.Count == 0 ? "no node yet" : string.Join(", ", holders);
    }

    private static string ShortId(string? id) => id is null ? "" : id[..Math.Min(id.Length, 8)];

    private static string Safe(string? text) => UntrustedText.Escape(text, 256);
}
