using OmniStore.Tests.Tree;

namespace OmniStore.Tests.Observability;

/// <summary>A client moved to its fallback moves back to its preferred node when it returns, and says so.</summary>
public sealed class FailbackTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ClientOnItsFallback_MovesBackToItsRelay_WhenTheRelayReturns()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        var relay = await cluster.StartNodeAsync("site0", cluster.Root.Address, directory: cluster.DirectoryOf("relay-store"));
        string relayAddress = relay.Address.ToString();
        string rootAddress = cluster.Root.Address.ToString();

        await using var client = await OmniStoreClient.ConnectAsync(relayAddress, new OmniStoreOptions { FallbackUris = [rootAddress], FailbackInterval = TimeSpan.FromMilliseconds(100) }, ct);
        var failovers = new List<EndpointChangedEventArgs>();
        var restored = new TaskCompletionSource<EndpointChangedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Failover += (sender, e) =>
        {
            Assert.Same(client, sender);
            lock (failovers)
            {
                failovers.Add(e);
            }
        };
        client.Restored += (_, e) => restored.TrySetResult(e);
        Assert.Equal(relayAddress, client.CurrentEndpoint);
        await client.PutAsync("kept", new byte[] { 1, 2, 3 }, ct);

        await cluster.StopAsync(relay);
        Assert.Equal([1, 2, 3], await client.GetAsync("kept", ct));
        Assert.Equal(rootAddress, client.CurrentEndpoint);
        var failover = Assert.Single(failovers);
        Assert.Equal(relayAddress, failover.Previous);
        Assert.Equal(rootAddress, failover.Current);
        Assert.False(string.IsNullOrEmpty(failover.Reason));

        // Down for a few tries: the client stays on the root meanwhile.
        await Task.Delay(400, ct);
        Assert.False(restored.Task.IsCompleted);
        Assert.Equal(rootAddress, client.CurrentEndpoint);

        await RestartAsync(cluster, relay);
        var back = await restored.Task.WaitAsync(Timeout, ct);
        Assert.Equal(rootAddress, back.Previous);
        Assert.Equal(relayAddress, back.Current);
        Assert.Null(back.Reason);
        Assert.Equal(relayAddress, client.CurrentEndpoint);
        Assert.Equal([1, 2, 3], await client.GetAsync("kept", ct));
        Assert.Single(failovers);
    }

    [Fact]
    public async Task ClientWithFailbackOff_StaysWhereItMoved()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        var relay = await cluster.StartNodeAsync("site0", cluster.Root.Address, directory: cluster.DirectoryOf("relay-store"));
        string rootAddress = cluster.Root.Address.ToString();
        await using var client = await OmniStoreClient.ConnectAsync(relay.Address.ToString(), new OmniStoreOptions { FallbackUris = [rootAddress], FailbackInterval = System.Threading.Timeout.InfiniteTimeSpan }, ct);
        int restores = 0;
        client.Restored += (_, _) => Interlocked.Increment(ref restores);
        await client.PutAsync("kept", new byte[] { 4 }, ct);

        await cluster.StopAsync(relay);
        Assert.Equal([4], await client.GetAsync("kept", ct));
        await RestartAsync(cluster, relay);
        await Task.Delay(500, ct);
        Assert.Equal(0, Volatile.Read(ref restores));
        Assert.Equal(rootAddress, client.CurrentEndpoint);
    }

    /// <summary>The relay again, on its store and its port, after it was stopped.</summary>
    private static Task<OmniStore.Node.TreeNode> RestartAsync(TreeCluster cluster, OmniStore.Node.TreeNode stopped) =>
        cluster.StartNodeAsync("site0", cluster.Root.Address, directory: cluster.DirectoryOf("relay-store"), port: stopped.Address.Port);

    [Fact]
    public void FailbackInterval_MustBePositiveOrInfinite()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new OmniStoreOptions { FailbackInterval = TimeSpan.Zero }.Validate());
        Assert.Contains(nameof(OmniStoreOptions.FailbackInterval), error.Message, StringComparison.Ordinal);
        new OmniStoreOptions { FailbackInterval = System.Threading.Timeout.InfiniteTimeSpan }.Validate();
    }

    [Fact]
    public void TheEmbeddedStore_HasNoEndpoint()
    {
        using var dir = new TempDirectory();
        using var client = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = dir.Path });
        Assert.Null(client.CurrentEndpoint);
    }
}
