using System.Text;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Api;

public sealed class ErrorAndConcurrencyTests : IDisposable
{
    private const int Chunk = ChunkLayout.MinChunkSize;
    private readonly TempDirectory _dir = new();
    private readonly OmniStoreClient _client;

    public ErrorAndConcurrencyTests() =>
        _client = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = _dir.Path, ChunkSize = Chunk });

    public void Dispose()
    {
        _client.Dispose();
        _dir.Dispose();
    }

    // Built inside the test from an index: theory data is serialized between discovery and the
    // run, and an unpaired surrogate would not survive the trip.
    private static readonly string[] InvalidNameCases =
    [
        string.Empty,
        "tab\there",
        "newline\n",
        "nul\0",
        "del\u007f",
        "c1\u0085",
        new string('x', ObjectName.MaxByteLength + 1),
        new string('é', (ObjectName.MaxByteLength / 2) + 1), // 2 UTF-8 bytes each
        "unpaired " + (char)0xD800 + " surrogate",
    ];

    public static TheoryData<int> InvalidNames => new(Enumerable.Range(0, InvalidNameCases.Length));

    [Theory]
    [MemberData(nameof(InvalidNames))]
    public async Task EveryOperation_RejectsAnInvalidName_WithInvalidName(int index)
    {
        string name = InvalidNameCases[index];
        var ct = TestContext.Current.CancellationToken;
        await AssertError(OmniStoreError.InvalidName, () => _client.PutAsync(name, new byte[1], ct).AsTask());
        await AssertError(OmniStoreError.InvalidName, () => Task.Run(() => _client.Put(name, new byte[1]), ct));
        await AssertError(OmniStoreError.InvalidName, () => _client.GetAsync(name, ct).AsTask());
        await AssertError(OmniStoreError.InvalidName, () => Task.Run(() => _client.Get(name, new byte[1]), ct));
        await AssertError(OmniStoreError.InvalidName, () => _client.StatAsync(name, ct).AsTask());
        await AssertError(OmniStoreError.InvalidName, () => _client.DeleteAsync(name, ct).AsTask());
    }

    [Fact]
    public void Names_AtTheLimits_AreAccepted()
    {
        var longest = new string('n', ObjectName.MaxByteLength);
        var unicode = "データ/行列 ✓ 🚀";
        _client.Put(longest, "a"u8);
        _client.Put(unicode, "b"u8);
        Assert.Equal(1, _client.Get(longest, new byte[1]));
        var buffer = new byte[1];
        _client.Get(unicode, buffer);
        Assert.Equal((byte)'b', buffer[0]);
        Assert.Equal(ObjectName.MaxByteLength, Encoding.UTF8.GetByteCount(longest));
    }

    [Fact]
    public async Task Get_OfAMissingName_FailsWithNotFound_AndStatReturnsNull()
    {
        var ct = TestContext.Current.CancellationToken;
        await AssertError(OmniStoreError.NotFound, () => _client.GetAsync("missing", ct).AsTask());
        await AssertError(OmniStoreError.NotFound, () => _client.GetAsync("missing", Stream.Null, ct).AsTask());
        Assert.Equal(OmniStoreError.NotFound, Assert.Throws<OmniStoreException>(() => _client.Get("missing", new byte[4])).Error);
        Assert.Null(await _client.StatAsync("missing", ct));
        Assert.False(await _client.DeleteAsync("missing", ct));
    }

    [Fact]
    public void Get_IntoATooSmallDestination_FailsWithTooSmall_AndWritesNothing()
    {
        var data = TestData.Random((2 * Chunk) + 1, 1);
        _client.Put("obj", data);
        var destination = new byte[data.Length - 1];
        var error = Assert.Throws<OmniStoreException>(() => _client.Get("obj", destination));
        Assert.Equal(OmniStoreError.TooSmall, error.Error);
        Assert.All(destination, b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Delete_UnbindsTheName()
    {
        var ct = TestContext.Current.CancellationToken;
        _client.Put("gone", "x"u8);
        Assert.True(await _client.DeleteAsync("gone", ct));
        await AssertError(OmniStoreError.NotFound, () => _client.GetAsync("gone", ct).AsTask());
    }

    [Fact]
    public async Task RePut_RebindsToNewContent_WithAHigherVersion()
    {
        var ct = TestContext.Current.CancellationToken;
        _client.Put("doc", "first"u8);
        _client.Put("doc", "second version"u8);
        Assert.Equal("second version"u8.ToArray(), await _client.GetAsync("doc", ct));
        Assert.Equal(2, (await _client.StatAsync("doc", ct))!.Version);
    }

    [Fact]
    public async Task IdenticalChunks_AreStoredOnce_AcrossNames()
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(8 * Chunk, 3);
        await _client.PutAsync("a", data, ct);
        var store = GetStore();
        long before = store.UsedBytes;
        await _client.PutAsync("b", data, ct);
        long grew = store.UsedBytes - before;
        Assert.True(grew < Chunk, $"a second put of the same 8 chunks grew the store by {grew} bytes");
        Assert.Equal(data, await _client.GetAsync("b", ct));
    }

    [Fact]
    public async Task ConcurrentRebinding_NeverMixesVersions()
    {
        var ct = TestContext.Current.CancellationToken;
        // Each version is one byte value repeated over several chunks: a mixed read shows two values.
        const int Length = (6 * Chunk) + 100;
        _client.Put("hot", new byte[Length]);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var writers = Enumerable.Range(1, 2).Select(w => Task.Run(
            async () =>
            {
                for (int i = 0; i < 15; i++)
                {
                    var data = new byte[Length];
                    data.AsSpan().Fill((byte)((w * 16) + i));
                    await _client.PutAsync("hot", data, stop.Token);
                }
            },
            ct)).ToArray();
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(
            async () =>
            {
                int reads = 0;
                while (!writers.All(t => t.IsCompleted))
                {
                    var data = await _client.GetAsync("hot", stop.Token);
                    Assert.Equal(Length, data.Length);
                    byte first = data[0];
                    Assert.True(data.AsSpan().IndexOfAnyExcept(first) < 0, "a get returned chunks of two versions");
                    reads++;
                }

                return reads;
            },
            ct)).ToArray();
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromMinutes(2), ct);
        var counts = await Task.WhenAll(readers).WaitAsync(TimeSpan.FromMinutes(2), ct);
        Assert.True(counts.Sum() > 0);
        Assert.Equal(31, (await _client.StatAsync("hot", ct))!.Version);
    }

    private ContentStore GetStore() => ((EmbeddedNode)_client.Service).Store;

    private static async Task AssertError(OmniStoreError expected, Func<Task> action)
    {
        var error = await Assert.ThrowsAsync<OmniStoreException>(action);
        Assert.Equal(expected, error.Error);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }
}
