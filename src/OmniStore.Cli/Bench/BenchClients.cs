namespace OmniStore.Cli.Bench;

/// <summary>
/// Connections for the small-object benchmarks: one <see cref="OmniStoreClient"/> per simulated
/// client, as redis-benchmark opens one connection per client. Disposing closes them all.
/// </summary>
internal sealed class BenchClients : IAsyncDisposable
{
    /// <summary>
    /// Handshakes started at once: a node refuses connections beyond its handshake limit (128 by
    /// default, half of that per address), so a run of hundreds of clients connects in batches.
    /// </summary>
    private const int ConnectBatch = 32;

    private readonly List<OmniStoreClient> _clients;

    private BenchClients(List<OmniStoreClient> clients) => _clients = clients;

    public OmniStoreClient this[int index] => _clients[index];

    public int Count => _clients.Count;

    /// <summary>Opens <paramref name="count"/> connections to <paramref name="relay"/>.</summary>
    public static async Task<BenchClients> ConnectAsync(string relay, byte[]? sharedSecret, int count, CancellationToken cancellationToken)
    {
        var options = new OmniStoreOptions { SharedSecret = sharedSecret };
        var clients = new List<OmniStoreClient>(count);
        try
        {
            while (clients.Count < count)
            {
                int batch = Math.Min(ConnectBatch, count - clients.Count);
                var connecting = Enumerable.Range(0, batch).Select(_ => OmniStoreClient.ConnectAsync(relay, options, cancellationToken)).ToArray();
                try
                {
                    await Task.WhenAll(connecting).ConfigureAwait(false);
                }
                finally
                {
                    // Keep every connection that opened, so that a failure closes them all.
                    clients.AddRange(connecting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
                }
            }

            return new BenchClients(clients);
        }
        catch
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }

        _clients.Clear();
    }
}
