using Microsoft.Extensions.Logging;
using OmniStore.Node;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>
/// A node listens on several addresses, of any mix of transports: every one is bound, reachable,
/// logged, shown in its status, and closed with the node.
/// </summary>
public sealed class MultiListenTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _dir = new("omnistore-listen");
    private readonly List<TreeNode> _nodes = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_nodes))
        {
            await node.DisposeAsync();
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task ANodeListeningOnTcpAndMem_IsReachableOverBoth_LogsAndShowsEveryAddress()
    {
        var ct = TestContext.Current.CancellationToken;
        var logs = new CapturedLogs();
        string name = $"multi-{Guid.NewGuid():N}";
        var root = await StartAsync("root", [new NodeAddress("tcp", "127.0.0.1", 0), new NodeAddress("mem", name, 0)], logs: logs);

        Assert.Equal(2, root.Addresses.Count);
        var (tcp, mem) = (root.Addresses[0], root.Addresses[1]);
        Assert.Equal(("tcp", "127.0.0.1"), (tcp.Scheme, tcp.Host));
        Assert.NotEqual(0, tcp.Port);
        Assert.Equal("mem", mem.Scheme);
        Assert.StartsWith(name, mem.Host, StringComparison.Ordinal);
        Assert.Equal(tcp, root.Address);

        var data = TestData.Random((1L << 20) + 17, 5);
        await using (var overTcp = await OmniStoreClient.ConnectAsync(tcp.ToString(), new OmniStoreOptions(), ct).WaitAsync(Timeout, ct))
        {
            await overTcp.PutAsync("both", data, ct).AsTask().WaitAsync(Timeout, ct);
        }

        await using (var overMem = await OmniStoreClient.ConnectAsync(mem.ToString(), new OmniStoreOptions(), ct).WaitAsync(Timeout, ct))
        {
            Assert.Equal(data, await overMem.GetAsync("both", ct).AsTask().WaitAsync(Timeout, ct));
        }

        // A relay below, whose parent is the root's in-memory address, listens on both too.
        var relay = await StartAsync("relay", [new NodeAddress("mem", name + "-relay", 0), new NodeAddress("tcp", "127.0.0.1", 0)], parent: mem);
        Assert.NotNull(relay.Parent!.Current);
        await using (var worker = await OmniStoreClient.ConnectAsync(relay.Addresses[1].ToString(), new OmniStoreOptions(), ct).WaitAsync(Timeout, ct))
        {
            Assert.Equal(data, await worker.GetAsync("both", ct).AsTask().WaitAsync(Timeout, ct));
        }

        var listening = logs.Entries.Where(e => e.EventId.Id == 3003).Select(e => e.Message).ToList();
        Assert.Equal(2, listening.Count);
        Assert.Contains($"listening on {tcp} ", listening[0], StringComparison.Ordinal);
        Assert.Contains($"listening on {mem} ", listening[1], StringComparison.Ordinal);

        var status = root.GetStatus();
        Assert.Equal(tcp.ToString(), status.Listen);
        Assert.Equal([tcp.ToString(), mem.ToString()], status.ListenAddresses);
    }

    [Fact]
    public async Task StoppingTheNode_ClosesEveryAddress()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = await StartAsync("root", [new NodeAddress("mem", $"closing-{Guid.NewGuid():N}", 0), new NodeAddress("tcp", "127.0.0.1", 0)]);
        var addresses = root.Addresses;
        _nodes.Remove(root);
        await root.DisposeAsync();

        foreach (var address in addresses)
        {
            var error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync(address.ToString(), new OmniStoreOptions(), ct).WaitAsync(Timeout, ct));
            Assert.Equal(OmniStoreError.Unavailable, error.Error);
        }

        // The name and the port are free again.
        var again = await StartAsync("again", addresses);
        Assert.Equal(addresses, again.Addresses);
    }

    [Fact]
    public async Task AnAddressThatCannotBeBound_FailsTheStart_AndFreesTheOthers()
    {
        string taken = $"taken-{Guid.NewGuid():N}";
        string free = $"free-{Guid.NewGuid():N}";
        await StartAsync("holder", [new NodeAddress("mem", taken, 1)]);

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => StartAsync("second", [new NodeAddress("mem", free, 1), new NodeAddress("mem", taken, 1)]));

        Assert.Equal(OmniStoreError.Unavailable, error.Error);
        Assert.Contains(taken, error.Message, StringComparison.Ordinal);
        var third = await StartAsync("third", [new NodeAddress("mem", free, 1)]);
        Assert.Equal(new NodeAddress("mem", free, 1), third.Address);
    }

    private async Task<TreeNode> StartAsync(string site, IReadOnlyList<NodeAddress> listen, NodeAddress? parent = null, ILoggerFactory? logs = null)
    {
        var node = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = listen,
            Parent = parent,
            Site = site,
            DataDirectory = _dir.Sub($"{site}-{Guid.NewGuid():N}"),
            CacheSize = parent is null ? 0 : 256L << 20,
            AcceptRelaysWithoutSecret = true,
            LoggerFactory = logs ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance,
        }).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        _nodes.Add(node);
        return node;
    }
}
