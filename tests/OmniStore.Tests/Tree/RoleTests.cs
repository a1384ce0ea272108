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
/// Roles are not taken on a peer's word: what a peer that claims to be a relay, or a child that
/// sends what only a parent may send, can do to a tree (docs/protocol.md, "Roles").
/// </summary>
public sealed class RoleTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AClientClaimingToBeARelay_IsRefused_AndAPutAtTheRootDoesNotWaitForIt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);

        // The attack: say "relay" in HELLO, then never acknowledge an UPDATE.
        var claim = await Record.ExceptionAsync(async () =>
        {
            await using var rogue = await ConnectAsync(cluster.Root.Address, new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Relay, "rogue", null), new SilentHandler(), ct);
            await PutAndTimeAsync(cluster.Root, "x", 1, ct);
        });
        var error = Assert.IsType<OmniStoreException>(claim);
        Assert.Equal(OmniStoreError.Unauthorized, error.Error);
        Assert.Contains("relay secret", error.Message, StringComparison.Ordinal);

        var elapsed = await PutAndTimeAsync(cluster.Root, "x", 2, ct);
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"the Put took {elapsed}");
    }

    [Fact]
    public async Task AChildClaimingToBeTheRoot_IsRefused()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        foreach (var node in new[] { cluster.Root, cluster.Relays[0] })
        {
            var error = await Assert.ThrowsAsync<OmniStoreException>(async () =>
            {
                await using var rogue = await ConnectAsync(node.Address, new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Root, "rogue", null), new SilentHandler(), ct);
            });
            Assert.Equal(OmniStoreError.Unauthorized, error.Error);
            Assert.Contains("root", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task PushChunkAndUpdateFromAChild_AreRefused_AndNothingIsCached()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var relay = cluster.Relays[0];
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("name", TestData.Random(1000, 1), ct);
        }

        await using (var worker = await TreeCluster.ConnectAsync(relay))
        {
            Assert.Equal(TestData.Random(1000, 1), await worker.GetAsync("name", ct));
        }

        foreach (var node in new[] { relay, cluster.Root })
        {
            await using var client = await ConnectAsync(node.Address, ConnectionIdentity.NewClient(), handler: null, ct);
            var poison = TestData.Random(5000, 2);
            var id = ChunkId.Compute(poison);
            var pushed = await Assert.ThrowsAsync<OmniStoreException>(() => client.RequestAsync(FrameType.PushChunk, ChunkMessage.Head(id, poison.Length), poison, ct));
            Assert.Equal(OmniStoreError.ProtocolError, pushed.Error);
            Assert.False(await node.Store.ContainsChunkAsync(id, ct), "a child's PUSH_CHUNK was stored");

            var forged = new BindingMessage("name", 99, ManifestId.Compute(poison), IsBound: true);
            var updated = await Assert.ThrowsAsync<OmniStoreException>(() => client.RequestAsync(FrameType.Update, forged.Encode(), ct));
            Assert.Equal(OmniStoreError.ProtocolError, updated.Error);
            Assert.True(client.IsOpen);
        }

        await using var reader = await TreeCluster.ConnectAsync(relay);
        var info = (await reader.StatAsync("name", ct))!;
        Assert.Equal(1, info.Version);
        Assert.Equal(TestData.Random(1000, 1), await reader.GetAsync("name", ct));
    }

    [Fact]
    public async Task ChildRequestsFromTheParentLink_AreRefused_AndNotForwarded()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TreeCluster();
        var parentSide = new RecordingHandler();
        await using var fakeParent = await FakeParent.StartAsync(parentSide);
        var relay = await cluster.StartNodeAsync("site", fakeParent.Address);
        var link = await fakeParent.Connection.WaitAsync(Timeout, ct);

        var chunk = TestData.Random(3000, 3);
        var requests = new (FrameType Type, byte[] Payload)[]
        {
            (FrameType.Resolve, Names.Encode("name")),
            (FrameType.GetManifest, new byte[ManifestId.Size]),
            (FrameType.GetChunk, ChunkRequests.Encode(ChunkId.Compute(chunk), chunk.Length)),
            (FrameType.PutChunk, [.. ChunkMessage.Head(ChunkId.Compute(chunk), chunk.Length), .. chunk]),
            (FrameType.Bind, new BindMessage("name", ManifestId.Compute(chunk), Broadcast: false).Encode()),
            (FrameType.Delete, Names.Encode("name")),
            (FrameType.Prefetch, Names.Encode("name")),
        };
        foreach (var (type, payload) in requests)
        {
            var error = await Assert.ThrowsAsync<OmniStoreException>(() => link.RequestAsync(type, payload, ct).WaitAsync(Timeout, ct));
            Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        }

        Assert.Empty(parentSide.Received);
        Assert.False(await relay.Store.ContainsChunkAsync(ChunkId.Compute(chunk), ct));
        Assert.True(link.IsOpen);
    }

    [Fact]
    public async Task ARelayThatNeverAcknowledgesUpdates_DelaysOnePut_AndTheNextPutsReturnPromptly_WhileOtherRelaysGetTheirUpdates()
    {
        var ct = TestContext.Current.CancellationToken;
        var updateTimeout = TimeSpan.FromSeconds(2);
        await using var cluster = new TreeCluster { UpdateTimeout = updateTimeout };
        var root = await cluster.StartNodeAsync("root", parent: null);
        var good = await cluster.StartNodeAsync("good", root.Address);

        // The late relay reconnects as soon as it is dropped, as a relay's parent link does.
        await using var late = LateRelay.Start(root.Address, new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Relay, "late", null) { RelaySecret = cluster.RelaySecret });
        await late.FirstConnection.WaitAsync(Timeout, ct);

        await using var worker = await TreeCluster.ConnectAsync(good);
        var times = new List<TimeSpan>();
        for (int version = 1; version <= 4; version++)
        {
            times.Add(await PutAndTimeAsync(root, "shared", version, ct));
            Assert.Equal(TestData.Random(2000, version), await worker.GetAsync("shared", ct).AsTask().WaitAsync(Timeout, ct));
            await Task.Delay(200, ct); // time for the late relay to come back, if it may
        }

        Assert.True(times[0] >= updateTimeout * 0.9, $"the first Put took {times[0]}: the late relay was not waited for");
        foreach (var later in times.Skip(1))
        {
            Assert.True(later < updateTimeout / 2, $"Puts took {string.Join(", ", times)}: the late relay held up more than one");
        }
    }

    [Fact]
    public async Task ARelayWithTheRelaySecret_IsAccepted_AndOneWithAWrongOrNoRelaySecret_IsRefused()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var relay = cluster.Relays[0];
        Assert.NotNull(relay.Parent!.Current);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("x", TestData.Random(3000, 1), ct);
        }

        await using (var worker = await TreeCluster.ConnectAsync(relay))
        {
            Assert.Equal(TestData.Random(3000, 1), await worker.GetAsync("x", ct));
        }

        (byte[]? Secret, string Expected)[] wrong = [("another tree's secret"u8.ToArray(), "does not match"), (null, "proved none")];
        foreach (var (secret, expected) in wrong)
        {
            var identity = new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Relay, "rogue", null) { RelaySecret = secret };
            var error = await Assert.ThrowsAsync<OmniStoreException>(async () => await (await ConnectAsync(cluster.Root.Address, identity, new SilentHandler(), ct)).DisposeAsync());
            Assert.Equal(OmniStoreError.Unauthorized, error.Error);
            Assert.Contains("accepts relays only with its relay secret", error.Message, StringComparison.Ordinal);
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }

        // A relay node with the wrong relay secret does not get in either, and says why it cannot serve.
        await using var rogue = new TreeCluster { RelaySecret = "another tree's secret"u8.ToArray() };
        var refused = await rogue.StartNodeAsync("rogue", cluster.Root.Address);
        Assert.Null(refused.Parent!.Current);
        Assert.Single(cluster.Root.Children, c => c.Remote.Role == NodeRole.Relay);
    }

    [Fact]
    public async Task ARootWithoutARelaySecret_AcceptsNoRelays_UnlessTold()
    {
        var ct = TestContext.Current.CancellationToken;
        await using (var closed = new TreeCluster { RelaySecret = null })
        {
            var root = await closed.StartNodeAsync("root", parent: null);
            var relay = await closed.StartNodeAsync("site", root.Address);
            Assert.Null(relay.Parent!.Current);
            var error = await Assert.ThrowsAsync<OmniStoreException>(async () => await (await ConnectAsync(root.Address, new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Relay, "r", null), new SilentHandler(), ct)).DisposeAsync());
            Assert.Contains("has none configured", error.Message, StringComparison.Ordinal);

            // Clients are not relays: they still get in.
            await using var client = await TreeCluster.ConnectAsync(root);
            await client.PutAsync("x", new byte[] { 1 }, ct);
        }

        await using var open = new TreeCluster { RelaySecret = null, AcceptRelaysWithoutSecret = true };
        var openRoot = await open.StartNodeAsync("root", parent: null);
        var openRelay = await open.StartNodeAsync("site", openRoot.Address);
        Assert.NotNull(openRelay.Parent!.Current);
    }

    [Fact]
    public async Task ALateGrandchild_IsCutOffByItsRelay_BeforeTheRootsDeadline_SoTheRelayStaysConnected()
    {
        var ct = TestContext.Current.CancellationToken;
        // Long enough that the relay's half of it leaves the other half as slack on a loaded
        // machine (with 2 s, a 2-core machine that was also compiling missed the deadline 1 run in 5).
        var updateTimeout = TimeSpan.FromSeconds(5);
        await using var cluster = new TreeCluster { UpdateTimeout = updateTimeout };
        var root = await cluster.StartNodeAsync("root", parent: null);
        var relay = await cluster.StartNodeAsync("site", root.Address);
        await using var late = LateRelay.Start(relay.Address, new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Relay, "late", null) { RelaySecret = cluster.RelaySecret });
        await late.FirstConnection.WaitAsync(Timeout, ct);

        var first = await PutAndTimeAsync(root, "x", 1, ct);
        var second = await PutAndTimeAsync(root, "x", 2, ct);

        // The relay waited half the timeout for its late child, cut it off, and answered in time.
        Assert.True(first >= updateTimeout * 0.4 && first < updateTimeout, $"the first Put took {first}");
        Assert.True(second < updateTimeout * 0.4, $"the second Put took {second}");
        Assert.Equal(1, relay.Parent!.Connections);
        Assert.NotNull(relay.Parent.Current);
        await using var worker = await TreeCluster.ConnectAsync(relay);
        Assert.Equal(TestData.Random(2000, 2), await worker.GetAsync("x", ct));
    }

    [Fact]
    public async Task ARelayItsParentRefuses_AnswersNoNameFromWhatItRemembers_SoItsClientsMoveOnAndSeeTheNewBinding()
    {
        var ct = TestContext.Current.CancellationToken;
        var cooldown = TimeSpan.FromSeconds(4);
        await using var cluster = new TreeCluster { UpdateTimeout = TimeSpan.FromSeconds(1), LateRelayCooldown = cooldown };
        var root = await cluster.StartNodeAsync("root", parent: null);
        var relay = await cluster.StartNodeAsync("site", root.Address);
        await PutAndTimeAsync(root, "x", 1, ct);
        await using (var worker = await TreeCluster.ConnectAsync(relay))
        {
            Assert.Equal(TestData.Random(2000, 1), await worker.GetAsync("x", ct)); // cached: binding and chunks
        }

        // A late relay from the same address (loopback) gets the address refused for a while.
        await using (var late = LateRelay.Start(root.Address, new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Relay, "late", null) { RelaySecret = cluster.RelaySecret }))
        {
            await late.FirstConnection.WaitAsync(Timeout, ct);
            await PutAndTimeAsync(root, "other", 1, ct);
        }

        // The relay's link drops, and its parent will not take it back yet: it cannot know what it misses.
        await root.Children.Single(c => c.Remote.Site == "site").DisposeAsync();
        for (int i = 0; i < 100 && relay.AnswersNames; i++)
        {
            await Task.Delay(50, ct);
        }

        Assert.False(relay.AnswersNames);
        await PutAndTimeAsync(root, "x", 2, ct);
        await using (var worker = await TreeCluster.ConnectAsync(relay))
        {
            var error = await Assert.ThrowsAsync<OmniStoreException>(() => worker.GetAsync("x", ct).AsTask());
            Assert.Equal(OmniStoreError.Unavailable, error.Error);
        }

        await using (var failover = await OmniStoreClient.ConnectAsync(relay.Address.ToString(), new OmniStoreOptions { FallbackUris = [root.Address.ToString()] }, ct))
        {
            Assert.Equal(TestData.Random(2000, 2), await failover.GetAsync("x", ct));
        }

        // After the cooldown it is taken back, and answers with the new binding.
        for (int i = 0; i < 200 && !(relay.Parent!.Current is not null && relay.AnswersNames); i++)
        {
            await Task.Delay(50, ct);
        }

        Assert.True(relay.AnswersNames);
        await using var after = await TreeCluster.ConnectAsync(relay);
        Assert.Equal(TestData.Random(2000, 2), await after.GetAsync("x", ct));
    }

    [Fact]
    public async Task ARelayCutOffWithAnUpdateUnanswered_AnswersNoName_BeforeItEvenTriesToReconnect()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var rootSide = new TreeCluster { UpdateTimeout = TimeSpan.FromSeconds(1) };
        var root = await rootSide.StartNodeAsync("root", parent: null);

        // The relay gives its own late child far longer than the root gives the relay.
        await using var relaySide = new TreeCluster { UpdateTimeout = TimeSpan.FromSeconds(20), RelaySecret = rootSide.RelaySecret };
        var relay = await relaySide.StartNodeAsync("site", root.Address);
        await using var late = LateRelay.Start(relay.Address, new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Relay, "late", null) { RelaySecret = rootSide.RelaySecret });
        await late.FirstConnection.WaitAsync(Timeout, ct);

        await PutAndTimeAsync(root, "x", 1, ct);
        for (int i = 0; i < 100 && relay.AnswersNames; i++)
        {
            await Task.Delay(10, ct);
        }

        Assert.Contains("unanswered", relay.DistrustReason, StringComparison.Ordinal);
        await using var worker = await TreeCluster.ConnectAsync(relay);
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => worker.GetAsync("x", ct).AsTask());
        Assert.Equal(OmniStoreError.Unavailable, error.Error);
    }

    private static async Task<TimeSpan> PutAndTimeAsync(TreeNode root, string name, int version, CancellationToken ct)
    {
        await using var master = await TreeCluster.ConnectAsync(root);
        var start = Stopwatch.GetTimestamp();
        await master.PutAsync(name, TestData.Random(2000, version), ct).AsTask().WaitAsync(Timeout, ct);
        return Stopwatch.GetElapsedTime(start);
    }

    private static async Task<PeerConnection> ConnectAsync(NodeAddress address, ConnectionIdentity identity, IRequestHandler? handler, CancellationToken ct)
    {
        var counters = new LinkCounters();
        var transport = await TcpConnection.ConnectAsync(address, counters, ct);
        return await PeerConnection.StartAsync(transport, transport, isOpener: true, identity, handler, counters, null, ct);
    }

    /// <summary>Never answers: each request waits until its connection closes.</summary>
    private sealed class SilentHandler : IRequestHandler
    {
        public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
        {
            using (request)
            {
                await Task.Delay(System.Threading.Timeout.Infinite, cancellationToken);
            }
        }
    }

    /// <summary>Records what it is asked, and answers NotFound.</summary>
    private sealed class RecordingHandler : IRequestHandler
    {
        private readonly List<FrameType> _received = [];

        public IReadOnlyList<FrameType> Received
        {
            get
            {
                lock (_received)
                {
                    return [.. _received];
                }
            }
        }

        public Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
        {
            using (request)
            {
                lock (_received)
                {
                    _received.Add(request.Type);
                }

                throw new OmniStoreException(OmniStoreError.NotFound, "nothing here");
            }
        }
    }

    /// <summary>A listener that plays the root for one relay: the handshake, then whatever the test sends.</summary>
    private sealed class FakeParent : IAsyncDisposable
    {
        private readonly TcpConnectionListener _listener;
        private readonly TaskCompletionSource<PeerConnection> _connection = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenSource _stop = new();
        private Task? _accept;

        private FakeParent(TcpConnectionListener listener) => _listener = listener;

        public NodeAddress Address => new("tcp", "127.0.0.1", _listener.Addresses[0].Port);

        public Task<PeerConnection> Connection => _connection.Task;

        public static Task<FakeParent> StartAsync(IRequestHandler handler)
        {
            var parent = new FakeParent(TcpConnectionListener.Bind(new NodeAddress("tcp", "127.0.0.1", 0)));
            parent._accept = Task.Run(async () =>
            {
                var accepted = await parent._listener.AcceptAsync(parent._stop.Token);
                var counters = new LinkCounters();
                if (accepted.Connection?.Open(counters) is { } a)
                {
                    var identity = new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Root, "fake-root", null) { AcceptsRelaysWithoutSecret = true };
                    parent._connection.TrySetResult(await PeerConnection.StartAsync(a, a, isOpener: false, identity, handler, counters, null, parent._stop.Token));
                }
            });
            return Task.FromResult(parent);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _listener.DisposeAsync();
            if (_connection.Task.IsCompletedSuccessfully)
            {
                await (await _connection.Task).DisposeAsync();
            }

            try
            {
                await _accept!.WaitAsync(Timeout);
            }
            catch (Exception ex) when (ex is OperationCanceledException or OmniStoreException)
            {
            }

            _stop.Dispose();
        }
    }

    /// <summary>
    /// A relay that holds the right credentials but never acknowledges an UPDATE, and reconnects
    /// 50 ms after each disconnection or refusal, until disposed.
    /// </summary>
    private sealed class LateRelay : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Task? _loop;

        public Task FirstConnection => _first.Task;

        public int Connections { get; private set; }

        public int Refusals { get; private set; }

        public static LateRelay Start(NodeAddress parent, ConnectionIdentity identity)
        {
            var relay = new LateRelay();
            relay._loop = Task.Run(() => relay.RunAsync(parent, identity));
            return relay;
        }

        private async Task RunAsync(NodeAddress parent, ConnectionIdentity identity)
        {
            // Bounded: the test disposes it within its own timeout; this is a backstop.
            for (int attempt = 0; attempt < 2000 && !_stop.IsCancellationRequested; attempt++)
            {
                try
                {
                    await using var connection = await ConnectAsync(parent, identity, new SilentHandler(), _stop.Token);
                    Connections++;
                    _first.TrySetResult();
                    await connection.Completion.WaitAsync(_stop.Token);
                }
                catch (OmniStoreException)
                {
                    Refusals++;
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                try
                {
                    await Task.Delay(50, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop!.WaitAsync(Timeout);
            _stop.Dispose();
        }
    }
}
