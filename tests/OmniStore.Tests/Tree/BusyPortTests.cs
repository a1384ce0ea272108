using System.Globalization;
using OmniStore.Node;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>
/// One node per TCP port: a second node on a port another one listens on fails to start (and the
/// first keeps serving), while a node restarted on its port right after the last one stopped,
/// with that one's connections still in TIME_WAIT, binds.
/// </summary>
public sealed class BusyPortTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _dir = new("omnistore-busy-port");
    private readonly List<TreeNode> _nodes = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_nodes))
        {
            await node.DisposeAsync();
        }

        _dir.Dispose();
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    public async Task ASecondNode_OnATcpPortInUse_FailsToStartWithUnavailableNamingTheAddress_AndTheFirstKeepsServing(string secondHost)
    {
        var ct = TestContext.Current.CancellationToken;
        var first = await StartAsync("first", [new NodeAddress("tcp", "127.0.0.1", 0)]);
        int port = first.Address.Port;
        var busy = new NodeAddress("tcp", secondHost, port);

        // Before the fix, the second node bound the same port too (SO_REUSEPORT) and the kernel
        // split new connections between two unrelated stores.
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => StartAsync("second", [busy]));

        Assert.Equal(OmniStoreError.Unavailable, error.Error);
        Assert.Contains(busy.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains("in use", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);

        // Every connection reaches the first node: what one client puts, the next ones read.
        var data = TestData.Random(100_000, 3);
        await using (var client = await OmniStoreClient.ConnectAsync(first.Address.ToString(), new OmniStoreOptions(), ct).WaitAsync(Timeout, ct))
        {
            await client.PutAsync("only-one", data, ct).AsTask().WaitAsync(Timeout, ct);
        }

        for (int i = 0; i < 8; i++)
        {
            await using var client = await OmniStoreClient.ConnectAsync(first.Address.ToString(), new OmniStoreOptions(), ct).WaitAsync(Timeout, ct);
            Assert.Equal(data, await client.GetAsync("only-one", ct).AsTask().WaitAsync(Timeout, ct));
        }
    }

    [Fact]
    public async Task ANodeListeningOnSeveralAddresses_OneOfThemInUse_FailsToStart()
    {
        var holder = await StartAsync("holder", [new NodeAddress("tcp", "127.0.0.1", 0)]);
        var taken = holder.Address;

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => StartAsync("second", [new NodeAddress("tcp", "127.0.0.2", 0), taken]));

        Assert.Equal(OmniStoreError.Unavailable, error.Error);
        Assert.Contains(taken.ToString(), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ANodeRestartedOnItsPort_WhileTheLastOnesConnectionsAreInTimeWait_Binds()
    {
        var ct = TestContext.Current.CancellationToken;
        string directory = _dir.Sub("restarted");
        var node = await StartAsync("restarted", [new NodeAddress("tcp", "127.0.0.1", 0)], directory, track: false);
        var address = node.Address;

        // The node closes its side of a live connection first, so that side (on the node's port)
        // goes through FIN_WAIT to TIME_WAIT, where it stays for a minute.
        var client = await OmniStoreClient.ConnectAsync(address.ToString(), new OmniStoreOptions(), ct).WaitAsync(Timeout, ct);
        await client.PutAsync("kept", new byte[] { 1, 2, 3 }, ct).AsTask().WaitAsync(Timeout, ct);
        await node.DisposeAsync();
        await client.DisposeAsync();
        if (OperatingSystem.IsLinux())
        {
            // Otherwise the test would pass without testing anything.
            bool lingering = false;
            for (int i = 0; i < 50 && !(lingering = HasLingeringConnection(address.Port)); i++)
            {
                await Task.Delay(100, ct);
            }

            Assert.True(lingering, $"no connection on port {address.Port} is in FIN_WAIT or TIME_WAIT: the test would not test the restart");
        }

        var again = await StartAsync("restarted", [address], directory);

        Assert.Equal(address, again.Address);
        await using var reader = await OmniStoreClient.ConnectAsync(address.ToString(), new OmniStoreOptions(), ct).WaitAsync(Timeout, ct);
        Assert.Equal(new byte[] { 1, 2, 3 }, await reader.GetAsync("kept", ct).AsTask().WaitAsync(Timeout, ct));
    }

    /// <summary>Whether a connection with local port <paramref name="port"/> is in FIN_WAIT1, FIN_WAIT2 or TIME_WAIT (Linux: /proc/net/tcp).</summary>
    private static bool HasLingeringConnection(int port)
    {
        string suffix = ":" + port.ToString("X4", CultureInfo.InvariantCulture);
        foreach (string line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 3 && fields[1].EndsWith(suffix, StringComparison.Ordinal) && fields[3] is "04" or "05" or "06")
            {
                return true;
            }
        }

        return false;
    }

    private async Task<TreeNode> StartAsync(string site, IReadOnlyList<NodeAddress> listen, string? directory = null, bool track = true)
    {
        var node = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = listen,
            Site = site,
            DataDirectory = directory ?? _dir.Sub($"{site}-{Guid.NewGuid():N}"),
        }).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        if (track)
        {
            _nodes.Add(node);
        }

        return node;
    }
}
