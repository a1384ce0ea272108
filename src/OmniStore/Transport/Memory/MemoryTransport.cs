using System.Collections.Concurrent;

namespace OmniStore.Transport.Memory;

/// <summary>
/// In-process connections: <c>mem://NAME:N</c>. A listener takes a name in this process (asked for
/// with port 0, it gets a fresh one, <c>NAME-N</c>, and reports N as its port, so that listening
/// again on the address it reported takes the same name); a connect to that name gets a pair of
/// pipes with the listener's next accept. No sockets, no kernel: the tree suite runs on it as on
/// TCP, with nothing to leak.
/// </summary>
internal sealed class MemoryTransport : ITransport
{
    private readonly ConcurrentDictionary<string, MemoryListener> _listeners = new(StringComparer.Ordinal);
    private int _nextAnonymous;

    public static MemoryTransport Instance { get; } = new();

    public string Scheme => "mem";

    public Task<TransportConnection> ConnectAsync(NodeAddress address, LinkCounters counters, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_listeners.TryGetValue(address.Host, out var listener) || !listener.TryEnqueue(counters, out var connection))
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"Cannot connect to {address}: nothing listens there.");
        }

        return Task.FromResult<TransportConnection>(connection);
    }

    public IConnectionListener Listen(NodeAddress address)
    {
        // Port 0 asks for a fresh name, as it asks TCP for a fresh port.
        int port = address.Port == 0 ? Interlocked.Increment(ref _nextAnonymous) : address.Port;
        string name = address.Port == 0 ? $"{address.Host}-{port}" : address.Host;
        var listener = new MemoryListener(new NodeAddress(Scheme, name, port), () => _listeners.TryRemove(name, out _));
        if (!_listeners.TryAdd(name, listener))
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"Cannot listen on mem://{name}: a listener in this process has that name.");
        }

        return listener;
    }
}
