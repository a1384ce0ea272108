using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.RegularExpressions;
using OmniStore.Cli.Tests.Infrastructure;
using OmniStore.Node;
using OmniStore.Storage;
using OmniStore.Storage.Internal;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore gc</c> gives back the disk space of removed objects in an embedded store, says how
/// much, and a gc killed with SIGKILL at any moment leaves every bound object whole.
/// </summary>
public sealed partial class GcTests : IDisposable
{
    private const int Object = 64 << 20;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Store => _dir.Sub("store");

    /// <summary>The store opened in this process with no background pass, so only the command under test reclaims.</summary>
    private EmbeddedNode OpenQuietly() =>
        new(ContentStore.Open(new ContentStoreOptions { Directory = Store, ReclaimFraction = 0 }));

    /// <summary>Bytes of <paramref name="length"/> unique to <paramref name="seed"/> in every 1 MiB chunk.</summary>
    private static byte[] Unique(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data.AsSpan(0, Math.Min(length, 1 << 20)));
        for (int offset = 0; offset < length; offset += 1 << 20)
        {
            data.AsSpan(0, Math.Min(1 << 20, length - offset)).CopyTo(data.AsSpan(offset));
            BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(offset), ((long)seed << 32) | (uint)(offset >> 20));
        }

        return data;
    }

    [Fact]
    public async Task Gc_OfAStoreWithRemovedObjects_FreesTheirSpace_AndPrintsBeforeAfterAndFreed()
    {
        var ct = TestContext.Current.CancellationToken;
        var keep = Unique(16 << 20, 1);
        await using (var node = OpenQuietly())
        {
            await node.PutAsync("keep", keep, 1 << 20, null, ct);
            for (int i = 0; i < 4; i++)
            {
                await node.PutAsync($"gone/{i}", Unique(Object, 10 + i), 1 << 20, null, ct);
                Assert.True(await node.DeleteAsync($"gone/{i}", ct));
            }
        }

        long before = StoreDiskUsage.AllocatedBytes(Store);
        var gc = await CliRunner.RunAsync(Store, "gc", "--store", Store, "--quiet");

        Assert.True(gc.ExitCode == 0, gc.ToString());
        Assert.Empty(gc.StandardError);
        var summary = SummaryLine().Match(gc.Output);
        Assert.True(summary.Success, gc.Output);
        long after = StoreDiskUsage.AllocatedBytes(Store);
        Assert.True(before - after >= 3L * Object, $"gc freed {before - after} bytes of {before}: {gc.Output}");

        var get = await CliRunner.RunAsync(Store, "get", "keep", "--store", Store);
        Assert.Equal(keep, get.StandardOutput);
    }

    [Fact]
    public async Task Gc_KilledWithSigkillAtRandomMoments_LeavesEveryBoundObjectWhole()
    {
        var ct = TestContext.Current.CancellationToken;
        var random = new Random(2027);
        var bound = new Dictionary<string, byte[]>();
        var watch = Stopwatch.StartNew();
        int round = 0, killed = 0;
        for (; round < 6 && watch.Elapsed < TimeSpan.FromSeconds(90); round++)
        {
            // Each round binds one more object and leaves two unreachable: the gc has work to do.
            await using (var node = OpenQuietly())
            {
                var data = Unique(8 << 20, 100 + round);
                await node.PutAsync($"keep/{round}", data, 1 << 20, null, ct);
                bound[$"keep/{round}"] = data;
                for (int i = 0; i < 2; i++)
                {
                    await node.PutAsync($"gone/{round}/{i}", Unique(Object, (1000 * round) + i), 1 << 20, null, ct);
                    Assert.True(await node.DeleteAsync($"gone/{round}/{i}", ct));
                }
            }

            using (var child = Process.Start(CliRunner.StartInfo(["gc", "--store", Store, "--quiet"], Store))!)
            {
                var drain = Task.WhenAll(child.StandardOutput.ReadToEndAsync(ct), child.StandardError.ReadToEndAsync(ct));
                await Task.WhenAny(child.WaitForExitAsync(ct), Task.Delay(random.Next(50, 2500), ct));
                if (!child.HasExited)
                {
                    child.Kill(); // SIGKILL
                    killed++;
                }

                await child.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
                await drain.WaitAsync(TimeSpan.FromSeconds(30), ct);
            }

            await using (var node = OpenQuietly())
            {
                foreach (var (name, data) in bound)
                {
                    var read = await node.GetAsync(name, ct);
                    Assert.True(data.AsSpan().SequenceEqual(read), $"round {round}: '{name}' came back different after gc was killed");
                }

                Assert.Equal(0, node.Store.VerifyAllChunks().Dropped);
            }
        }

        Assert.True(round >= 3, $"only {round} rounds ran");
        Assert.True(killed >= 2, $"gc was killed in only {killed} of {round} rounds: the others had finished");

        // Run to the end, a last one reclaims what the killed ones left.
        var gc = await CliRunner.RunAsync(Store, "gc", "--store", Store, "--quiet");
        Assert.True(gc.ExitCode == 0, gc.ToString());
        await using var final = OpenQuietly();
        foreach (var (name, data) in bound)
        {
            var read = await final.GetAsync(name, ct);
            Assert.True(data.AsSpan().SequenceEqual(read), $"'{name}' came back different");
        }

        long live = bound.Values.Sum(d => (long)d.Length);
        long allocated = StoreDiskUsage.AllocatedBytes(Store);
        Assert.True(allocated <= live + (160L << 20), $"the store holds {allocated} bytes on disk for {live} bytes of bound objects; the last gc said: {gc.Output.Trim()}; files: {Listing()}");
    }

    private string Listing() => string.Join(", ", Directory.EnumerateFiles(Store, "*", SearchOption.AllDirectories)
        .Select(f => $"{Path.GetRelativePath(Store, f)} {StoreDiskUsage.AllocatedBytesOf(f)}/{new FileInfo(f).Length}"));

    [Fact]
    public async Task Help_ListsGc_AndRmSaysWhenTheSpaceComesBack()
    {
        var help = await CliRunner.RunAsync(Store, "--help");
        Assert.Contains("  gc ", help.Output, StringComparison.Ordinal);

        var rm = await CliRunner.RunAsync(Store, "rm", "--help");
        Assert.Contains("omnistore gc", rm.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("reclaimed later", rm.Output, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^'.+': \d[^ ]* \S+ on disk before, \d[^ ]* \S+ after, \d[^ ]* \S+ freed \(.+ of chunks bound to names\)\n$")]
    private static partial Regex SummaryLine();
}
