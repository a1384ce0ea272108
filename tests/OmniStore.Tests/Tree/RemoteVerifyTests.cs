using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>
/// A client asks a running node to verify its own store (VERIFY): the node reports progress, then
/// what is damaged; with a repair, a root rewrites its damaged chunks from a relay's verified copy
/// and a relay fetches its damaged cached chunks again from its parent. A node's answer is hostile
/// to the client: counts and lists are checked against the bytes that carry them.
/// </summary>
public sealed class RemoteVerifyTests
{
    private const int ChunkSize = 64 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ARootsDamagedChunk_IsOnlyReportedByAVerifyFromAClient_AndRepairedFromARelaysCopyWithRepair()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var data = TestData.Random(16 * ChunkSize, 81);
        var options = new OmniStoreOptions { ChunkSize = ChunkSize };
        await using var master = await TreeCluster.ConnectAsync(cluster.Root, options);
        await master.PutAsync("precious", data, ct);
        await using (var worker = await TreeCluster.ConnectAsync(cluster.Relays[0], options))
        {
            Assert.Equal(data, await worker.GetAsync("precious", ct).AsTask().WaitAsync(Timeout, ct)); // the relay holds a verified copy
        }

        var damaged = ChunkId.Compute(data.AsSpan(7 * ChunkSize, ChunkSize));
        cluster.Root.Store.EvictChunkLogFromMemory();
        StoreDamage.FlipByteOf(cluster.Root.Store.Directory, data[(7 * ChunkSize)..(8 * ChunkSize)]);

        var progress = new LastProgress();
        var report = await master.VerifyAsync(new VerifyOptions(), progress, ct).WaitAsync(Timeout, ct);

        Assert.False(report.IsWhole);
        Assert.Equal([damaged], report.DamagedChunks);
        Assert.Equal(1, report.DamagedChunkCount);
        Assert.Equal(["precious"], report.DamagedObjects);
        Assert.Empty(report.RepairedChunks);
        Assert.Equal(15, report.VerifiedChunks);
        Assert.Equal(16, progress.Last?.Chunks);
        Assert.Equal(1, progress.Last?.Damaged);
        Assert.Equal([damaged], cluster.Root.Store.DamagedChunks); // marked, not repaired

        var repaired = await master.VerifyAsync(new VerifyOptions { Repair = true }, cancellationToken: ct).WaitAsync(Timeout, ct);

