namespace OmniStore.Protocol;

/// <summary>
/// Serves the requests a peer sends on a connection. It must answer each request exactly once
/// (with a response or, by throwing <see cref="OmniStoreException"/>, an ERROR), and owns the
/// request message (dispose it when done).
/// </summary>
internal interface IRequestHandler
{
    Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken);
}
