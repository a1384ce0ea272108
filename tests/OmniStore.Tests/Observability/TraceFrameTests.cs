using System.Diagnostics;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Tree;
using static OmniStore.Tests.Infrastructure.RawPeer;

namespace OmniStore.Tests.Observability;

/// <summary>TRACE (docs/protocol.md, "TRACE"): the context a request's span continues, and what a node does with a malformed one.</summary>
[Collection(SharedActivityListeners.Name)]
public sealed class TraceFrameTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static TheoryData<string> BadTraces => new("short", "long", "repeated", "inside-a-request", "without-end", "on-a-stream-of-the-node", "too-many-waiting", "on-version-7");

    [Theory]
    [MemberData(nameof(BadTraces))]
    public async Task AMalformedTrace_IsAProtocolError_ThatClosesOnlyItsConnection(string kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var peer = await ConnectAsync(cluster.Root.Address.Port, ct, maxVersion: kind == "on-version-7" ? (ushort)7 : ProtocolLimits.MaxVersion);
        var trace = TraceMessage.Encode(new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded));
        var resolve = Names.Encode("some/name");
        byte[] bytes = kind switch
        {
            "short" => Frame(FrameType.Trace, 1, trace.AsSpan(0, TraceMessage.Size - 1)),
            "long" => Frame(FrameType.Trace, 1, [.. trace, 0]),
            "repeated" => [.. Frame(FrameType.Trace, 1, trace), .. Frame(FrameType.Trace, 1, trace), .. Frame(FrameType.Resolve, 1, resolve)],
            "inside-a-request" => [.. Frame(FrameType.Resolve, 1, resolve.AsSpan(0, 4), end: false), .. Frame(FrameType.Trace, 1, trace), .. Frame(FrameType.Resolve, 1, resolve.AsSpan(4))],
            "without-end" => Frame(FrameType.Trace, 1, trace, end: false),
            "on-a-stream-of-the-node" => Frame(FrameType.Trace, 2, trace),
            "too-many-waiting" => [.. Enumerable.Range(0, ProtocolLimits.MaxConcurrentRequests + 1).SelectMany(i => Frame(FrameType.Trace, (uint)(2 * i) + 1, trace))],
            "on-version-7" => [.. Frame(FrameType.Trace, 1, trace), .. Frame(FrameType.Resolve, 1, resolve)],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        await peer.SendAsync(bytes, ct);

        var (type, stream, payload) = await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Error, type);
        Assert.Equal(0u, stream);
        Assert.Equal(OmniStoreError.ProtocolError, ErrorMessage.Decode(payload).Error);
        Assert.True(await peer.ClosedWithinAsync(Timeout, ct), "the node kept the connection open");

        // Everyone else is still served.
        await using var client = await TreeCluster.ConnectAsync(cluster.Root);
        await client.PutAsync("after", new byte[] { 7 }, ct);
        Assert.Equal([7], await client.GetAsync("after", ct));
    }

    [Fact]
    public async Task ATracedRequest_IsServedInASpanChildOfTheSendersSpan_AndAnOrphanOrInvalidTraceIsHarmless()
    {
        var ct = TestContext.Current.CancellationToken;
        var traceId = ActivityTraceId.CreateRandom();
        var parent = ActivitySpanId.CreateRandom();
        using var served = new TraceSpans(traceId, static (_, _) => true);

        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var peer = await ConnectAsync(cluster.Root.Address.Port, ct);
        var invalid = new byte[TraceMessage.Size]; // all-zero ids: W3C's invalid context, served untraced
        var trace = TraceMessage.Encode(new ActivityContext(traceId, parent, ActivityTraceFlags.Recorded));
        await peer.SendAsync(
            [
                .. Frame(FrameType.Trace, 1, trace), // never followed by its request
                .. Frame(FrameType.Trace, 3, invalid),
                .. Frame(FrameType.Resolve, 3, Names.Encode("missing/a")),
                .. Frame(FrameType.Trace, 5, trace),
                .. Frame(FrameType.Resolve, 5, Names.Encode("missing/b")),
            ],
            ct);

        var answers = new[] { await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct), await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct) };
        Assert.Equal([3u, 5u], answers.Select(a => a.Stream).Order());
        Assert.All(answers, a => Assert.Equal(OmniStoreError.NotFound, ErrorMessage.Decode(a.Payload).Error));

        var span = await served.SingleAsync(Timeout, ct); // ends just after its answer went out
        Assert.Equal("OmniStore.Serve Resolve", span.DisplayName);
        Assert.Equal(ActivityKind.Server, span.Kind);
        Assert.Equal(parent, span.ParentSpanId);
        Assert.False(await peer.ClosedWithinAsync(TimeSpan.FromMilliseconds(200), ct));
    }

    [Fact]
    public async Task ARelayThatRecordsNoSpan_PassesTheContextItReceivedOnToItsParent()
    {
        var ct = TestContext.Current.CancellationToken;
        var traceId = ActivityTraceId.CreateRandom();
        var parent = ActivitySpanId.CreateRandom();
        // The relay starts serving first and is asked first: it records nothing; the root, asked next, records.
        using var recorded = new TraceSpans(traceId, static (_, asked) => asked > 1);

        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var data = TestData.Random(1000, 5);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("passed-on", data, ct);
        }

        await using var peer = await ConnectAsync(cluster.Relays[0].Address.Port, ct);
        var trace = TraceMessage.Encode(new ActivityContext(traceId, parent, ActivityTraceFlags.Recorded));
        await peer.SendAsync([.. Frame(FrameType.Trace, 1, trace), .. Frame(FrameType.GetChunk, 1, OmniStore.Node.Requests.ChunkRequests.Encode(OmniStore.Content.ChunkId.Compute(data), data.Length))], ct);
        var answer = await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Chunk, answer.Type);

        var atRoot = await recorded.SingleAsync(Timeout, ct);
        Assert.Equal("OmniStore.Serve GetChunk", atRoot.DisplayName);
        Assert.Equal("Relay", atRoot.GetTagItem("omnistore.peer.role"));
        Assert.Equal(parent, atRoot.ParentSpanId); // the raw peer's span: the relay, recording none, passed it on unchanged
    }

    [Fact]
    public async Task ANodeOfVersion7_IsSentNoTrace_AndServesTracedOperationsAsBefore()
    {
        var ct = TestContext.Current.CancellationToken;
        var traceId = ActivityTraceId.CreateRandom();
        using var spans = new TraceSpans(traceId, static (_, _) => true);
        await using var cluster = await TreeCluster.StartWithAsync(relays: 0, o => o with { MaxProtocolVersion = 7 });
        await using var client = await TreeCluster.ConnectAsync(cluster.Root);

        using (var test = new Activity("test").SetParentId(traceId, ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded).Start())
        {
            await client.PutAsync("older", new byte[] { 1, 2 }, ct);
            Assert.Equal([1, 2], await client.GetAsync("older", ct));
        }

        // The client's own spans, and none of the node's: a TRACE would have been a protocol error at version 7.
        await Task.Delay(100, ct);
        Assert.Equal(["OmniStore.Get", "OmniStore.Put"], spans.Names());
    }

    /// <summary>
    /// Listens to the OmniStore ActivitySource and keeps the ended spans of one trace; of that trace's
    /// spans, records those <paramref name="record"/> accepts (given the span's name and how many the
    /// trace has asked to record so far, this one included). Every other span stays unrecorded.
    /// </summary>
    private sealed class TraceSpans : IDisposable
    {
        private readonly ActivityListener _listener;
        private readonly List<Activity> _ended = [];
        private int _asked;

        public TraceSpans(ActivityTraceId traceId, Func<string, int, bool> record)
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == OmniStoreDiagnostics.ActivitySourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> options) =>
                    options.Parent.TraceId == traceId && record(options.Name, Interlocked.Increment(ref _asked)) ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.None,
                ActivityStopped = activity =>
                {
                    if (activity.TraceId == traceId)
                    {
                        lock (_ended)
                        {
                            _ended.Add(activity);
                        }
                    }
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        /// <summary>The one span recorded, once it ended (waited for at most <paramref name="timeout"/>); fails if there are more.</summary>
        public async Task<Activity> SingleAsync(TimeSpan timeout, CancellationToken ct)
        {
            for (var waited = Stopwatch.StartNew(); waited.Elapsed < timeout; await Task.Delay(10, ct))
            {
                lock (_ended)
                {
                    if (_ended.Count > 0)
                    {
                        return Assert.Single(_ended);
                    }
                }
            }

            throw new TimeoutException("no span of the trace ended");
        }

        /// <summary>The names of the spans that ended, sorted.</summary>
        public string[] Names()
        {
            lock (_ended)
            {
                return [.. _ended.Select(a => a.DisplayName).Order(StringComparer.Ordinal)];
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