        Assert.True(repaired.IsWhole, string.Join(", ", repaired.DamagedChunks));
        Assert.Equal([damaged], repaired.RepairedChunks);
        Assert.Equal(1, repaired.RepairedChunkCount);
        Assert.Empty(cluster.Root.Store.DamagedChunks);
        cluster.Root.Store.EvictChunkLogFromMemory();
        Assert.Equal(data, await master.GetAsync("precious", ct).AsTask().WaitAsync(Timeout, ct)); // the repaired copy, from disk
    }

    [Fact]
    public async Task ARelaysDamagedCachedChunk_IsFetchedAgainFromItsParent_ByAVerifyWithRepair()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var data = TestData.Random(8 * ChunkSize, 82);
        var options = new OmniStoreOptions { ChunkSize = ChunkSize };
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root, options))
        {
            await master.PutAsync("cached", data, ct);
        }

        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0], options);
        Assert.Equal(data, await worker.GetAsync("cached", ct).AsTask().WaitAsync(Timeout, ct));
        var relay = cluster.Relays[0];
        var damaged = ChunkId.Compute(data.AsSpan(2 * ChunkSize, ChunkSize));

        // The relay's cache writes what it fetched behind the answers (the Get may end first).
        var deadline = DateTime.UtcNow + Timeout;
        while (relay.Store.PendingChunkBytes > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, ct);
        }

        relay.Store.EvictChunkLogFromMemory();
        StoreDamage.FlipByteOf(relay.Store.Directory, data[(2 * ChunkSize)..(3 * ChunkSize)]);

        var result = await worker.VerifyAsync(new VerifyOptions { Repair = true }, cancellationToken: ct).WaitAsync(Timeout, ct);

        Assert.True(result.IsWhole, string.Join(", ", result.DamagedChunks));
        Assert.Equal([damaged], result.RepairedChunks);
        Assert.True(await relay.Store.ContainsChunkAsync(damaged, ct)); // held again, before any Get asks
        relay.Store.EvictChunkLogFromMemory();
        var again = await worker.VerifyAsync(cancellationToken: ct).WaitAsync(Timeout, ct);
        Assert.True(again.IsWhole);
        Assert.Equal(8, again.VerifiedChunks);
        Assert.Equal(data, await worker.GetAsync("cached", ct).AsTask().WaitAsync(Timeout, ct));
    }

    [Fact]
    public async Task TwoVerifiesAtOnce_ShareOneVerification_AndBothGetItsResult()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var client = await TreeCluster.ConnectAsync(cluster.Root, new OmniStoreOptions { ChunkSize = ChunkSize });
        await client.PutAsync("some", TestData.Random(32 * ChunkSize, 83), ct);

        var results = await Task.WhenAll(client.VerifyAsync(cancellationToken: ct), client.VerifyAsync(new VerifyOptions { Repair = true }, cancellationToken: ct)).WaitAsync(Timeout, ct);

        Assert.All(results, r => Assert.True(r.IsWhole));
        Assert.All(results, r => Assert.Equal(32, r.VerifiedChunks));
    }

    [Fact]
    public async Task RepairFrom_ForAClientOfANode_IsRefusedAsInvalidArgument()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var client = await TreeCluster.ConnectAsync(cluster.Root);

        var ex = await Assert.ThrowsAsync<OmniStoreException>(() => client.VerifyAsync(new VerifyOptions { Repair = true, RepairFrom = cluster.Root.Address.ToString() }, cancellationToken: ct));
        Assert.Equal(OmniStoreError.InvalidArgument, ex.Error);
    }

    public static TheoryData<string> HostileAnswers => new(HostileAnswer.Keys);

    /// <summary>Answers a node could send to VERIFY that a client must refuse, each before allocating what it claims.</summary>
    private static readonly Dictionary<string, (FrameType Type, byte[] Payload)> HostileAnswer = new()
    {
        ["huge counts, a huge list"] = (FrameType.VerifyResult, Result(counts: long.MaxValue, listed: int.MaxValue, listedBytes: 0)),
        ["10000 ids announced, 3 sent"] = (FrameType.VerifyResult, Result(counts: 10_000, listed: 10_000, listedBytes: 3 * ChunkId.Size)),
        ["more listed than counted"] = (FrameType.VerifyResult, Result(counts: 1, listed: 2, listedBytes: 2 * ChunkId.Size)),
        ["a negative count"] = (FrameType.VerifyResult, Result(counts: -1, listed: 0, listedBytes: 0)),
        ["truncated in the fixed fields"] = (FrameType.VerifyResult, new byte[17]),
        ["a progress of 5 bytes"] = (FrameType.VerifyProgress, new byte[5]),
        ["another answer type"] = (FrameType.Ok, []),
        ["longer than a result can be"] = (FrameType.VerifyResult, new byte[VerifyMessages.MaxResultSize + 1]),
    };

    [Theory]
    [MemberData(nameof(HostileAnswers))]
    public async Task AHostileVerifyAnswer_IsAProtocolError_NotAHugeAllocation(string answer)
    {
        var ct = TestContext.Current.CancellationToken;
        var (type, payload) = HostileAnswer[answer];
        await using var node = await FakeNode.StartAsync(type, payload, ct);
        await using var client = await OmniStoreClient.ConnectAsync(node.Address, cancellationToken: ct);

        var ex = await Assert.ThrowsAsync<OmniStoreException>(() => client.VerifyAsync(cancellationToken: ct).WaitAsync(Timeout, ct));

        Assert.Equal(OmniStoreError.ProtocolError, ex.Error);
    }

    [Fact]
    public void DecodingAResultThatClaimsTheMostOfEverything_AllocatesOnlyForWhatArrived()
    {
        var payload = Result(counts: long.MaxValue, listed: VerifyResult.MaxListed, listedBytes: 100);

        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => VerifyMessages.DecodeResult(payload)).Error);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 16 * 1024);
    }

    [Fact]
    public void AResult_RoundTrips_WithItsListsCutAndItsCountsWhole()
    {
        var ids = Enumerable.Range(0, VerifyResult.MaxListed + 5).Select(i => ChunkId.Compute(BitConverter.GetBytes(i))).ToList();
        var result = new VerifyResult(7, 1234, ids, ["a", "b/c"], ids[..3]);

        var decoded = VerifyMessages.DecodeResult(VerifyMessages.EncodeResult(result));

        Assert.Equal(VerifyResult.MaxListed, decoded.DamagedChunks.Count);
        Assert.Equal(VerifyResult.MaxListed + 5, decoded.DamagedChunkCount);
        Assert.Equal(ids[..VerifyResult.MaxListed], decoded.DamagedChunks);
        Assert.Equal(ids[..3], decoded.RepairedChunks);
        Assert.Equal(["a", "b/c"], decoded.DamagedObjects);
        Assert.Equal((7L, 1234L), (decoded.VerifiedChunks, decoded.Bytes));
        Assert.False(decoded.IsWhole);
    }

    /// <summary>A VERIFY_RESULT whose three counts are <paramref name="counts"/>, whose damaged-chunk list announces <paramref name="listed"/> and carries <paramref name="listedBytes"/> bytes.</summary>
    private static byte[] Result(long counts, int listed, int listedBytes)
    {
        var payload = new byte[(5 * 8) + 4 + listedBytes];
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(16), counts);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(24), counts);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(32), counts);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(40), listed);
        return payload;
    }

    private sealed class LastProgress : IProgress<VerifyProgress>
    {
        public VerifyProgress? Last { get; private set; }

        public void Report(VerifyProgress value) => Last = value;
    }

    /// <summary>A node that answers every request with one message given by the test (a hostile node, as far as the client can tell).</summary>
    private sealed class FakeNode(IConnectionListener listener, FrameType type, byte[] payload) : IRequestHandler, IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly List<PeerConnection> _connections = [];
        private Task? _accepting;

        public string Address => listener.Addresses[0].ToString();

        public static Task<FakeNode> StartAsync(FrameType type, byte[] payload, CancellationToken ct)
        {
            var node = new FakeNode(TransportRegistry.Default.Listen(new NodeAddress("tcp", "127.0.0.1", 0)), type, payload);
            node._accepting = node.AcceptAsync();
            return Task.FromResult(node);
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                var accepted = await listener.AcceptAsync(_stop.Token);
                if (accepted.Connection?.Open(new LinkCounters()) is not { } transport)
                {
                    if (accepted.Status == AcceptStatus.Stopped)
                    {
                        return;
                    }

                    await Task.Delay(10, _stop.Token);
                    continue;
                }

                try
                {
                    var identity = new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Root, "root", null);
                    _connections.Add(await PeerConnection.StartAsync(transport, transport, isOpener: false, identity, this, new LinkCounters(), null, _stop.Token));
                }
                catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
                {
                }
            }
        }

        public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
        {
            uint stream = request.Stream;
            request.Dispose();
            await connection.RespondAsync(stream, type, payload);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await listener.DisposeAsync();
            if (_accepting is not null)
            {
                await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            foreach (var connection in _connections)
            {
                await connection.DisposeAsync();
            }

            _stop.Dispose();
        }
    }
}
