using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using OmniStore.Protocol;
using OmniStore.Tests.Fuzzing;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Protocol;

/// <summary>
/// <see cref="PeerConnection.DisposeAsync"/> returns once the connection's read loop has ended and
/// its request handlers have finished, or once <see cref="PeerConnection.DisposeTimeout"/> has
/// passed: what owns a connection (a node disposing its store next) can rely on no handler using
/// it afterwards.
/// </summary>
public sealed class PeerConnectionDisposeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task DisposeAsync_ReturnsOnlyAfterARunningHandlerHasFinished()
    {
        var handler = new HoldingHandler { Hold = TimeSpan.FromMilliseconds(400) };
        var (client, server) = await ConnectAsync(handler);
        await using var clientEnd = client;
        var request = SendIgnoringFailureAsync(client);

        await handler.Started.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        await server.DisposeAsync().AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken);

        // The handler ignores the closing (as one finishing a store write would) and still ran to its end.
        Assert.Equal(1, handler.Finished);
        Assert.Equal(0, handler.Running);
        await request.WaitAsync(Timeout, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task NoHandlerRunsOrStartsAfterDisposeAsyncReturns()
    {
        // More requests than handler slots: some are being served, the rest wait for a slot.
        var handler = new HoldingHandler { Hold = TimeSpan.FromMilliseconds(500) };
        var (client, server) = await ConnectAsync(handler);
        await using var clientEnd = client;
        var requests = Enumerable.Range(0, 3 * ProtocolLimits.MaxConcurrentHandlers).Select(_ => SendIgnoringFailureAsync(client)).ToArray();
        var deadline = Stopwatch.StartNew();
        while (handler.Entered < ProtocolLimits.MaxConcurrentHandlers)
        {
            Assert.True(deadline.Elapsed < Timeout, $"only {handler.Entered} handlers started");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        await server.DisposeAsync().AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken);
        int entered = handler.Entered;
        Assert.Equal(0, handler.Running);
        Assert.Equal(entered, handler.Finished);

        await Task.WhenAll(requests).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Equal(entered, handler.Entered); // the requests that waited for a slot were never served
    }

    [Fact]
    public async Task AHandlerThatNeverFinishes_HoldsDisposeAsyncForItsTimeoutOnly_AndIsLogged()
    {
        var handler = new HoldingHandler { Hold = System.Threading.Timeout.InfiniteTimeSpan };
        var logs = new CapturedLogs();
        var (client, server) = await ConnectAsync(handler, logs.CreateLogger("server"));
        await using var clientEnd = client;
        server.DisposeTimeout = TimeSpan.FromMilliseconds(500);
        var request = SendIgnoringFailureAsync(client);
        try
        {
            await handler.Started.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
            var elapsed = Stopwatch.StartNew();
            await server.DisposeAsync().AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken);

            Assert.InRange(elapsed.Elapsed, TimeSpan.FromMilliseconds(450), TimeSpan.FromSeconds(5));
            Assert.Equal(1, handler.Running);
            Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.EventId.Id == 2004);
            Assert.False(server.IsOpen);
        }
        finally
        {
            handler.Release.TrySetResult();
        }

        // Released, it finishes; its answer has nowhere to go and is dropped quietly.
        await request.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        var deadline = Stopwatch.StartNew();
        while (handler.Running > 0)
        {
            Assert.True(deadline.Elapsed < Timeout, "the released handler did not finish");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task DisposeAsyncFromOneOfItsOwnHandlers_WaitsForTheOthersButNotForItself()
    {
        // A root whose handler (a BIND) pushes an UPDATE to the relay it came from, and drops that
        // relay for answering late, disposes the connection its own handler runs on.
        var holding = new HoldingHandler { Hold = TimeSpan.FromMilliseconds(300) };
        var disposing = new DisposingHandler(holding);
        var (client, server) = await ConnectAsync(disposing);
        await using var clientEnd = client;
        server.DisposeTimeout = TimeSpan.FromSeconds(30);
        var first = SendIgnoringFailureAsync(client);
        await holding.Started.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        var second = SendIgnoringFailureAsync(client);

        var (elapsed, finishedBefore) = await disposing.Disposed.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"DisposeAsync waited {elapsed} for the handler that called it");
        Assert.Equal(1, finishedBefore);
        await Task.WhenAll(first, second).WaitAsync(Timeout, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task AfterDisposeAsync_AHalfReceivedRequestHoldsNoMemory()
    {
        // The read loop drops the messages still arriving when it ends; DisposeAsync waits for it.
        var options = new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19);
        var toServer = new Pipe(options);
        var fromServer = new Pipe(options);
        var transport = new PipeTransport(toServer.Reader, fromServer.Writer);
        var drain = DrainAsync(fromServer.Reader);
        var chunk = FrameStreams.Chunk(200_000, out _);
        await toServer.Writer.WriteAsync(FrameStreams.OpenerHandshake(), TestContext.Current.CancellationToken);
        await toServer.Writer.WriteAsync(FrameStreams.Frame(FrameType.PutChunk, FrameFlags.None, 1, chunk.AsSpan(0, 100_000)), TestContext.Current.CancellationToken);
        var server = await PeerConnection.StartAsync(transport, transport, isOpener: false, FuzzIdentities.AcceptorIdentity, new HoldingHandler(), new LinkCounters(), null, TestContext.Current.CancellationToken)
            .WaitAsync(Timeout, TestContext.Current.CancellationToken);
        var deadline = Stopwatch.StartNew();
        while (server.ReceiveHeld == 0)
        {
            Assert.True(deadline.Elapsed < Timeout, "the first frame of the request was not received");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        await server.DisposeAsync().AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.Equal(0, server.ReceiveHeld);
        await toServer.Writer.CompleteAsync();
        await drain.WaitAsync(Timeout, TestContext.Current.CancellationToken);
    }

    private static async Task<(PeerConnection Client, PeerConnection Server)> ConnectAsync(IRequestHandler handler, ILogger? serverLogger = null)
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        var clientTransport = new PipeTransport(toClient.Reader, toServer.Writer);
        var serverTransport = new PipeTransport(toServer.Reader, toClient.Writer);
        var ct = TestContext.Current.CancellationToken;
        var server = PeerConnection.StartAsync(serverTransport, serverTransport, isOpener: false, ConnectionIdentity.NewClient(), handler, new LinkCounters(), serverLogger, ct);
        var client = PeerConnection.StartAsync(clientTransport, clientTransport, isOpener: true, ConnectionIdentity.NewClient(), null, new LinkCounters(), null, ct);
        await Task.WhenAll(server, client).WaitAsync(Timeout, ct);
        return (await client, await server);
    }

    /// <summary>A request whose answer does not matter: the tests close the connection under it.</summary>
    private static async Task SendIgnoringFailureAsync(PeerConnection client)
    {
        try
        {
            using var timeout = new CancellationTokenSource(Timeout);
            using var _ = await client.RequestAsync(FrameType.Resolve, "name"u8.ToArray(), timeout.Token);
        }
        catch (OmniStoreException)
        {
        }
    }

    private static async Task DrainAsync(PipeReader reader)
    {
        while (true)
        {
            var result = await reader.ReadAsync();
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                await reader.CompleteAsync();
                return;
            }
        }
    }

    private sealed class PipeTransport(PipeReader input, PipeWriter output) : IDuplexPipe, IAsyncDisposable
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;

        public async ValueTask DisposeAsync()
        {
            await Input.CompleteAsync();
            await Output.CompleteAsync();
        }
    }

    /// <summary>Serves each request by holding it for <see cref="Hold"/> (or until released), whatever the connection does meanwhile.</summary>
    private sealed class HoldingHandler : IRequestHandler
    {
        private int _entered;
        private int _running;
        private int _finished;

        public TimeSpan Hold { get; init; } = TimeSpan.Zero;

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Entered => Volatile.Read(ref _entered);

        public int Running => Volatile.Read(ref _running);

        public int Finished => Volatile.Read(ref _finished);

        public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
        {
            using (request)
            {
                Interlocked.Increment(ref _entered);
                Interlocked.Increment(ref _running);
                Started.TrySetResult();
                try
                {
                    // Not the connection's token: this is work that finishes on its own.
                    await Task.WhenAny(Task.Delay(Hold, CancellationToken.None), Release.Task);
                }
                finally
                {
                    Interlocked.Increment(ref _finished);
                    Interlocked.Decrement(ref _running);
                }

                await connection.RespondAsync(request.Stream, FrameType.Binding, new byte[25]);
            }
        }
    }

    /// <summary>The first request goes to <paramref name="holding"/>; the second disposes the connection it came on.</summary>
    private sealed class DisposingHandler(HoldingHandler holding) : IRequestHandler
    {
        private int _requests;

        public TaskCompletionSource<(TimeSpan Elapsed, int FinishedBefore)> Disposed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _requests) == 1)
            {
                await holding.HandleAsync(connection, request, cancellationToken);
                return;
            }

            request.Dispose();
            var elapsed = Stopwatch.StartNew();
            await connection.DisposeAsync();
            Disposed.TrySetResult((elapsed.Elapsed, holding.Finished));
        }
    }
}
