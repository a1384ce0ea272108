using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Transport;
using static OmniStore.Tests.Fuzzing.FuzzInvariantException;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// A whole connection as a fuzz target: the input is what an opener sends, fed through an
/// in-memory duplex pipe to <see cref="PeerConnection.StartAsync"/> as the acceptor (handshake,
/// then the read loop and request handlers that decode every request with the real decoders).
/// Each input must end with the handshake refused or the connection closed for a documented
/// reason, with nothing logged or thrown but <see cref="OmniStoreException"/>, within the case
/// timeout, and at a bounded cost.
/// </summary>
internal static class PeerConnectionTarget
{
    private static ConnectionIdentity Acceptor => FuzzIdentities.AcceptorIdentity;

    /// <summary>Things that are not failures but that a reader of the report should see (first instance of each).</summary>
    public static ConcurrentDictionary<string, string> Observations { get; } = new();

    public static FuzzTarget Create() => new()
    {
        Name = "peer-acceptor",
        Weight = 45,
        DocumentedErrors = [OmniStoreError.ProtocolError, OmniStoreError.Unauthorized, OmniStoreError.Unavailable],
        ErrorsAllowedByInput = ErrorCodesSentBy,
        ErrorFeature = (_, error) => ErrorFeature(error.Message, handshake: true),
        Seeds = () =>
        [
            ("handshake", FrameStreams.OpenerHandshake()),
            ("handshake-proof", FrameStreams.OpenerHandshake(withProof: true)),
            ("handshake-site", [.. FrameStreams.OpenerHandshake(site: "site-b"), .. FrameStreams.Frame(FrameType.Ping, FrameFlags.End, 0, new byte[8])]),
            ("handshake-parent", [.. FrameStreams.OpenerHandshake(site: "parent", asParent: true), .. FrameStreams.Requests().Single(r => r.Name == "update").Frames]),
            ("session", FrameStreams.ClientSession()),
            .. FrameStreams.Requests().Select(r => (r.Name, (byte[])[.. FrameStreams.OpenerHandshake(), .. r.Frames])),
        ],
        SeedMatches = FrameStreams.SameButTheSignature,
        RunAsync = RunAsync,
        FrameAware = true,
        Dictionary = FrameStreams.HeaderTokens(),

        // Per input: its bytes a few times over (pipe segments, the message buffers, rounded up to a
        // power of two by the pool), a few KiB per frame (a message, a task and a response per
        // request), and the connection itself.
        // A request's buffer grows to its announced length once a quarter of that has arrived (up
        // to 4 times what was sent), in the pool's power-of-two arrays (up to twice that): 16 times
        // the input, a few KiB per frame (a message, a task and a response per request), and the
        // connection itself.
        AllocationBound = static input => (16L * input.Length) + (16L * 1024 * FrameCount(input)) + (512 * 1024),

        CaseTimeout = TimeSpan.FromSeconds(5),
    };

    private static async Task<string> RunAsync(byte[] input, CancellationToken cancellationToken)
    {
        var options = new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false);
        var toAcceptor = new Pipe(options);
        var fromAcceptor = new Pipe(options);
        var transport = new InMemoryTransport(toAcceptor.Reader, fromAcceptor.Writer);
        var handler = new DecodingHandler();
        var logger = new RecordingLogger();
        var sent = DrainAsync(fromAcceptor.Reader);
        var feed = FeedAsync(toAcceptor.Writer, input);
        string stage = "handshake";
        try
        {
            PeerConnection connection;
            try
            {
                // No token: the handshake must end on its own once the input is used up.
                connection = await PeerConnection.StartAsync(transport, transport, isOpener: false, Acceptor, handler, new LinkCounters(), logger, CancellationToken.None).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OmniStoreException)
            {
                stage = "refused handshake";
                await Settle(handler, logger, feed, sent, cancellationToken).ConfigureAwait(false);
                throw; // the fuzzer checks the error code and what it wraps
            }

            stage = "read loop";
            await connection.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
            var reason = await CloseReasonAsync(connection).ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false);
            stage = "settle";
            var types = await Settle(handler, logger, feed, sent, cancellationToken).ConfigureAwait(false);

            var allowed = ErrorCodesSentBy(input).Append(OmniStoreError.ProtocolError).Append(OmniStoreError.Unavailable);
            Check(allowed.Contains(reason.Error), $"the connection closed with {reason.Error}: {reason.Message}");
            for (var inner = reason.InnerException; inner is not null; inner = inner.InnerException)
            {
                Check(inner is OmniStoreException or OperationCanceledException, $"the connection closed because of {inner.GetType().Name}: {reason}");
            }

