using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Tree;

namespace OmniStore.Tests.Api;

/// <summary>
/// Reads of part of an object (GetRangeAsync), as a seekable stream (OpenReadAsync), into the
/// caller's memory, and with progress: from the embedded store and through a relay, the same bytes
/// as the object's; from a node only the chunks that cover a range cross the network.
/// </summary>
public sealed class RangeAndStreamReadTests : IAsyncLifetime
{
    private const int ChunkSize = 64 * 1024;
    private static readonly byte[] Data = TestData.Random((16 * ChunkSize) + 123, 41);
    private readonly TempDirectory _dir = new();
    private TreeCluster? _cluster;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        _dir.Dispose();
    }

    private static OmniStoreOptions Options => new() { ChunkSize = ChunkSize };

    /// <summary>A client holding <see cref="Data"/> as "data": the embedded store, or a worker at a relay whose root holds it.</summary>
    private async Task<OmniStoreClient> ClientAsync(bool throughRelay, CancellationToken ct)
    {
        if (!throughRelay)
        {
            var embedded = OmniStoreClient.OpenEmbedded(Options with { DataDirectory = _dir.Path });
            await embedded.PutAsync("data", Data, ct);
            return embedded;
        }

        _cluster = await TreeCluster.StartAsync(relays: 1);
        await using (var master = await TreeCluster.ConnectAsync(_cluster.Root, Options))
        {
            await master.PutAsync("data", Data, ct);
        }

        return await TreeCluster.ConnectAsync(_cluster.Relays[0], Options);
    }

    public static TheoryData<bool> Where => new(false, true);

    [Theory]
    [MemberData(nameof(Where))]
    public async Task GetRangeAsync_ReturnsExactlyTheBytesOfTheRange_AcrossChunksAndAtTheEnd(bool throughRelay)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = await ClientAsync(throughRelay, ct);
        (long Offset, int Length)[] ranges =
        [
            (0, 1), (0, ChunkSize), (ChunkSize - 1, 2), (ChunkSize, ChunkSize), (5, (3 * ChunkSize) + 7),
            (Data.Length - 10, 10), (Data.Length - 10, 1000), (Data.Length, 5), (Data.Length + 100, 5), (100, 0),
            (0, Data.Length), (0, Data.Length + 1),
        ];
        var random = new Random(3);
        ranges = [.. ranges, .. Enumerable.Range(0, 20).Select(_ => ((long)random.Next(Data.Length), random.Next(4 * ChunkSize)))];
        foreach (var (offset, length) in ranges)
        {
            var expected = Data.AsSpan((int)Math.Min(offset, Data.Length), (int)Math.Clamp(Data.Length - offset, 0, length)).ToArray();
            Assert.Equal(expected, await client.GetRangeAsync("data", offset, length, ct));

            var buffer = new byte[length + 3];
            int read = await client.GetRangeAsync("data", offset, buffer.AsMemory(0, length), ct);
            Assert.Equal(expected.Length, read);
            Assert.Equal(expected, buffer[..read]);
            Assert.Equal(new byte[3], buffer[length..]); // nothing written past the destination
        }
    }

    [Theory]
    [MemberData(nameof(Where))]
    public async Task Ranges_RefuseANegativeOffsetOrLength_AndSayNotFoundForAnUnboundName(bool throughRelay)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = await ClientAsync(throughRelay, ct);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await client.GetRangeAsync("data", -1, 5, ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await client.GetRangeAsync("data", 0, -5, ct));
        var missing = await Assert.ThrowsAsync<OmniStoreException>(async () => await client.GetRangeAsync("nothing", 0, 5, ct));
        Assert.Equal(OmniStoreError.NotFound, missing.Error);
        missing = await Assert.ThrowsAsync<OmniStoreException>(async () => await client.OpenReadAsync("nothing", ct));
        Assert.Equal(OmniStoreError.NotFound, missing.Error);
    }

    [Fact]
    public async Task ARangeFromANode_FetchesOnlyTheChunksThatCoverIt()
    {
        var ct = TestContext.Current.CancellationToken;
        _cluster = await TreeCluster.StartAsync(relays: 0);
        await using var client = await TreeCluster.ConnectAsync(_cluster.Root, Options);
        await client.PutAsync("data", Data, ct);

        long before = SentToClients();
        var range = await client.GetRangeAsync("data", (5 * ChunkSize) + 100, ChunkSize, ct); // chunks 5 and 6
        long sent = SentToClients() - before;

        Assert.Equal(Data.AsSpan((5 * ChunkSize) + 100, ChunkSize).ToArray(), range);
        Assert.InRange(sent, 2 * ChunkSize, (3 * ChunkSize) - 1); // two chunks and the answers' headers, not the object's 16

        long SentToClients() => _cluster.Root.GetStatus().Children.Sum(c => c.Traffic.PayloadOut);
    }

    [Theory]
    [MemberData(nameof(Where))]
    public async Task OpenReadAsync_ReadsTheWholeObject_AndSeeksAnywhere(bool throughRelay)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = await ClientAsync(throughRelay, ct);
        await using var stream = await client.OpenReadAsync("data", ct);
        Assert.True(stream is { CanRead: true, CanSeek: true, CanWrite: false });
        Assert.Equal(Data.Length, stream.Length);

        var copy = new MemoryStream();
        await stream.CopyToAsync(copy, 10_000, ct); // reads smaller than a chunk, going forward
        Assert.Equal(Data, copy.ToArray());
        Assert.Equal(0, await stream.ReadAtLeastAsync(new byte[10], 1, throwOnEndOfStream: false, ct));

        var random = new Random(5);
        for (int i = 0; i < 30; i++)
        {
            long position = random.Next(Data.Length);
            var buffer = new byte[random.Next(1, 2 * ChunkSize)];
            stream.Seek(position - stream.Length, SeekOrigin.End);
            int read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
            Assert.Equal(Data.AsSpan((int)position, read).ToArray(), buffer[..read]);
            Assert.Equal(Math.Min(buffer.Length, Data.Length - position), read);
            Assert.Equal(position + read, stream.Position);
        }

        stream.Position = Data.Length + 10;
        Assert.Equal(0, stream.Read(new byte[4], 0, 4));
        Assert.Throws<IOException>(() => stream.Seek(-1, SeekOrigin.Begin));
        Assert.Throws<NotSupportedException>(() => stream.Write([1], 0, 1));
        Assert.Throws<NotSupportedException>(() => stream.SetLength(3));
        await stream.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => stream.Position);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await stream.ReadExactlyAsync(new byte[1], ct));
    }

    [Fact]
    public async Task AnOpenStream_ReadsTheVersionItOpened_AfterTheNameIsRebound()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = await ClientAsync(throughRelay: false, ct);
        await using var stream = await client.OpenReadAsync("data", ct);
        var first = new byte[100];
        await stream.ReadExactlyAsync(first, ct);

        await client.PutAsync("data", TestData.Random(Data.Length, 99), ct);
        var rest = new MemoryStream();
        await stream.CopyToAsync(rest, ct);
        Assert.Equal(Data, first.Concat(rest.ToArray()).ToArray());
    }

    [Theory]
    [MemberData(nameof(Where))]
    public async Task GetAsync_IntoMemory_ReadsTheObject_OrSaysTooSmall(bool throughRelay)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = await ClientAsync(throughRelay, ct);
        var buffer = new byte[Data.Length + 10];
        Assert.Equal(Data.Length, await client.GetAsync("data", buffer.AsMemory(), ct));
        Assert.Equal(Data, buffer[..Data.Length]);

        var small = new byte[Data.Length - 1];
        var error = await Assert.ThrowsAsync<OmniStoreException>(async () => await client.GetAsync("data", small.AsMemory(), ct));
        Assert.Equal(OmniStoreError.TooSmall, error.Error);
        Assert.Equal(new byte[small.Length], small); // nothing copied
    }

    [Theory]
    [MemberData(nameof(Where))]
    public async Task ProgressOverloads_ReportGrowingCounts_EndingAtTheObjectsLength(bool throughRelay)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = await ClientAsync(throughRelay, ct);
        var got = new Reports();
        var copy = new MemoryStream();
        Assert.Equal(Data.Length, await client.GetAsync("data", copy, got, ct));
        Assert.Equal(Data, copy.ToArray());
        Assert.True(got.Values.Count >= 2, $"{got.Values.Count} reports");
        Assert.Equal(got.Values.Order(), got.Values);
        Assert.Equal(Data.Length, got.Values[^1]);

        var put = new Reports();
        var other = TestData.Random((3 * ChunkSize) + 5, 77);
        await client.PutAsync("other", new MemoryStream(other), new PutOptions(), put, ct);
        Assert.Equal(other.Length, put.Values[^1]);
        Assert.Equal(other, await client.GetAsync("other", ct));
    }

    /// <summary>Collects what is reported, synchronously (unlike <see cref="Progress{T}"/>, which posts).</summary>
    private sealed class Reports : IProgress<long>
    {
        public List<long> Values { get; } = [];

        public void Report(long value)
        {
            lock (Values)
            {
                Values.Add(value);
            }
        }
    }
}
