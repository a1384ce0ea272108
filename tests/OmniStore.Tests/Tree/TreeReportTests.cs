using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Protocol;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>TREE_REPORT between nodes, and the tree a node builds from them (docs/tree.md).</summary>
public class TreeReportTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    internal static Task<TreeCluster> StartAsync(int relays) =>
        TreeCluster.StartWithAsync(relays, options => options with { TreeReportInterval = Interval });

    /// <summary>Polls <paramref name="node"/>'s tree until <paramref name="done"/> holds, for at most 10 s.</summary>
    internal static async Task<TreeView> WaitForTreeAsync(TreeNode node, Func<TreeView, bool> done, string? name = null)
    {
        var ct = TestContext.Current.CancellationToken;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        TreeView tree;
        while (!done(tree = await node.GetTreeAsync(name, ct)))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the tree did not get there in 10 s: {System.Text.Json.JsonSerializer.Serialize(tree)}");
            await Task.Delay(50, ct);
        }

        return tree;
    }

    /// <summary>A byte count in the tree is the node's counter as of its report: behind it by at most the TREE_REPORT exchanges since (a few per second, a few hundred bytes each).</summary>
    internal static void AssertTrails(long counter, long reported)
    {
        Assert.InRange(counter - reported, 0, MaxReportTraffic);
    }

    /// <summary>The most bytes of TREE_REPORT exchanges a test lets pass between a report and reading a counter.</summary>
    internal const long MaxReportTraffic = 8 * 1024;

    [Fact]
    public async Task TheRoot_SeesADeeperTree_AndWhichNodesHoldAName()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await StartAsync(relays: 1);
        var lower = await cluster.StartNodeAsync("lower", cluster.Relays[0].Address);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("data/in", TestData.Random(300_000, seed: 1), ct);
        }

        await using (var worker = await TreeCluster.ConnectAsync(lower))
        {
            Assert.Equal(300_000, (await worker.GetAsync("data/in", ct)).Length);
        }

        var tree = await WaitForTreeAsync(cluster.Root, t => t.Root.Children is [{ Children: [{ Holds: true }] }], name: "data/in");
        Assert.Equal("root", tree.Root.Role);
        Assert.True(tree.Root.Holds);
        var middle = Assert.Single(tree.Root.Children);
        Assert.Equal(cluster.Relays[0].NodeId.ToString(), middle.NodeId);
        Assert.Equal("site0", middle.Site);
        Assert.True(middle.Holds);
        var bottom = Assert.Single(middle.Children);
        Assert.Equal(lower.NodeId.ToString(), bottom.NodeId);
        Assert.Equal("lower", bottom.Site);
        // As the node counted them when it reported: since then only TREE_REPORT exchanges crossed the link.
        AssertTrails(lower.Parent!.Counters.PayloadIn, bottom.Link!.BytesIn);
        AssertTrails(lower.Parent.Counters.PayloadOut, bottom.Link.BytesOut);
        Assert.True(bottom.Link.BytesIn >= 300_000);
        Assert.True(bottom.Link.Up);

        // A name nobody holds: every node answers "no".
        var none = await WaitForTreeAsync(cluster.Root, t => t.Root.Children is [{ Holds: false, Children: [{ Holds: false }] }], name: "never/put");
        Assert.False(none.Root.Holds);
    }

    [Fact]
    public async Task ARelayThatLeaves_IsGoneFromTheTree()
    {
        await using var cluster = await StartAsync(relays: 2);
        await WaitForTreeAsync(cluster.Root, t => t.Root.Children.Count(c => c.Reported) == 2);
        Assert.Equal(2, cluster.Root.TreeReportCount);
        var leaving = cluster.Relays[1];
        await cluster.StopAsync(leaving);
        var tree = await WaitForTreeAsync(cluster.Root, t => t.Root.Children.Count == 1);
        Assert.Equal(cluster.Relays[0].NodeId.ToString(), tree.Root.Children[0].NodeId);
        Assert.Equal(1, cluster.Root.TreeReportCount);
    }

    [Fact]
    public async Task AClientSendingATreeReport_GetsAProtocolError_AndItsConnectionStaysUp()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await StartAsync(relays: 0);
        var counters = new LinkCounters();
        var (link, identity) = await cluster.DialAsync(cluster.Root, counters, ct);
        await using var connection = await PeerConnection.StartAsync(link, link, true, identity, null, counters, null, ct);
        var report = TreeReportMessages.Encode(new TreeReport([], [TreeReportMessageTests.Entry(-1, identity.NodeId)], 0));
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.TreeReport, report, ct));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains("Only a relay sends TREE_REPORT", error.Message, StringComparison.Ordinal);
        Assert.True(connection.IsOpen);
        Assert.Equal(0, cluster.Root.TreeReportCount);
        Assert.Empty((await cluster.Root.GetTreeAsync(null, ct)).Root.Children);
    }

    [Fact]
    public async Task ARelayReportThatClaimsAnotherNode_IsRefused_AndCannotReplaceItsEntry()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await StartAsync(relays: 1);
        await WaitForTreeAsync(cluster.Root, t => t.Root.Children is [{ Reported: true }]);
        var honest = cluster.Relays[0].NodeId;

        var counters = new LinkCounters();
        var link = await TransportRegistry.Default.ConnectAsync(cluster.Root.Address, counters, ct);
        var identity = new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Relay, "liar", null) { RelaySecret = cluster.RelaySecret };
        await using var connection = await PeerConnection.StartAsync(link, link, true, identity, null, counters, null, ct);

        // Entry 0 naming the honest relay: refused.
        var claim = TreeReportMessages.Encode(new TreeReport([], [TreeReportMessageTests.Entry(-1, honest, "liar")], 0));
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.TreeReport, claim, ct));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);

        // The honest relay's id as a node below the liar: filed under the liar, the honest entry stands.
        var below = TreeReportMessages.Encode(new TreeReport([], [TreeReportMessageTests.Entry(-1, identity.NodeId, "liar"), TreeReportMessageTests.Entry(0, honest, "fake")], 0));
        using (await connection.RequestAsync(FrameType.TreeReport, below, ct))
        {
        }

        var tree = await cluster.Root.GetTreeAsync(null, ct);
        var real = Assert.Single(tree.Root.Children, c => c.NodeId == honest.ToString());
        Assert.Equal("site0", real.Site);
        var liar = Assert.Single(tree.Root.Children, c => c.NodeId == identity.NodeId.ToString());
        Assert.Equal("fake", Assert.Single(liar.Children).Site);
    }
}
