using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Storage;
using OmniStore.Storage.Internal;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// Space held by unreachable content is given back to the disk, with the default unlimited
/// capacity too, and a new store is small. Sizes are the blocks the files hold on disk.
/// </summary>
public sealed class ReclamationTests : IDisposable
{
    private const int Object = 64 << 20;
    private readonly TempDirectory _dir = new("omnistore-reclaim");

    public void Dispose() => _dir.Dispose();

    private OmniStoreClient OpenClient() => OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = _dir.Path });

    private static ContentStore StoreOf(OmniStoreClient client) => ((EmbeddedNode)client.Service).Store;

    /// <summary>The store with no background pass, so that the pass a test starts is the one doing the work.</summary>
    private EmbeddedNode OpenQuietly() => new(ContentStore.Open(new ContentStoreOptions { Directory = _dir.Path, ReclaimFraction = 0 }));

    /// <summary>Makes every 1 MiB chunk of <paramref name="buffer"/> unique to (<paramref name="seed"/>, its index), so nothing deduplicates.</summary>
    private static void Stamp(byte[] buffer, int seed)
    {
        for (int offset = 0, chunk = 0; offset < buffer.Length; offset += ChunkLayout.DefaultChunkSize, chunk++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(offset), ((long)seed << 32) | (uint)chunk);
        }
    }

    [Fact]
    public async Task PutOneGiB_RemoveIt_TheBackgroundPassRuns_AndTheFilesShrinkToTheLiveDataPlusTheFixedLogPages()
    {
        var ct = TestContext.Current.CancellationToken;
        var keep = TestData.Random(16 << 20, 7);
        await using (var client = OpenClient())
        {
            await PutAndRemoveAsync(client, 16, keep, ct);

            // Nothing asks for a pass: removing a quarter of the log must start one.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (StoreDiskUsage.AllocatedBytes(_dir.Path) > Bound(keep) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, ct);
            }

            AssertShrunk(keep);
        }

        AssertShrunk(keep);
        await using var reopened = OpenClient();
        Assert.Equal(keep, await reopened.GetAsync("keep", ct));
    }

    [Fact]
    public async Task PutHalfAGiB_RemoveIt_RunThePass_TheSpaceInsideALogSegmentIsFreedToo()
    {
        var ct = TestContext.Current.CancellationToken;
        var keep = TestData.Random(16 << 20, 8);
        await using (var client = OpenClient())
        {
            await PutAndRemoveAsync(client, 8, keep, ct);
            // A background pass may have started already: this one waits for it, and reports the disk after both.
            var summary = await StoreOf(client).CollectGarbageAsync(null, ct);
            Assert.True(summary.DiskAfter <= Bound(keep), $"the pass reports {summary.DiskAfter} bytes on disk after it");
        }

        AssertShrunk(keep);
        await using var reopened = OpenClient();
        Assert.Equal(keep, await reopened.GetAsync("keep", ct));
    }

    [Fact]
    public async Task RemovedDataOfAStoreClosedRightAway_IsReclaimedAfterTheNextOpen()
    {
        var ct = TestContext.Current.CancellationToken;
        var keep = TestData.Random(4 << 20, 9);
        await using (var client = OpenClient())
        {
            // The pass this makes due starts in the background, and closing stops it within one step.
            await PutAndRemoveAsync(client, 6, keep, ct);
        }

        await using (var reopened = OpenClient())
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (StoreDiskUsage.AllocatedBytes(_dir.Path) > Bound(keep) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, ct);
            }

            AssertShrunk(keep);
            Assert.Equal(keep, await reopened.GetAsync("keep", ct));
            Assert.Equal(0, StoreOf(reopened).GarbageEstimate);
        }
    }

    [Fact]
    public async Task PutsAndGets_GoOnWhileAPassRuns_AndEverythingBoundStaysWhole()
    {
        var ct = TestContext.Current.CancellationToken;
        var keep = TestData.Random(32 << 20, 10);
        await using var node = OpenQuietly();
        await PutAndRemoveAsync(node, 8, keep, ct);

        var pass = node.Store.CollectGarbageAsync(null, ct);
        int during = 0;
        for (int i = 0; i < 200 && !pass.IsCompleted; i++)
        {
            var small = TestData.Random(1 << 20, 100 + i);
            await node.PutAsync($"small/{i}", small, ChunkLayout.DefaultChunkSize, null, ct);
            Assert.Equal(small, await node.GetAsync($"small/{i}", ct));
            Assert.Equal(keep, await node.GetAsync("keep", ct));
            if (!pass.IsCompleted)
            {
                during++;
            }
        }

        var summary = await pass;
        Assert.True(summary.Compacted);
        Assert.True(during >= 2, $"only {during} Put and Get rounds completed while the pass ran");
        for (int i = 0; i < during; i++)
        {
            Assert.Equal(TestData.Random(1 << 20, 100 + i), await node.GetAsync($"small/{i}", ct));
        }
    }

    [Fact]
    public async Task AnObjectPutAgainWhileAPassDropsItsOldCopy_StaysWholeAfterReopening()
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(Object, 11);
        int rounds = 0;
        await using (var node = OpenQuietly())
        {
            // Several unreachable copies of the same content under one name, then a pass: while it
            // runs, the same content is put again, and its chunks are found (deduplicated) in the
            // region the pass is dropping.
            // Filler enough that the garbage is well above the two pages a pass needs even when a
            // Put binds the object again before the pass reads the catalog (and the tail's page is
            // left for a later pass).
            await node.PutAsync("filler", TestData.Random(2 * Object, 12), ChunkLayout.DefaultChunkSize, null, ct);
            await node.PutAsync("object", data, ChunkLayout.DefaultChunkSize, null, ct);
            Assert.True(await node.DeleteAsync("object", ct));
            Assert.True(await node.DeleteAsync("filler", ct));
            var pass = node.Store.CollectGarbageAsync(null, ct);
            for (; rounds < 50 && !pass.IsCompleted; rounds++)
            {
                await node.PutAsync($"again/{rounds}", data, ChunkLayout.DefaultChunkSize, null, ct);
            }

            Assert.True((await pass).Compacted);
            Assert.True(rounds >= 1, "no Put ran while the pass did");
            await node.PutAsync("after", data, ChunkLayout.DefaultChunkSize, null, ct);
        }

        await using var reopened = OpenClient();
        for (int i = 0; i < rounds; i++)
        {
            Assert.Equal(data, await reopened.GetAsync($"again/{i}", ct));
        }

        Assert.Equal(data, await reopened.GetAsync("after", ct));
    }

    /// <summary>Puts <paramref name="objects"/> unique objects of 64 MiB and <paramref name="keep"/>, then removes all but <paramref name="keep"/>.</summary>
    private Task PutAndRemoveAsync(OmniStoreClient client, int objects, byte[] keep, CancellationToken ct) =>
        PutAndRemoveAsync((EmbeddedNode)client.Service, objects, keep, ct);

    private async Task PutAndRemoveAsync(EmbeddedNode client, int objects, byte[] keep, CancellationToken ct)
    {
        var buffer = TestData.Random(Object, 1);
        for (int i = 0; i < objects; i++)
        {
            Stamp(buffer, i);
            await client.PutAsync($"big/{i}", buffer, ChunkLayout.DefaultChunkSize, null, ct);
        }

        await client.PutAsync("keep", keep, ChunkLayout.DefaultChunkSize, null, ct);
        long full = StoreDiskUsage.AllocatedBytes(_dir.Path);
        Assert.True(full >= (long)objects * Object, $"the store holds {full} bytes after {objects} objects of {Object} bytes were put");
        for (int i = 0; i < objects; i++)
        {
            Assert.True(await client.DeleteAsync($"big/{i}", ct));
        }
    }

    /// <summary>
    /// Live data (the kept object) plus 10%, and the fixed part that a pass cannot release: the log
    /// page holding the begin address, the partly written tail page and the space reserved ahead of
    /// it (four 32 MiB pages at most), and the catalog and the hash index checkpoints (16 MiB).
    /// </summary>
    private static long Bound(byte[] keep) => (long)(keep.Length * 1.1) + (4L << 25) + (16L << 20);

    private void AssertShrunk(byte[] keep)
    {
        long allocated = StoreDiskUsage.AllocatedBytes(_dir.Path);
        var files = Directory.EnumerateFiles(_dir.Path, "*", SearchOption.AllDirectories)
            .Select(f => $"{Path.GetRelativePath(_dir.Path, f)}={StoreDiskUsage.AllocatedBytesOf(f)}");
        Assert.True(allocated <= Bound(keep), $"the store holds {allocated} bytes on disk; its live data and fixed pages allow {Bound(keep)}: {string.Join(", ", files)}");
    }

    [Fact]
    public async Task NewStoreHoldingThreeBytes_TakesAFewMegabytesOnDisk()
    {
        var ct = TestContext.Current.CancellationToken;
        await using (var client = OpenClient())
        {
            await client.PutAsync("tiny", new byte[] { 1, 2, 3 }, ct);
        }

        var files = Directory.EnumerateFiles(_dir.Path, "*", SearchOption.AllDirectories)
            .Select(f => $"{Path.GetRelativePath(_dir.Path, f)}={StoreDiskUsage.AllocatedBytesOf(f)}");
        long allocated = StoreDiskUsage.AllocatedBytes(_dir.Path);
        Assert.True(allocated <= 8L << 20, $"a store holding 3 bytes takes {allocated} bytes on disk: {string.Join(", ", files)}");
    }
}
