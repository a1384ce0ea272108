using System.Diagnostics;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;
using OmniStore.Transport.Tcp;

namespace OmniStore.Tests.Tree;

/// <summary>
/// What one child can make a relay ask its parent is bounded: misses (requests the parent answers
/// with an error, such as ids that do not exist) by a rate per child, upstream fetches by a number
/// in flight per child, and a miss is remembered for a few seconds so that asking again does not go
/// upstream. A Put still reads back at once everywhere.
/// </summary>
public sealed class RelayMissLimitTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task TwoThousandRandomChunkIds_CauseABoundedNumberOfUpstreamFetches_WhileAnotherClientIsServed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var relay = cluster.Relays[0];
        var data = TestData.Random(8L << 20, 1);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("legit", data, ct);
        }

        await using var attacker = await ConnectRawAsync(relay, ct);
        await using var worker = await TreeCluster.ConnectAsync(relay);
        var random = new Random(5);
        var clock = Stopwatch.StartNew();
        // 64 in flight at a time, well within what a connection may have outstanding.
        using var window = new SemaphoreSlim(64);
        var attack = Enumerable.Range(0, 2000).Select(_ => RandomChunkId(random)).ToList().Select(async id =>
        {
            await window.WaitAsync(ct);
            try
            {
                return await AskAsync(attacker, id, ct);
            }
            finally
            {
                window.Release();
            }
        }).ToList();

        // Meanwhile a worker on another connection reads a cold object through the same relay.
        Assert.Equal(data, await worker.GetAsync("legit", ct).AsTask().WaitAsync(Timeout, ct));
        var answers = await Task.WhenAll(attack).WaitAsync(Timeout, ct);
        double seconds = clock.Elapsed.TotalSeconds;

        var options = new TreeNodeOptions { Listen = [relay.Address], DataDirectory = "unused" }; // the defaults
        long bound = options.UpstreamMissBurst + (long)Math.Ceiling(options.UpstreamMissRate * seconds) + options.MaxUpstreamFetchesPerChild;
        long upstream = relay.ChunkFetches.Executions - 8; // the worker's 8 chunks
        TestContext.Current.TestOutputHelper?.WriteLine($"{upstream} upstream fetches in {seconds:F2} s; {answers.Count(a => a.Error == OmniStoreError.Unavailable)} requests refused, {relay.Misses.Remembered} answered from memory");
        Assert.True(upstream <= bound, $"{upstream} of 2000 random ids went to the parent in {seconds:F2} s; at most {bound} should have");
        Assert.All(answers, a => Assert.True(a.Error is OmniStoreError.NotFound or OmniStoreError.Unavailable, a.ToString()));
        Assert.Contains(answers, a => a.Error == OmniStoreError.Unavailable && a.Message.Contains("miss", StringComparison.Ordinal));
        Assert.True(attacker.IsOpen, "the relay closed the attacker's connection instead of answering");
    }

    [Fact]
    public async Task AMissIsRemembered_SoAskingAgainDoesNotGoUpstream()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var relay = cluster.Relays[0];
        await using var child = await ConnectRawAsync(relay, ct);
        var chunk = RandomChunkId(new Random(6));
        var manifest = new byte[ManifestId.Size];
        new Random(7).NextBytes(manifest);

        foreach (var (type, payload) in new[] { (FrameType.GetChunk, ChunkRequests.Encode(chunk, 1000)), (FrameType.GetManifest, manifest), (FrameType.Resolve, Names.Encode("no/such/name")) })
        {
            var first = await AskAsync(child, type, payload, ct);
            Assert.Equal(OmniStoreError.NotFound, first.Error);
            long sent = relay.Parent!.Counters.PayloadOut;
            for (int i = 0; i < 5; i++)
            {
                var again = await AskAsync(child, type, payload, ct);
                Assert.Equal(OmniStoreError.NotFound, again.Error);
            }

            Assert.True(relay.Parent.Counters.PayloadOut == sent, $"asking for a missing {type} again went to the parent");
        }
    }

    [Fact]
    public async Task MissesOfOneChild_DoNotLimitAnother()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var relay = cluster.Relays[0];
        await using var greedy = await ConnectRawAsync(relay, ct);
        await using var modest = await ConnectRawAsync(relay, ct);

        var random = new Random(8);
        var answers = await Task.WhenAll(Enumerable.Range(0, 400).Select(_ => AskAsync(greedy, RandomChunkId(random), ct))).WaitAsync(Timeout, ct);
        Assert.Contains(answers, a => a.Error == OmniStoreError.Unavailable);

        for (int i = 0; i < 20; i++)
        {
            var answer = await AskAsync(modest, RandomChunkId(random), ct);
            Assert.True(answer.Error == OmniStoreError.NotFound, $"the other child got {answer}");
        }
    }

    [Fact]
    public async Task APutAfterMisses_IsReadableAtOnce_WhetherItWentThroughTheRelayOrNot()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var relay = cluster.Relays[0];
        await using var worker = await TreeCluster.ConnectAsync(relay);
        var small = new OmniStoreOptions { ChunkSize = 64 * 1024 };
        await using var viaRelay = await TreeCluster.ConnectAsync(relay, small);
        await using var atRoot = await TreeCluster.ConnectAsync(cluster.Root, small);
        await using var raw = await ConnectRawAsync(relay, ct);

        for (int round = 0; round < 3; round++)
        {
            var data = TestData.Random(300_000 + round, 20 + round);
            string name = $"late/{round}";
            var chunk = ChunkId.Compute(data.AsSpan(0, 64 * 1024));

            // Missed (and remembered) just before the Put: the name, and the object's first chunk.
            Assert.Null(await worker.StatAsync(name, ct));
            Assert.Equal(OmniStoreError.NotFound, (await AskAsync(raw, FrameType.GetChunk, ChunkRequests.Encode(chunk, 64 * 1024), ct)).Error);

            var writer = round == 1 ? atRoot : viaRelay;
            await writer.PutAsync(name, data, ct);
            Assert.Equal(data, await worker.GetAsync(name, ct));
        }
    }

    [Fact]
    public async Task UpstreamFetchesOfOneChild_AreBoundedInFlight_EvenThroughPrefetches()
    {
        var ct = TestContext.Current.CancellationToken;
        const int Objects = 8;
        const int ChunksEach = 16;
        const int ChunkSize = 64 * 1024;
        var objects = Enumerable.Range(0, Objects).Select(o => Enumerable.Range(0, ChunksEach).Select(c => TestData.Random(ChunkSize, (o * 100) + c)).ToArray()).ToArray();
        var manifests = objects.Select(chunks => new Manifest(new ChunkLayout((long)ChunksEach * ChunkSize, ChunkSize), chunks.Select(c => ChunkId.Compute(c)))).ToArray();
        var chunkBytes = objects.SelectMany(o => o).ToDictionary(c => ChunkId.Compute(c));

        // A parent that answers slowly, so that the relay's requests pile up in flight.
        await using var parent = await SlowParent.StartAsync(manifests, chunkBytes, TimeSpan.FromMilliseconds(50));
        using var dir = new TempDirectory("omnistore-misslimit");
        await using var relay = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [new NodeAddress("tcp", "127.0.0.1", 0)],
            Parent = parent.Address,
            Site = "relay",
            DataDirectory = dir.Sub("relay"),
            CacheSize = 256L << 20,
        }, ct);
        Assert.NotNull(relay.Parent!.Current);

        await using var child = await ConnectRawAsync(relay, ct);
        var prefetches = Enumerable.Range(0, Objects).Select(o => child.RequestAsync(FrameType.Prefetch, Names.Encode($"object/{o}"), ct)).ToList();
        int most = 0;
        var all = Task.WhenAll(prefetches);
        var deadline = DateTime.UtcNow + Timeout;
        while (!all.IsCompleted && DateTime.UtcNow < deadline)
        {
            most = Math.Max(most, relay.Parent.Current?.PendingRequests ?? 0);
            await Task.Delay(2, ct);
        }

        foreach (var answer in await all.WaitAsync(Timeout, ct))
        {
            answer.Dispose();
        }

        int allowed = TreeNodeOptions.DefaultMaxUpstreamFetchesPerChild;
        Assert.True(most <= allowed, $"{most} requests of one child's prefetches were in flight to the parent at once; at most {allowed} should be");
        Assert.True(most > 1, "the test did not load the link");
        Assert.Equal(Objects * ChunksEach, relay.ChunkFetches.Executions);
    }

    internal static async Task<PeerConnection> ConnectRawAsync(TreeNode node, CancellationToken ct)
    {
        var counters = new LinkCounters();
        var transport = await TcpConnection.ConnectAsync(node.Address, counters, ct);
        return await PeerConnection.StartAsync(transport, transport, true, ConnectionIdentity.NewClient(), null, counters, null, ct);
    }

    private static ChunkId RandomChunkId(Random random)
    {
        var bytes = new byte[ChunkId.Size];
        random.NextBytes(bytes);
        return ChunkId.Read(bytes);
    }

    private static Task<Answer> AskAsync(PeerConnection connection, ChunkId id, CancellationToken ct) =>
        AskAsync(connection, FrameType.GetChunk, ChunkRequests.Encode(id, 1000), ct);

    private static async Task<Answer> AskAsync(PeerConnection connection, FrameType type, byte[] payload, CancellationToken ct)
    {
        try
        {
            (await connection.RequestAsync(type, payload, ct).WaitAsync(Timeout, ct)).Dispose();
            return new Answer(null, "answered");
        }
        catch (OmniStoreException ex)
        {
            return new Answer(ex.Error, ex.Message);
        }
    }

    private sealed record Answer(OmniStoreError? Error, string Message);

    /// <summary>A parent that serves fixed objects (named object/0, object/1, ...) and answers every chunk request after a delay.</summary>
    private sealed class SlowParent : IRequestHandler, IAsyncDisposable
    {
        private readonly TcpConnectionListener _listener;
        private readonly Manifest[] _manifests;
        private readonly Dictionary<ChunkId, byte[]> _chunks;
        private readonly TimeSpan _delay;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<PeerConnection> _connections = [];
        private Task _accepting = Task.CompletedTask;

        private SlowParent(TcpConnectionListener listener, Manifest[] manifests, Dictionary<ChunkId, byte[]> chunks, TimeSpan delay)
        {
            _listener = listener;
            _manifests = manifests;
            _chunks = chunks;
            _delay = delay;
        }

        public NodeAddress Address => new("tcp", "127.0.0.1", _listener.Addresses[0].Port);

        public static Task<SlowParent> StartAsync(Manifest[] manifests, Dictionary<ChunkId, byte[]> chunks, TimeSpan delay)
        {
            var parent = new SlowParent(TcpConnectionListener.Bind(new NodeAddress("tcp", "127.0.0.1", 0)), manifests, chunks, delay);
            parent._accepting = Task.Run(parent.AcceptLoopAsync);
            return Task.FromResult(parent);
        }

        public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
        {
            using (request)
            {
                switch (request.Type)
                {
                    case FrameType.Resolve:
                        string name = Names.Decode(request.Payload);
                        var manifest = _manifests[int.Parse(name["object/".Length..], System.Globalization.CultureInfo.InvariantCulture)];
                        await connection.RespondAsync(request.Stream, FrameType.Binding, new BindingMessage(name, 1, manifest.Id, true).Encode());
                        break;
                    case FrameType.GetManifest:
                        var id = ManifestId.Read(request.Payload);
                        await connection.RespondAsync(request.Stream, FrameType.Manifest, _manifests.Single(m => m.Id == id).ToBytes());
                        break;
                    case FrameType.GetChunk:
                        await Task.Delay(_delay, cancellationToken);
                        var chunk = ChunkId.Read(request.Payload);
                        var bytes = _chunks[chunk];
                        await connection.RespondAsync(request.Stream, FrameType.Chunk, ChunkMessage.Head(chunk, bytes.Length), bytes);
                        break;
                    default:
                        throw new OmniStoreException(OmniStoreError.ProtocolError, $"{request.Type} is not served here.");
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _listener.DisposeAsync();
            await _accepting;
            foreach (var connection in _connections)
            {
                await connection.DisposeAsync();
            }

            _stop.Dispose();
        }

        private async Task AcceptLoopAsync()
        {
            for (int i = 0; i < 100 && !_stop.IsCancellationRequested; i++)
            {
                var accepted = await _listener.AcceptAsync(_stop.Token);
                if (accepted.Status == AcceptStatus.Stopped)
                {
                    return;
                }

                var counters = new LinkCounters();
                if (accepted.Connection?.Open(counters) is not { } next)
                {
                    continue;
                }

                try
                {
                    var identity = new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Root, "slow", null) { AcceptsRelaysWithoutSecret = true };
                    _connections.Add(await PeerConnection.StartAsync(next, next, false, identity, this, counters, null, _stop.Token));
                }
                catch (Exception e) when (e is OmniStoreException or OperationCanceledException)
                {
                }
            }
        }
    }
}