            string closed = ErrorFeature(reason.Message.Replace(connection.Describe(), "PEER", StringComparison.Ordinal), handshake: false);
            return string.Join('|', types.Select(t => $"sent:{t}").Concat(handler.Outcomes).Prepend($"closed:{reason.Error}:{closed}"));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new FuzzInvariantException($"no end within the case timeout ({stage})");
        }
    }

    private static async Task<OmniStoreException> CloseReasonAsync(PeerConnection connection)
    {
        try
        {
            // A closed connection refuses a request with the reason it closed (as the inner exception).
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            using var _ = await connection.RequestAsync(FrameType.Resolve, default, timeout.Token).ConfigureAwait(false);
        }
        catch (OmniStoreException ex)
        {
            return ex.InnerException as OmniStoreException ?? ex;
        }
        catch (OperationCanceledException)
        {
        }

        throw new FuzzInvariantException("a connection whose Completion ended still takes requests");
    }

    /// <summary>Waits for the handlers, the feeder and the drain to end; returns the frame types the acceptor sent.</summary>
    private static async Task<List<FrameType>> Settle(DecodingHandler handler, RecordingLogger logger, Task feed, Task<List<FrameType>> sent, CancellationToken cancellationToken)
    {
        await feed.WaitAsync(cancellationToken).ConfigureAwait(false);
        var types = await sent.WaitAsync(cancellationToken).ConfigureAwait(false);
        while (handler.InFlight > 0)
        {
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }

        handler.ThrowIfBroken();
        logger.ThrowIfBroken();
        return types;
    }

    /// <summary>Writes the input in pieces (sizes drawn from its own hash, so a case replays alike), then ends the stream.</summary>
    private static async Task FeedAsync(PipeWriter writer, byte[] input)
    {
        await Task.Yield();
        var random = new Random((int)XxHash3.Hash64(input));
        bool ragged = random.Next(4) == 0;
        try
        {
            for (int at = 0; at < input.Length;)
            {
                int length = ragged ? Math.Min(random.Next(1, 4096), input.Length - at) : input.Length - at;
                var flush = await writer.WriteAsync(input.AsMemory(at, length)).ConfigureAwait(false);
                at += length;
                if (flush.IsCompleted)
                {
                    break; // the acceptor stopped reading
                }
            }
        }
        finally
        {
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Reads what the acceptor sends until it closes; returns the frame types, in order of first appearance.</summary>
    private static async Task<List<FrameType>> DrainAsync(PipeReader reader)
    {
        await Task.Yield();
        var types = new List<FrameType>();
        while (true)
        {
            var result = await reader.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            while (FrameParser.TryRead(ref buffer, out var header, out _, out string? problem) is var status && status != FrameParseStatus.NeedMoreData)
            {
                Check(status == FrameParseStatus.Frame, $"the acceptor sent a malformed frame: {problem}");
                if (!types.Contains(header.Type))
                {
                    types.Add(header.Type);
                }
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                await reader.CompleteAsync().ConfigureAwait(false);
                return types;
            }
        }
    }

    /// <summary>
    /// A message's feature: its shape, without the text of an ERROR the peer sent (a connection
    /// reports a peer's ERROR as what it says), which would make every mutation of that text a
    /// new feature.
    /// </summary>
    private static string ErrorFeature(string message, bool handshake)
    {
        const string Closed = "closed the connection: ";
        int peerText = message.IndexOf(Closed, StringComparison.Ordinal);
        if (peerText >= 0)
        {
            return Fuzzer.Shape(message[..(peerText + Closed.Length)]) + "(the peer's text)";
        }

        // A peer's ERROR during the handshake is thrown as it is.
        return !handshake || OwnHandshakeErrors.Any(prefix => message.StartsWith(prefix, StringComparison.Ordinal)) ? Fuzzer.Shape(message) : "(the peer's text)";
    }

    /// <summary>How the handshake's own errors begin; any other comes from a peer's ERROR.</summary>
    private static readonly string[] OwnHandshakeErrors = ["Malformed", "Expected", "The peer", "Refused", "The handshake"];

    /// <summary>The codes of the ERROR frames in an input: a peer's ERROR is reported as what it says.</summary>
    internal static IEnumerable<OmniStoreError> ErrorCodesSentBy(byte[] input)
    {
        var codes = new HashSet<OmniStoreError>();
        var buffer = new ReadOnlySequence<byte>(input);
        while (FrameParser.TryRead(ref buffer, out var header, out var payload, out _) == FrameParseStatus.Frame)
        {
            if (header.Type == FrameType.Error)
            {
                var error = ErrorMessage.Decode(payload.ToArray()).Error;
                codes.Add(error);
                codes.Add(error == OmniStoreError.ProtocolError ? OmniStoreError.Unavailable : error);
            }
        }

        return codes;
    }

    internal static int FrameCount(byte[] input)
    {
        int count = 0;
        var buffer = new ReadOnlySequence<byte>(input);
        while (FrameParser.TryRead(ref buffer, out _, out _, out _) == FrameParseStatus.Frame)
        {
            count++;
        }

        return count + 1;
    }

    /// <summary>The acceptor's transport: the two pipe ends, completed on dispose (as a socket closes).</summary>
    private sealed class InMemoryTransport(PipeReader input, PipeWriter output) : IDuplexPipe, IAsyncDisposable
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;

        public async ValueTask DisposeAsync()
        {
            await Input.CompleteAsync().ConfigureAwait(false);
            await Output.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Serves requests as a node does up to the store: decodes each with the decoder a node uses
    /// and answers OK. A decoder's documented errors become ERROR answers (thrown on, as a node
    /// does); anything else is recorded as a failure.
    /// </summary>
    private sealed class DecodingHandler : IRequestHandler
    {
        private readonly ConcurrentDictionary<string, bool> _outcomes = new();
        private Exception? _broken;
        private int _inFlight;

        public int InFlight => Volatile.Read(ref _inFlight);

        public IEnumerable<string> Outcomes => _outcomes.Keys;

        public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _inFlight);
            try
            {
                using (request)
                {
                    try
                    {
                        string outcome = Decode(request);
                        _outcomes.TryAdd($"{request.Type}:{outcome}", true);
                    }
                    catch (OmniStoreException ex) when (Documented(request.Type).Contains(ex.Error))
                    {
                        _outcomes.TryAdd($"{request.Type}:E:{ex.Error}", true);
                        throw;
                    }
                    catch (Exception ex)
                    {
                        Interlocked.CompareExchange(ref _broken, new FuzzInvariantException($"decoding a {request.Type} request ({request.Length} bytes) threw {ex.GetType().Name}: {ex.Message}", ex), null);
                        throw;
                    }
                }

                await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        public void ThrowIfBroken()
        {
            if (_broken is { } broken)
            {
                throw broken;
            }
        }

        private static OmniStoreError[] Documented(FrameType type) => type switch
        {
            FrameType.Resolve or FrameType.Delete or FrameType.Prefetch => [OmniStoreError.InvalidName],
            FrameType.GetManifest or FrameType.GetChunk => [OmniStoreError.ProtocolError],
            FrameType.PutChunk or FrameType.PushChunk => [OmniStoreError.ProtocolError, OmniStoreError.Corrupt],
            FrameType.PutManifest => [OmniStoreError.Corrupt],
            // A BIND's conditions out of range (a time to live of 0 or past ten years, version 0) are
            // the caller's mistake, InvalidArgument, as protocol.md's "Conditional Puts" says.
            FrameType.Bind => [OmniStoreError.ProtocolError, OmniStoreError.InvalidName, OmniStoreError.InvalidArgument],
            FrameType.Update => [OmniStoreError.ProtocolError, OmniStoreError.InvalidName],
            FrameType.PutObject => [OmniStoreError.ProtocolError, OmniStoreError.InvalidArgument],
            _ => [OmniStoreError.ProtocolError],
        };

        private static string Decode(Message request)
        {
            switch (request.Type)
            {
                case FrameType.Resolve or FrameType.Delete or FrameType.Prefetch:
                    return DecoderTargets.Bucket(Names.Decode(request.Payload).Length);
                case FrameType.GetManifest:
                    if (request.Length != ManifestId.Size)
                    {
                        throw HelloMessage.Malformed("GET_MANIFEST carries a 16-byte id");
                    }

                    _ = ManifestId.Read(request.Payload);
                    return "ok";
                case FrameType.GetChunk:
                    return DecoderTargets.Bucket(ChunkRequests.Read(request.Payload).Length);
                case FrameType.PutChunk or FrameType.PushChunk:
                    return DecoderTargets.Bucket(ChunkMessage.Read(request).Data.Length);
                case FrameType.PutManifest:
                    return DecoderTargets.Bucket(Manifest.Parse(request.Payload).Chunks.Count);
                case FrameType.Bind:
                    return BindMessage.Decode(request.Payload).Broadcast ? "broadcast" : "ok";
                case FrameType.Update:
                    return BindingMessage.Decode(request.Payload).IsBound ? "bound" : "tombstone";
                default:
                    throw new OmniStoreException(OmniStoreError.ProtocolError, $"{request.Type} is not a request.");
            }
        }
    }

    /// <summary>Records what the connection logs: an exception other than <see cref="OmniStoreException"/> is a failure.</summary>
    private sealed class RecordingLogger : ILogger
    {
        private Exception? _broken;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string message = formatter(state, exception);
            if (exception is not null and not OmniStoreException)
            {
                Interlocked.CompareExchange(ref _broken, new FuzzInvariantException($"the connection logged {exception.GetType().Name} ({eventId.Name}): {message}", exception), null);
            }

            if (message.Any(char.IsControl))
            {
                Observations.TryAdd("log line with a control character from the peer", $"event {eventId.Id} ({eventId.Name}): {message.ReplaceLineEndings("\\n")}");
            }
        }

        public void ThrowIfBroken()
        {
            if (_broken is { } broken)
            {
                throw broken;
            }
        }
    }
}
