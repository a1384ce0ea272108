using System.Diagnostics;
using OmniStore.Content;

namespace OmniStore.Cli.Demo;

/// <summary>
/// The demo's job: put the data set through the public client, measuring the store's size on disk
/// around each Put, then get it back through a verifier.
/// </summary>
internal static class DemoRun
{
    public static async Task<DemoResult> RunAsync(OmniStoreOptions options, long size, CancellationToken cancellationToken)
    {
        options.Validate();
        var objects = DemoDataSet.Create(size, options.ChunkSize);
        var results = new List<DemoObjectResult>();
        var putTime = TimeSpan.Zero;
        var getTime = TimeSpan.Zero;
        var seen = new HashSet<ChunkId>();

        await using var client = OmniStoreClient.OpenEmbedded(options);
        foreach (var o in objects)
        {
            // Put returns once the object is durable, so its chunks are on disk when the size is taken.
            long before = StoreFootprint.Measure(client);
            long start = Stopwatch.GetTimestamp();
            await client.PutAsync(o.Name, new MemoryStream(o.Data, writable: false), cancellationToken);
            putTime += Stopwatch.GetElapsedTime(start);
            long growth = StoreFootprint.Measure(client) - before;

            var info = await client.StatAsync(o.Name, cancellationToken)
                ?? throw new OmniStoreException(OmniStoreError.NotFound, $"'{o.Name}' is not bound right after it was put.");
            var layout = new ChunkLayout(o.Data.Length, options.ChunkSize);
            int newChunks = 0;
            long newBytes = 0;
            for (int c = 0; c < o.ChunkIds.Count; c++)
            {
                if (seen.Add(o.ChunkIds[c]))
                {
                    newChunks++;
                    newBytes += layout.LengthOf(c);
                }
            }

            results.Add(new DemoObjectResult(o.Name, info.Length, info.ChunkCount, newChunks, newBytes, growth, info.Version));
        }

        foreach (var o in objects)
        {
            var verifier = new VerifyingStream(o.Data);
            long start = Stopwatch.GetTimestamp();
            long length = await client.GetAsync(o.Name, verifier, cancellationToken);
            getTime += Stopwatch.GetElapsedTime(start);
            Verify(o, length, verifier);
        }

        return new DemoResult(options.DataDirectory, options.ChunkSize, results, putTime, getTime);
    }

    private static void Verify(DemoObject expected, long length, VerifyingStream received)
    {
        if (length != expected.Data.Length || received.BytesWritten != expected.Data.Length)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"Get of '{expected.Name}' returned {received.BytesWritten} bytes (reported {length}); {expected.Data.Length} were put.");
        }

        if (received.FirstMismatch is { } offset)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"Get of '{expected.Name}' differs from what was put, first at byte {offset}.");
        }

        if (received.Hash != expected.Hash)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"Get of '{expected.Name}' has another XXH3-128 than what was put.");
        }
    }
}
