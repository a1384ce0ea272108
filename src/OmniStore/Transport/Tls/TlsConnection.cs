using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using OmniStore.Security;

namespace OmniStore.Transport.Tls;

/// <summary>
/// A connection of any transport with TLS 1.3 over its byte stream (docs/tls.md): an
/// <see cref="SslStream"/> over the inner connection's pipes, and pipes of its own that two pumps
/// fill from and drain into the SslStream once the handshake is done. The dialer's handshake runs
/// before the connection is handed out (a refusal is an <see cref="OmniStoreException"/> from
/// connecting); an acceptor's runs in the background from <see cref="StartAsServer"/>, so accepting
/// never waits on a peer, and a refused peer ends the input pipe with
/// <see cref="OmniStoreError.Unauthorized"/>. The gathered send and direct receive of the inner
/// transport are not offered: every byte passes through the cipher.
/// </summary>
internal sealed class TlsConnection : TransportConnection, ITlsPeer
{
    /// <summary>How long an acceptor waits for a dialer's TLS handshake.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long closing waits for what was written to go out.</summary>
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(2);

    private const int ReadSize = 16 * 1024 + 256; // a TLS record's plaintext, and a little more

    private readonly TransportConnection _inner;
    private readonly SslStream _ssl;
    private readonly Pipe _input = new(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 512 * 1024, minimumSegmentSize: 16 * 1024, useSynchronizationContext: false));
    private readonly Pipe _output = new(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 512 * 1024, minimumSegmentSize: 16 * 1024, useSynchronizationContext: false));
    private readonly TaskCompletionSource _authenticated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TlsVerdict _verdict = new();
    private Task _pumps = Task.CompletedTask;
    private Task? _writePump;
    private int _disposed;

    public TlsConnection(TransportConnection inner, string scheme)
    {
        _inner = inner;
        _ssl = new SslStream(new DuplexPipeStream(inner), leaveInnerStreamOpen: true);
        _scheme = scheme;
    }

    public override PipeReader Input => _input.Reader;

    public override PipeWriter Output => _output.Writer;

    public override EndPoint? LocalEndPoint => _inner.LocalEndPoint;

    public override EndPoint? RemoteEndPoint => _inner.RemoteEndPoint;

    public override LinkCounters Counters => _inner.Counters;

    public override CancellationToken Closed => _inner.Closed;

    /// <summary>The inner connection's path as it is now (a rudp link may move to a better one), under this scheme.</summary>
    public override LinkPath Path => _inner.Path with { Transport = _scheme };

    private readonly string _scheme;

    public Task Authenticated => _authenticated.Task;

    public string? PeerName => _verdict.Name;

    public NodeRights? PeerRights => _verdict.Rights;

    public byte[]? PeerPublicKey => _verdict.PublicKey;

    public string? PeerSerial => _verdict.Serial;

    /// <summary>The negotiated TLS version and cipher, for status and logs ("TLS 1.3 TLS_AES_256_GCM_SHA384").</summary>
    public string Protocol => _authenticated.Task.IsCompletedSuccessfully ? $"{Describe(_ssl.SslProtocol)} {_ssl.NegotiatedCipherSuite}" : "handshake";

    public override TFeature? GetFeature<TFeature>()
        where TFeature : class =>
        this as TFeature ?? (typeof(TFeature) == typeof(ITransportStatistics) || typeof(TFeature) == typeof(ISendProgress) ? _inner.GetFeature<TFeature>() : null);

    /// <summary>The dialer's handshake with the node at <paramref name="host"/>: its certificate must chain to the tree CA and name that host.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unauthorized"/>: the peer's certificate was refused, or it refused ours; <see cref="OmniStoreError.Unavailable"/>: the connection failed.</exception>
    public async Task AuthenticateAsClientAsync(TlsCredentials credentials, string host, string address, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(HandshakeTimeout);
            await _ssl.AuthenticateAsClientAsync(credentials.ClientOptions(host, _verdict), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException)
        {
            var failure = Failure(ex, address, cancellationToken);
            _authenticated.TrySetException(failure);
            throw failure;
        }

        _authenticated.TrySetResult();
        _pumps = StartPumps();
    }

    private Task StartPumps()
    {
        var writing = Task.Run(WritePumpAsync, CancellationToken.None);
        Volatile.Write(ref _writePump, writing);
        return Task.WhenAll(Task.Run(ReadPumpAsync, CancellationToken.None), writing);
    }

    /// <summary>Starts the acceptor's handshake in the background; the pipes carry bytes once it is done.</summary>
    public void StartAsServer(TlsCredentials credentials, string address)
    {
        _pumps = Task.Run(async () =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(HandshakeTimeout);
                await _ssl.AuthenticateAsServerAsync(credentials.ServerOptions(_verdict), timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                var failure = Failure(ex, address, CancellationToken.None);
                _authenticated.TrySetException(failure);
                await _input.Writer.CompleteAsync(failure).ConfigureAwait(false);
                await _output.Reader.CompleteAsync(failure).ConfigureAwait(false);
                await _inner.DisposeAsync().ConfigureAwait(false);
                return;
            }

            _authenticated.TrySetResult();
            await StartPumps().ConfigureAwait(false);
        });
    }

    private OmniStoreException Failure(Exception ex, string address, CancellationToken cancellationToken)
    {
        if (_verdict.Problem is { } problem)
        {
            return new OmniStoreException(OmniStoreError.Unauthorized, $"TLS with {address} refused: {problem}.", ex);
        }

        if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            return new OmniStoreException(OmniStoreError.Cancelled, $"TLS with {address} was cancelled.", ex);
        }

        return ex switch
        {
            OperationCanceledException => new OmniStoreException(OmniStoreError.Unavailable, $"TLS with {address}: no handshake within {HandshakeTimeout.TotalSeconds:0} s.", ex),
            AuthenticationException => new OmniStoreException(OmniStoreError.Unauthorized, $"TLS with {address} failed: {ex.Message}{(ex.InnerException is { } inner ? $" ({inner.Message})" : "")} (is it a TLS listener of this tree, and does it accept this node's certificate?)", ex),
            _ => new OmniStoreException(OmniStoreError.Unavailable, $"TLS with {address} failed: {ex.Message}", ex),
        };
    }

    private async Task ReadPumpAsync()
    {
        var writer = _input.Writer;
        Exception? failure = null;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(ReadSize);
                int read = await _ssl.ReadAsync(memory).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                writer.Advance(read);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException or ObjectDisposedException or InvalidOperationException)
        {
            // A record that fails its authentication tag (an altered or injected byte) ends here.
            failure = new IOException($"The TLS link failed: {ex.Message}", ex);
        }

        await writer.CompleteAsync(failure).ConfigureAwait(false);
    }

    private async Task WritePumpAsync()
    {
        var reader = _output.Reader;
        Exception? failure = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                foreach (var segment in result.Buffer)
                {
                    await _ssl.WriteAsync(segment).ConfigureAwait(false);
                }

                await _ssl.FlushAsync().ConfigureAwait(false);
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    // End of stream without close_notify: SslStream.ShutdownAsync, called while the
                    // read pump waits in ReadAsync, now and then blocked its caller and never
                    // returned (seen 2 times in 300 echoes under load), so the peer never saw the
                    // end. What close_notify adds, telling a cut from an end, the protocol has
                    // already: every message carries its length and every request its answer.
                    await _inner.CloseOutputAsync().ConfigureAwait(false);
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException or ObjectDisposedException or InvalidOperationException)
        {
            failure = ex;
        }

        await reader.CompleteAsync(failure).ConfigureAwait(false);
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        await _input.Reader.CompleteAsync().ConfigureAwait(false);

        // What was written goes out first (a refusal's ERROR frame, the last answers), then
        // the end of the stream, as a plain connection delivers what it was given before it closes; bounded,
        // for a peer that reads nothing.
        if (Volatile.Read(ref _writePump) is { } writing)
        {
            await writing.WaitAsync(LingerTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await _inner.DisposeAsync().ConfigureAwait(false); // ends the pumps' reads and writes
        await _pumps.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        try
        {
            await _ssl.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The link under it is gone: nothing to tell the peer any more.
        }
    }

    private static string Describe(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLS 1.3",
        _ => protocol.ToString(),
    };
}
