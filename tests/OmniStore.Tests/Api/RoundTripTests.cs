using OmniStore.Content;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Api;

public sealed class RoundTripTests : IDisposable
{
    private const int ChunkSize = ChunkLayout.MinChunkSize;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private OmniStoreClient Open(int chunkSize = ChunkSize) =>
        OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = _dir.Path, ChunkSize = chunkSize });

    public static TheoryData<int> Sizes => new() { 0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, (3 * ChunkSize) + 17 };

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task PutThenGet_ReturnsTheSameBytes_ThroughEveryOverload(int size)
    {
        var data = TestData.Random(size, size);
        using var client = Open();

        client.Put("span", data);
        await client.PutAsync("memory", data.AsMemory(), TestContext.Current.CancellationToken);
        await client.PutAsync("stream", new MemoryStream(data), TestContext.Current.CancellationToken);

        foreach (var name in new[] { "span", "memory", "stream" })
        {
            Assert.Equal(data, await client.GetAsync(name, TestContext.Current.CancellationToken));

            var sink = new MemoryStream();
            Assert.Equal(size, await client.GetAsync(name, sink, TestContext.Current.CancellationToken));
            Assert.Equal(data, sink.ToArray());

            var buffer = new byte[size + 5];
            Assert.Equal(size, client.Get(name, buffer));
            Assert.Equal(data, buffer.AsSpan(0, size).ToArray());

            var info = await client.StatAsync(name, TestContext.Current.CancellationToken);
            Assert.NotNull(info);
            Assert.Equal(size, info.Length);
            Assert.Equal((size + ChunkSize - 1) / ChunkSize, info.ChunkCount);
            Assert.Equal(1, info.Version);
        }
    }

    [Fact]
    public async Task Get_OfAHundredMebibyteObject_RoundTrips()
    {
        var data = TestData.Random(100L << 20, 100);
        using var client = Open(ChunkLayout.DefaultChunkSize);
        await client.PutAsync("big", new MemoryStream(data), TestContext.Current.CancellationToken);
        var sink = new MemoryStream();
        Assert.Equal(data.Length, await client.GetAsync("big", sink, TestContext.Current.CancellationToken));
        Assert.True(data.AsSpan().SequenceEqual(sink.GetBuffer().AsSpan(0, (int)sink.Length)));
    }

    [Fact]
    public async Task Put_SurvivesReopeningTheStore()
    {
        var data = TestData.Random((5 * ChunkSize) + 3, 7);
        using (var client = Open())
        {
            client.Put("kept", data);
        }

        using (var client = Open())
        {
            Assert.Equal(data, await client.GetAsync("kept", TestContext.Current.CancellationToken));
        }
    }
}
