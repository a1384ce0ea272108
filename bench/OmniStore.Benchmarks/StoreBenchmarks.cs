using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;

using OmniStore.Benchmarks.Infrastructure;

namespace OmniStore.Benchmarks;

/// <summary>
/// Embedded Put and Get of one 1 GiB object, each against the plain file I/O that is its floor,
/// in the same run: writing the bytes to a file and fsyncing it (Put), and reading a file of the
/// same size (Get). Ratio reads OmniStore time / file time. Every Put iteration writes into a fresh
/// store so that dedup never turns it into a no-op.
/// </summary>
[MemoryDiagnoser]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
[ProcessedBytes(ObjectSize)]
[Config(typeof(ThroughputConfig))]
public class StoreBenchmarks
{
    public const long ObjectSize = 1L << 30;
    private const int BlockSize = 1 << 20;

    private byte[] _data = [];
    private string _root = string.Empty;
    private string _iterationDirectory = string.Empty;
    private OmniStoreClient? _client;
    private OmniStoreClient? _readClient;

    [GlobalSetup]
    public void Setup()
    {
        _data = GC.AllocateUninitializedArray<byte>((int)ObjectSize);
        new Random(7).NextBytes(_data);
        _root = Path.Combine(Path.GetTempPath(), $"omnistore-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_root);

        _readClient = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = Path.Combine(_root, "read-store") });
        _readClient.PutAsync("object", _data).AsTask().GetAwaiter().GetResult();
        using var file = new FileStream(Path.Combine(_root, "read-file"), FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        file.Write(_data);
        file.Flush(flushToDisk: true);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _readClient?.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [IterationSetup(Targets = [nameof(FilePut), nameof(EmbeddedPut)])]
    public void NewIterationDirectory()
    {
        _iterationDirectory = Path.Combine(_root, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_iterationDirectory);
        _client = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = Path.Combine(_iterationDirectory, "store") });
    }

    [IterationCleanup(Targets = [nameof(FilePut), nameof(EmbeddedPut)])]
    public void DeleteIterationDirectory()
    {
        _client?.Dispose();
        _client = null;
        Directory.Delete(_iterationDirectory, recursive: true);
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Put 1 GiB")]
    public void FilePut()
    {
        using var file = new FileStream(Path.Combine(_iterationDirectory, "file"), FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        for (int offset = 0; offset < _data.Length; offset += BlockSize)
        {
            file.Write(_data, offset, BlockSize);
        }

        file.Flush(flushToDisk: true);
    }

    [Benchmark]
    [BenchmarkCategory("Put 1 GiB")]
    public Task EmbeddedPut() => _client!.PutAsync("object", _data).AsTask();

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Get 1 GiB")]
    public void FileGet()
    {
        using var file = new FileStream(Path.Combine(_root, "read-file"), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        file.CopyTo(Stream.Null, BlockSize);
    }

    [Benchmark]
    [BenchmarkCategory("Get 1 GiB")]
    public Task<long> EmbeddedGet() => _readClient!.GetAsync("object", Stream.Null).AsTask();
}
