using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Tree;

/// <summary>
/// Over rudp, status shows each link's transport state (docs/rudp.md, "Status and metrics"): the
/// round trip, the congestion controller's state, window and pacing rate, bytes in flight, packets
/// sent and lost, the path MTU, the receive window and the socket path; over tcp there is none.
/// </summary>
public sealed class RudpLinkStatusTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("rudp")]
    [InlineData("tcp")]
    public async Task TheParentAndChildLinks_ShowTheirTransportState_OverRudpOnly(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        var data = TestData.Random(4 << 20, 3);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("dataset", data, ct).AsTask().WaitAsync(Timeout, ct);
        }

        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        Assert.Equal(data, await worker.GetAsync("dataset", ct).AsTask().WaitAsync(Timeout, ct));

        var relay = cluster.Relays[0].GetStatus();
        var parent = relay.Parent!.Link!;
        var child = Assert.Single(cluster.Root.GetStatus().Children, c => c.Role == "relay").Link!;
        if (transport == "tcp")
        {
            Assert.Null(parent.TransportState);
            Assert.Null(child.TransportState);
            return;
        }

        Assert.Equal("rudp", parent.Transport);
        var up = parent.TransportState!;
        var down = child.TransportState!;
        Assert.True(down.PacketsSent > (4 << 20) / 9000, $"the root sent {down.PacketsSent} packets");
        Assert.True(up.PacketsSent > 0);
        Assert.StartsWith("bbr/", down.Congestion, StringComparison.Ordinal);
        Assert.True(down.CongestionWindow > 0 && down.PacingRate > 0);
        Assert.InRange(down.PathMtu, 1200, 65_535);
        Assert.True(down.RttMs > 0 && down.MinRttMs > 0 && down.MinRttMs <= down.RttMs);
        Assert.True(up.ReceiveWindow >= 1 << 20);
        Assert.False(string.IsNullOrEmpty(down.SocketPath));
        Assert.InRange(down.LossRatio, 0, 1);
    }
}
