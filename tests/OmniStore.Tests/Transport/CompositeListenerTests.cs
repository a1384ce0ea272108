using System.Net;
using System.Threading.Channels;
using OmniStore.Transport;
using OmniStore.Transport.Internal;

namespace OmniStore.Tests.Transport;

/// <summary>
/// Several listeners as one: every address in order, connections from each, a failing one
/// reported with its address and never stopping or starving the others, and all closed together.
/// </summary>
public sealed class CompositeListenerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Addresses_AreEveryListenersAddresses_InOrder()
    {
        await using var listener = new CompositeListener([new FakeListener("a:1", "a:2"), new FakeListener("b:1")]);

        Assert.Equal(["fake://a:1", "fake://a:2", "fake://b:1"], listener.Addresses.Select(a => a.ToString()));
    }

    [Fact]
    public async Task AcceptAsync_ReturnsConnectionsFromEveryListener()
    {
        var ct = TestContext.Current.CancellationToken;
        var a = new FakeListener("a:1");
        var b = new FakeListener("b:1");
        await using var listener = new CompositeListener([a, b]);

        var first = listener.AcceptAsync(ct);
        Assert.False(first.IsCompleted); // both wait: nothing to report yet
        var fromB = b.Offer();
        Assert.Same(fromB, (await first.WaitAsync(Timeout, ct)).Connection);
        var fromA = a.Offer();
        Assert.Same(fromA, (await listener.AcceptAsync(ct).WaitAsync(Timeout, ct)).Connection);
    }

    [Fact]
    public async Task AListenerThatKeepsFailing_IsReportedWithItsAddress_AndTheOthersStillAccept()
    {
        var ct = TestContext.Current.CancellationToken;
        var failing = new FakeListener("a:1") { FailsWith = "too many open files" };
        var working = new FakeListener("b:1");
        await using var listener = new CompositeListener([failing, working]);
        var offered = Enumerable.Range(0, 3).Select(_ => working.Offer()).ToList();

        var results = new List<AcceptResult>();
        for (int i = 0; i < 8; i++)
        {
            results.Add(await listener.AcceptAsync(ct).WaitAsync(Timeout, ct));
        }

        Assert.Equal(offered, results.Take(3).Select(r => r.Connection));
        Assert.All(results.Skip(3), r =>
        {
            Assert.Equal(AcceptStatus.ListenerFailed, r.Status);
            Assert.Equal("too many open files (on fake://a:1)", r.Problem);
        });

        // The failing one passes: it accepts again, as does the other.
        failing.FailsWith = null;
        var fromA = failing.Offer();
        var fromB = working.Offer();
        var next = new[] { await listener.AcceptAsync(ct).WaitAsync(Timeout, ct), await listener.AcceptAsync(ct).WaitAsync(Timeout, ct) };
        Assert.Equal(new HashSet<IncomingConnection?> { fromA, fromB }, next.Select(r => r.Connection).ToHashSet());
    }

    [Fact]
    public async Task AStoppedListener_IsLeftOut_AndTheCompositeStopsWhenAllHave()
    {
        var ct = TestContext.Current.CancellationToken;
        var a = new FakeListener("a:1");
        var b = new FakeListener("b:1");
        await using var listener = new CompositeListener([a, b]);

        a.Stop();
        var fromB = b.Offer();
        Assert.Same(fromB, (await listener.AcceptAsync(ct).WaitAsync(Timeout, ct)).Connection);
        var waiting = listener.AcceptAsync(ct);
        Assert.False(waiting.IsCompleted);
        b.Stop();
        Assert.Equal(AcceptStatus.Stopped, (await waiting.WaitAsync(Timeout, ct)).Status);
    }

    [Fact]
    public async Task DisposeAsync_DisposesEveryListener_AndClosesAConnectionNeverHandedOut()
    {
        var ct = TestContext.Current.CancellationToken;
        var a = new FakeListener("a:1");
        var b = new FakeListener("b:1");
        var listener = new CompositeListener([a, b]);
        var fromA = a.Offer();
        var fromB = b.Offer();
        var handedOut = (await listener.AcceptAsync(ct).WaitAsync(Timeout, ct)).Connection;

        await listener.DisposeAsync().AsTask().WaitAsync(Timeout, ct);

        Assert.True(a.Disposed && b.Disposed);
        var kept = Assert.IsType<FakeConnection>(handedOut == fromA ? fromB : fromA);
        Assert.True(kept.Refused, "the connection accepted but never handed out was left open");
        Assert.False(((FakeConnection)handedOut!).Refused);
        Assert.Equal(AcceptStatus.Stopped, (await listener.AcceptAsync(ct).WaitAsync(Timeout, ct)).Status);
    }

    [Fact]
    public async Task CancellingAnAccept_LeavesTheListenersAccepting()
    {
        var ct = TestContext.Current.CancellationToken;
        var a = new FakeListener("a:1");
        await using var listener = new CompositeListener([a, new FakeListener("b:1")]);
        using var cancel = new CancellationTokenSource();

        var cancelled = listener.AcceptAsync(cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        var fromA = a.Offer();
        Assert.Same(fromA, (await listener.AcceptAsync(ct).WaitAsync(Timeout, ct)).Connection);
    }

    [Fact]
    public async Task TheRegistry_ListensOnAMixOfTransports_AndClosesWhatItBoundWhenOneFails()
    {
        var ct = TestContext.Current.CancellationToken;
        string free = $"free-{Guid.NewGuid():N}";
        string taken = $"taken-{Guid.NewGuid():N}";
        await using var holder = TransportRegistry.Default.Listen(new NodeAddress("mem", taken, 1));

        var error = Assert.Throws<OmniStoreException>(() => TransportRegistry.Default.Listen([new NodeAddress("mem", free, 1), new NodeAddress("mem", taken, 1)]));
        Assert.Equal(OmniStoreError.Unavailable, error.Error);

        await using var both = TransportRegistry.Default.Listen([new NodeAddress("mem", free, 1), new NodeAddress("tcp", "127.0.0.1", 0)]);
        Assert.Equal(["mem", "tcp"], both.Addresses.Select(a => a.Scheme));
        await using var overMem = await TransportRegistry.Default.ConnectAsync(both.Addresses[0], new LinkCounters(), ct).WaitAsync(Timeout, ct);
        var overMemAccepted = await both.AcceptAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(AcceptStatus.Accepted, overMemAccepted.Status);
        Assert.Null(overMemAccepted.Connection!.RemoteEndPoint); // the in-memory one has no endpoint
        overMemAccepted.Connection.Refuse([]);
        await using var overTcp = await TransportRegistry.Default.ConnectAsync(both.Addresses[1], new LinkCounters(), ct).WaitAsync(Timeout, ct);
        var accepted = await both.AcceptAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(AcceptStatus.Accepted, accepted.Status);
        Assert.NotNull(accepted.Connection!.RemoteEndPoint); // the TCP one
        accepted.Connection.Refuse([]);
    }

    /// <summary>A listener fed by the test: connections offered, failures while <see cref="FailsWith"/> is set, and stopping.</summary>
    private sealed class FakeListener(params string[] hosts) : IConnectionListener
    {
        private readonly Channel<FakeConnection> _offered = Channel.CreateUnbounded<FakeConnection>();

        public IReadOnlyList<NodeAddress> Addresses { get; } = [.. hosts.Select(h => new NodeAddress("fake", h.Split(':')[0], int.Parse(h.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture)))];

        public string? FailsWith { get; set; }

        public bool Disposed { get; private set; }

        public FakeConnection Offer()
        {
            var connection = new FakeConnection();
            Assert.True(_offered.Writer.TryWrite(connection));
            return connection;
        }

        public void Stop() => _offered.Writer.TryComplete();

        public async Task<AcceptResult> AcceptAsync(CancellationToken cancellationToken)
        {
            if (FailsWith is { } problem)
            {
                return new AcceptResult(AcceptStatus.ListenerFailed, null, problem);
            }

            try
            {
                return new AcceptResult(AcceptStatus.Accepted, await _offered.Reader.ReadAsync(cancellationToken), null);
            }
            catch (ChannelClosedException)
            {
                return AcceptResult.Stopped;
            }
        }

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            Stop();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class FakeConnection : IncomingConnection
    {
        public bool Refused { get; private set; }

        public override IPEndPoint? RemoteEndPoint => null;

        public override TransportConnection? Open(LinkCounters counters) => throw new NotSupportedException();

        public override void Refuse(ReadOnlySpan<byte> farewell) => Refused = true;
    }
}
