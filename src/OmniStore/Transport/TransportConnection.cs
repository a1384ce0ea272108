using System.IO.Pipelines;
using System.Net;

namespace OmniStore.Transport;

/// <summary>
/// One connection of some transport, as the protocol sees it (Kestrel's <c>ConnectionContext</c>
/// is the model): a duplex pipe of bytes, the two endpoints, the link's own byte counters, a token
/// that fires when the connection is gone, what kind of path it runs over, and optional features
/// asked for by type. It carries bytes only; what they mean is the protocol's.
/// </summary>
/// <remarks>
/// The contract a transport and <see cref="Protocol.PeerConnection"/> share (docs/architecture.md,
/// "Transports"): bytes written to <see cref="Output"/> leave in order once flushed; a feature that
/// bypasses the pipes (<see cref="IGatheringSender"/>, <see cref="IDirectReceiver"/>) is used only
/// with the pipe on that side drained (output flushed before a gathered send; input consumed
/// before a direct receive), and the pipe is not touched until the feature's call completes.
/// </remarks>
internal abstract class TransportConnection : IDuplexPipe, IAsyncDisposable
{
    /// <summary>Bytes from the peer.</summary>
    public abstract PipeReader Input { get; }

    /// <summary>Bytes to the peer.</summary>
    public abstract PipeWriter Output { get; }

    /// <summary>This end's endpoint, if the transport has one.</summary>
    public abstract EndPoint? LocalEndPoint { get; }

    /// <summary>The peer's endpoint, if the transport has one.</summary>
    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>What crossed this connection, counted at the transport.</summary>
    public abstract LinkCounters Counters { get; }

    /// <summary>Cancelled once the connection is closed (by either end) or has failed.</summary>
    public abstract CancellationToken Closed { get; }

    /// <summary>The transport and the kind of path this connection runs over.</summary>
    public abstract LinkPath Path { get; }

    /// <summary>
    /// A feature of this connection (<see cref="IGatheringSender"/>, <see cref="IDirectReceiver"/>,
    /// ...), or null when it has none of that type: callers ask, and fall back to the pipes.
    /// </summary>
    public virtual TFeature? GetFeature<TFeature>()
        where TFeature : class => null;

    /// <summary>
    /// Sends end-of-stream after what was written (TCP: a FIN, by shutting down the sending side);
    /// reading goes on until the peer closes too.
    /// </summary>
    public virtual async ValueTask CloseOutputAsync() => await Output.CompleteAsync().ConfigureAwait(false);

    /// <summary>Closes the connection; safe to call more than once.</summary>
    public abstract ValueTask DisposeAsync();
}
