using OmniStore.Content;
using OmniStore.Storage.Internal;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Api;

/// <summary>
/// A new embedded store is made for chunks up to 4 MiB, or the client's chunk size when larger,
/// so that its log pages (twice that) cost a short command little to allocate; an existing store
/// keeps the size it was made with, whatever a later client asks.
/// </summary>
public sealed class EmbeddedStoreSizingTests : IDisposable
{
    private readonly TempDirectory _dir = new("omnistore-embedded-sizing");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ANewStore_IsMadeFor4MiBChunks_AndRefusesLargerOnesNamingItsMaximum()
    {
        var ct = TestContext.Current.CancellationToken;
        string directory = _dir.Sub("default");
        var data = TestData.Random(4 << 20, 1);
        await using (var client = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = directory, ChunkSize = 4 << 20 }))
        {
            await client.PutAsync("four", data, ct);
            Assert.Equal(data, await client.GetAsync("four", ct));
        }

        Assert.Equal(23, StoreDescriptor.Load(directory)!.DataPageSizeBits); // 8 MiB pages

        // Made by a client with 4 MiB chunks; a client with 16 MiB chunks gets a clear refusal.
        await using var larger = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = directory, ChunkSize = ChunkLayout.MaxChunkSize });
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => larger.PutAsync("sixteen", TestData.Random(ChunkLayout.MaxChunkSize, 2), ct).AsTask());
        Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
        Assert.Contains($"maximum of {4 << 20}", error.Message, StringComparison.Ordinal);
        Assert.Equal(data, await larger.GetAsync("four", ct));
    }

    [Fact]
    public async Task AStoreMadeFor16MiBChunks_KeepsTakingThem_WhenOpenedWithTheDefaultChunkSize()
    {
        var ct = TestContext.Current.CancellationToken;
        string directory = _dir.Sub("large");
        await using (var maker = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = directory, ChunkSize = ChunkLayout.MaxChunkSize }))
        {
            await maker.PutAsync("first", TestData.Random(100, 3), ct);
        }

        Assert.Equal(25, StoreDescriptor.Load(directory)!.DataPageSizeBits); // 32 MiB pages

        // Reopened by a default client (whose own new stores are made for 4 MiB), then by one with 16 MiB chunks again.
        await using (var reader = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = directory }))
        {
            Assert.Equal(TestData.Random(100, 3), await reader.GetAsync("first", ct));
        }

        var data = TestData.Random(ChunkLayout.MaxChunkSize + 5, 4);
        await using var writer = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = directory, ChunkSize = ChunkLayout.MaxChunkSize });
        await writer.PutAsync("sixteen", data, ct);
        Assert.Equal(data, await writer.GetAsync("sixteen", ct));
    }
}
