using Microsoft.Extensions.Logging;
using OmniStore.Protocol;
using OmniStore.Transport;

namespace OmniStore.Node;

/// <summary>
/// A relay's connection to its parent, kept up in the background: when it drops, the link
/// reconnects with exponential backoff (0.1 s doubling to 5 s). While it is down, requests that
/// need the parent fail at once with <see cref="OmniStoreError.Unavailable"/> instead of waiting,
/// so the relay keeps serving what it has cached.
/// </summary>
internal sealed class ParentLink : IAsyncDisposable
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly NodeAddress _address;
    private readonly TransportRegistry _transports;
    private readonly ConnectionIdentity _identity;
    private readonly IRequestHandler _handler;
    private readonly ConnectionLimits _limits;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private PeerConnection? _current;
    private Task? _loop;

    public ParentLink(NodeAddress address, TransportRegistry transports, ConnectionIdentity identity, IRequestHandler handler, ConnectionLimits limits, ILogger logger)
    {
        _transports = transports;
        _limits = limits with { MayBeShed = false };
        _address = address;
        _identity = identity;
        _handler = handler;
        _logger = logger;
    }

    /// <summary>Raised (on a pool thread) each time a new connection to the parent is up.</summary>
    public event Action<PeerConnection>? Connected;

    /// <summary>Raised (on a pool thread) each time the parent refuses this node (<see cref="OmniStoreError.Unauthorized"/>).</summary>
    public event Action<OmniStoreException>? Refused;

    /// <summary>Raised each time the link goes down or an attempt to connect fails, with why (the tree view's recent errors).</summary>
    public event Action<string>? Problem;

    public NodeAddress Address => _address;

    public LinkCounters Counters { get; } = new();

    public PeerConnection? Current => _current is { IsOpen: true } c ? c : null;

    /// <summary>Why the last attempt to connect failed (the parent unreachable, or refused); null once one succeeds.</summary>
    public string? LastProblem { get; private set; }

    /// <summary>How many times the link came up.</summary>
    public int Connections { get; private set; }

    /// <summary>Starts connecting; completes after the first attempt (successful or not).</summary>
    public Task StartAsync()
    {
        _loop ??= Task.Run(RunAsync);
        return _firstAttempt.Task;
    }

    /// <summary>The live connection, or <see cref="OmniStoreError.Unavailable"/> at once.</summary>
    public PeerConnection Get() =>
        Current ?? throw new OmniStoreException(OmniStoreError.Unavailable, $"The parent {_address} is unreachable; only cached data can be served.");

    private async Task RunAsync()
    {
        var backoff = MinBackoff;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var transport = await _transports.ConnectAsync(_address, Counters, _stop.Token).ConfigureAwait(false);
                var connection = await PeerConnection.StartAsync(transport, isOpener: true, _identity, _handler, _limits, _logger, _stop.Token).ConfigureAwait(false);
                _current = connection;
                Connections++;
                LastProblem = null;
                backoff = MinBackoff;
                NodeLog.ParentConnected(_logger, _address.ToString(), connection.Describe());
                Connected?.Invoke(connection);
                _firstAttempt.TrySetResult();
                await connection.Completion.WaitAsync(_stop.Token).ConfigureAwait(false);
                NodeLog.ParentLost(_logger, _address.ToString());
                Problem?.Invoke($"the link to the parent {_address} was lost");
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                break;
            }
            catch (OmniStoreException ex)
            {
                LastProblem = ex.Message;
                Problem?.Invoke($"the parent {_address}: {ex.Message}");
                _firstAttempt.TrySetResult();
                if (ex.Error == OmniStoreError.Unauthorized)
                {
                    backoff = MaxBackoff; // a wrong secret will not fix itself quickly
                    Refused?.Invoke(ex);
                }

                NodeLog.ParentUnreachable(_logger, _address.ToString(), ex.Message, backoff.TotalMilliseconds);
            }

            try
            {
                await Task.Delay(backoff, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        if (_current is not null)
        {
            await _current.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}
