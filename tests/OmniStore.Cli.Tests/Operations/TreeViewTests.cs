using System.Net.Http.Json;
using OmniStore.Cli.Status;
using OmniStore.Cli.Tests.Infrastructure;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Tree;
using PuppeteerSharp;

namespace OmniStore.Cli.Tests.Operations;

/// <summary>
/// The tree seen from the root (docs/tree.md): <c>/tree</c> and <c>status --tree</c> against the
/// nodes' own counters, and the page at <c>/</c> in a real browser (headless chromium).
/// </summary>
public sealed class TreeViewTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    /// <summary>A byte count in the tree is the node's counter as of its report: behind it by at most the TREE_REPORT exchanges since.</summary>
    private const long MaxReportTraffic = 8 * 1024;

    /// <summary>Workers that ask one chunk at a time: held part way, the node too has served only part of the object.</summary>
    private static readonly OmniStoreOptions OneChunkAtATime = new() { TransferWindow = 1 };

    private static Task<TreeCluster> StartTreeAsync(int relays) =>
        TreeCluster.StartWithAsync(relays, options => options with { TreeReportInterval = Interval });

    private static Task<StatusListener> ListenAsync(TreeNode node) =>
        ListenAsync(node.GetStatus, node.GetReadiness, node.GetTreeAsync);

    private static Task<StatusListener> ListenAsync(Func<NodeStatus> status, Func<ReadinessStatus> readiness, Func<string?, CancellationToken, Task<TreeView>> tree) =>
        StatusListener.StartAsync(new Uri("http://127.0.0.1:0"), status, readiness, tree, _ => { }, TestContext.Current.CancellationToken);

    private static async Task<TreeView> GetTreeAsync(HttpClient http, Uri listener, Func<TreeView, bool> done)
    {
        var ct = TestContext.Current.CancellationToken;
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var tree = TreeJson.Deserialize(await http.GetStringAsync(new Uri(listener, "/tree"), ct));
            if (done(tree))
            {
                return tree;
            }

            Assert.True(DateTime.UtcNow < deadline, $"/tree did not get there in {Patience.TotalSeconds} s: {TreeJson.Serialize(tree)}");
            await Task.Delay(50, ct);
        }
    }

    [Fact]
    public async Task ARootWithTwoRelaysAndSixteenWorkersMidTransfer_ShowsTheNodesOwnCounters_InTreeAndStatusTree()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await StartTreeAsync(relays: 2);
        await using var listener = await ListenAsync(cluster.Root);
        using var http = new HttpClient();
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("data/in", TestData.Random(8 << 20, seed: 7), ct);
        }

        // Sixteen workers, eight per relay, each held after its first MiB: the transfers stay in progress.
        var gates = new List<GatedStream>();
        var workers = new List<OmniStoreClient>();
        var gets = new List<Task<long>>();
        try
        {
            for (int i = 0; i < 16; i++)
            {
                var worker = await TreeCluster.ConnectAsync(cluster.Relays[i % 2], OneChunkAtATime);
                workers.Add(worker);
                var gate = new GatedStream(1 << 20);
                gates.Add(gate);
                gets.Add(worker.GetAsync("data/in", gate, ct).AsTask());
            }

            var tree = await GetTreeAsync(http, listener.Address, t =>
                t.Root.Children.Count == 2
                && t.Root.Children.All(r => r.Reported && r.Clients == 8 && r.Transfers.Count == 8 && r.Transfers.All(x => x.DoneBytes >= 1 << 20) && r.AgeMs < 1000)
                && t.Root.Transfers.Count == 2);

            // Stalled, the counters stand still but for the reports: the tree must show what each node counts.
            tree = await GetTreeAsync(http, listener.Address, t => t.Root.Children.All(c => c.AgeMs < 400));
            Assert.Equal(cluster.Root.Store.UsedBytes, tree.Root.Cache.UsedBytes);
            Assert.Equal(2, tree.Root.Relays);
            foreach (var relay in cluster.Relays)
            {
                var node = Assert.Single(tree.Root.Children, c => c.NodeId == relay.NodeId.ToString());
                Assert.Equal(relay.Site, node.Site);
                Assert.InRange(relay.Parent!.Counters.PayloadIn - node.Link!.BytesIn, 0, MaxReportTraffic);
                Assert.InRange(relay.Parent.Counters.PayloadOut - node.Link.BytesOut, 0, MaxReportTraffic);
                Assert.True(node.Link.BytesIn > 1 << 20, $"the relay received {node.Link.BytesIn} bytes");
                Assert.Equal(relay.Store.UsedBytes, node.Cache.UsedBytes);
                Assert.Equal(relay.Store.Capacity, node.Cache.SizeBytes);
                // A read that was already under way when the workers stalled may count after the report.
                Assert.InRange(relay.Store.Hits - node.Cache.Hits, 0, 16);
                Assert.InRange(relay.Store.Misses - node.Cache.Misses, 0, 16);
                Assert.Equal(8, node.Clients);
                Assert.All(node.Transfers, t => Assert.Equal(8 << 20, t.TotalBytes));
                Assert.All(node.Transfers, t => Assert.InRange(t.DoneBytes, 1, (8 << 20) - 1));

                // The root's own view of the same link: what it sent is what the relay received.
                var link = Assert.Single(cluster.Root.GetStatus().Children, c => c.NodeId == relay.NodeId.ToString());
                Assert.InRange(link.Traffic.PayloadOut - node.Link.BytesIn, 0, MaxReportTraffic);

                // status --tree prints the same numbers.
                string line = TreeText.Describe(node, tree.ReportIntervalMs);
                Assert.Contains($"site {relay.Site}", line, StringComparison.Ordinal);
                Assert.Contains($"in {ByteSize.Format(node.Link.BytesIn)}, out {ByteSize.Format(node.Link.BytesOut)}", line, StringComparison.Ordinal);
                Assert.Contains($"cache {ByteSize.Format(relay.Store.UsedBytes)} of {ByteSize.Format(relay.Store.Capacity)}", line, StringComparison.Ordinal);
                Assert.Contains("8 clients", line, StringComparison.Ordinal);
            }

            var text = new StringWriter();
            TreeText.Write(text, tree);
            string[] lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.StartsWith("root ", lines[0], StringComparison.Ordinal);
            Assert.Equal(2, lines.Count(l => l.StartsWith("  - relay ", StringComparison.Ordinal)));
            Assert.True(16 + tree.Root.Transfers.Count == lines.Count(l => l.TrimStart().StartsWith("transfer 'data/in'", StringComparison.Ordinal)), text.ToString());

            // The command itself, against the root's listener.
            using var scratch = new TempDirectory("omnistore-status-tree");
            var cli = await CliRunner.RunAsync(["status", "--relay", listener.Address.ToString(), "--tree"], scratch.Path);
            Assert.True(cli.ExitCode == 0, cli.ToString());
            foreach (var relay in cluster.Relays)
            {
                string line = Assert.Single(cli.Output.Split('\n'), l => l.Contains($"site {relay.Site};", StringComparison.Ordinal));
                Assert.Contains($"in {ByteSize.Format(relay.Parent!.Counters.PayloadIn)}", line, StringComparison.Ordinal);
                Assert.Contains($"cache {ByteSize.Format(relay.Store.UsedBytes)} of {ByteSize.Format(relay.Store.Capacity)}", line, StringComparison.Ordinal);
                Assert.Contains("8 clients", line, StringComparison.Ordinal);
            }

            Assert.Equal(16, cli.Output.Split('\n').Count(l => l.Contains("transfer 'data/in' to a client", StringComparison.Ordinal)));
        }
        finally
        {
            foreach (var gate in gates)
            {
                gate.Open();
            }
        }

        Assert.All(await Task.WhenAll(gets), length => Assert.Equal(8 << 20, length));
        foreach (var worker in workers)
        {
            await worker.DisposeAsync();
        }
    }

    [Fact]
    public async Task TheTreePage_InChromium_ShowsTheNodesAndLinks_AndATransferThatAppearsAndFinishes()
    {
        LabRequirement.EnsureProgram(Chromium.Path, "chromium");
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await StartTreeAsync(relays: 2);
        await using var listener = await ListenAsync(cluster.Root);
        await using var browser = await Chromium.LaunchAsync();
        await using var page = await browser.NewPageAsync();
        await page.SetViewportAsync(new ViewPortOptions { Width = 1280, Height = 900 });
        await page.GoToAsync(listener.Address.ToString());

        await page.WaitForFunctionAsync("() => document.querySelectorAll('#graph g.node:not(.stale)').length === 3", new WaitForFunctionOptions { Timeout = (int)Patience.TotalMilliseconds });
        var ids = await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#graph g.node')].map(g => g.dataset.nodeId).sort()");
        Assert.Equal(new[] { cluster.Root, cluster.Relays[0], cluster.Relays[1] }.Select(n => n.NodeId.ToString()).Order(StringComparer.Ordinal), ids);
        var links = await page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#graph line.link')].map(l => l.dataset.from + '>' + l.dataset.to).sort()");
        Assert.Equal(cluster.Relays.Select(r => $"{cluster.Root.NodeId}>{r.NodeId}").Order(StringComparer.Ordinal), links);
        string rootRole = await page.EvaluateExpressionAsync<string>($"document.querySelector('#graph g.node[data-node-id=\"{cluster.Root.NodeId}\"]').dataset.role");
        Assert.Equal("root", rootRole);

        // A transfer started now: it shows with a progress bar part way, then finished.
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("results/run-7", TestData.Random(6 << 20, seed: 3), ct);
        }

        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0], OneChunkAtATime);
        var gate = new GatedStream(1 << 20);
        var get = worker.GetAsync("results/run-7", gate, ct).AsTask();
        try
        {
            try
            {
                await page.WaitForFunctionAsync("() => [...document.querySelectorAll('#transfers tr[data-name=\"results/run-7\"]')].some(r => +r.dataset.done > 0 && +r.dataset.done < +r.dataset.total && r.querySelector('progress'))", new WaitForFunctionOptions { Timeout = (int)Patience.TotalMilliseconds });
            }
            catch (WaitTaskTimeoutException)
            {
                Assert.Fail("no transfer in progress on the page: " + await page.EvaluateExpressionAsync<string>("document.getElementById('state').textContent + ' | ' + document.querySelector('#transfers tbody').innerHTML"));
            }
        }
        finally
        {
            gate.Open();
        }

        Assert.Equal(6 << 20, await get);
        await page.WaitForFunctionAsync("() => { const rows = [...document.querySelectorAll('#transfers tr[data-name=\"results/run-7\"]')]; return rows.length === 2 && rows.every(r => r.dataset.done === r.dataset.total); }", new WaitForFunctionOptions { Timeout = (int)Patience.TotalMilliseconds });

        // With ?name=, the sites that hold it.
        await page.GoToAsync(new Uri(listener.Address, "/?name=results/run-7").ToString());
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#graph g.node.holds').length === 2", new WaitForFunctionOptions { Timeout = (int)Patience.TotalMilliseconds });
        string holders = await page.EvaluateExpressionAsync<string>("document.getElementById('holders').textContent");
        Assert.Contains("site0", holders, StringComparison.Ordinal);
        Assert.DoesNotContain("site1", holders, StringComparison.Ordinal);

        // The picture docs/operations.md shows (docs/images/tree-view.png is a copy of one).
        await page.WaitForFunctionAsync("() => +document.body.dataset.updates >= 2");
        string screenshot = Path.Combine(AppContext.BaseDirectory, "tree-view.png");
        await page.ScreenshotAsync(screenshot, new ScreenshotOptions { FullPage = true });
        Assert.True(new FileInfo(screenshot).Length > 10_000);
        TestContext.Current.TestOutputHelper?.WriteLine($"screenshot: {screenshot}");
    }

    [Fact]
    public async Task TheTreePage_ShowsHostileTextAsText_NeverAsMarkup()
    {
        LabRequirement.EnsureProgram(Chromium.Path, "chromium");
        const string Site = "<img src=x onerror=\"window.pwned=1\">";
        const string Error = "</li><script>window.pwned=2</script>";
        const string Name = "<b onmouseover=\"window.pwned=3\">bold</b>";
        var id = NodeId.Parse("00000000000000000000000000000001");
        var hostile = new TreeViewNode(id.ToString(), Site, "relay", 0, true, new TreeViewLink(true, "<i>tcp</i>", 1, 2, 3), TreeViewCache.Of(1, 2, 3, 4), 1, 0, 0, true,
            [new TreeTransfer(Name, Site, 1, 2)], [new TreeViewError(DateTimeOffset.UtcNow, Error)], 0, []);
        var root = hostile with { NodeId = "00000000000000000000000000000002", Role = "root", Link = null, Children = [hostile] };
        await using var listener = await ListenAsync(
            () => throw new InvalidOperationException("not asked"),
            () => new ReadinessStatus(true, "ok"),
            (name, _) => Task.FromResult(new TreeView(DateTimeOffset.UtcNow, 1000, name, root)));
        await using var browser = await Chromium.LaunchAsync();
        await using var page = await browser.NewPageAsync();
        await page.GoToAsync(new Uri(listener.Address, "/?name=" + Uri.EscapeDataString(Name)).ToString());
        await page.WaitForFunctionAsync("() => +document.body.dataset.updates >= 1", new WaitForFunctionOptions { Timeout = (int)Patience.TotalMilliseconds });

        Assert.Null(await page.EvaluateExpressionAsync<int?>("window.pwned ?? null"));
        Assert.Equal(0, await page.EvaluateExpressionAsync<int>("document.querySelectorAll('img, b, i, main script').length"));
        string text = await page.EvaluateExpressionAsync<string>("document.querySelector('main').textContent");
        Assert.Contains(Site, text, StringComparison.Ordinal);
        Assert.Contains(Error, text, StringComparison.Ordinal);
        Assert.Contains(Name, text, StringComparison.Ordinal);
        string svgText = await page.EvaluateExpressionAsync<string>("document.getElementById('graph').textContent");
        Assert.Contains(Site, svgText, StringComparison.Ordinal);
    }

    /// <summary>A destination that takes the first bytes at once and the rest once opened: a transfer held part way.</summary>
    private sealed class GatedStream(long before) : Stream
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _written;

        public void Open() => _open.TrySetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_written + buffer.Length > before)
            {
                await _open.Task.WaitAsync(cancellationToken);
            }

            _written += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _written;

        public override long Position { get => _written; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
