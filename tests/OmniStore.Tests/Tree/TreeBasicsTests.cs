using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Tree;

public sealed class TreeBasicsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task PutThroughOneRelay_GetThroughAnother_ReturnsTheSameBytes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 2);
        var data = TestData.Random((5L << 20) + 123, 1);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Relays[0]))
        {
            await master.PutAsync("dataset", data, ct).AsTask().WaitAsync(Timeout, ct);
        }

        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[1]);
        Assert.Equal(data, await worker.GetAsync("dataset", ct).AsTask().WaitAsync(Timeout, ct));
        var info = await worker.StatAsync("dataset", ct);
        Assert.Equal(data.Length, info!.Length);
        Assert.Null(await worker.StatAsync("missing", ct));
    }
}
