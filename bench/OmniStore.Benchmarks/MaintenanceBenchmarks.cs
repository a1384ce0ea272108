using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;

using OmniStore.Benchmarks.Infrastructure;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Storage;

namespace OmniStore.Benchmarks;

/// <summary>
/// What a store's background work costs the Puts and Gets that run meanwhile, each against the same
/// operation on the same kind of store with that work not running, in the same run (Ratio reads
/// time while it runs / time without):
/// <list type="bullet">
/// <item>Reclamation: a pass over a store holding <see cref="Garbage"/> of removed objects between
/// live ones is started right before the operation and still runs when it ends (the class prints
/// how many iterations it overlapped); the baseline has the same garbage and no pass.</item>
/// <item>Background checkpoints: a relay-like cache store with a relay's default checkpoints (every
/// 256 MiB written, every 30 s), against one with background checkpoints off; for the Get, a writer
/// fills the cache meanwhile in both, so only the checkpoints differ (the class prints how many
/// checkpoints the Gets overlapped).</item>
/// </list>
/// Every Put writes into a fresh store, so dedup never turns it into a no-op.
/// </summary>
[MemoryDiagnoser]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 8)]
[ProcessedBytes(ObjectSize)]
[Config(typeof(ThroughputConfig))]
public class MaintenanceBenchmarks
{
    public const long ObjectSize = 256L << 20;
    private const long Garbage = 2L << 30;
    private const int ChunkSize = 1 << 20;

    private byte[] _data = [];
    private byte[] _garbage = [];
    private string _root = string.Empty;
    private string _directory = string.Empty;
    private EmbeddedNode? _node;
    private Task _pass = Task.CompletedTask;
    private CancellationTokenSource? _writerStop;
    private Task _writer = Task.CompletedTask;
    private int _iterations;
    private int _overlapped;
    private long _checkpointsBefore;
    private long _checkpointsDuringGets;

    [GlobalSetup]
    public void Setup()
    {
        _data = GC.AllocateUninitializedArray<byte>((int)ObjectSize);
        new Random(7).NextBytes(_data);
        _garbage = GC.AllocateUninitializedArray<byte>(64 << 20);
        _root = Path.Combine(Path.GetTempPath(), $"omnistore-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_root);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_iterations > 0)
        {
            Console.WriteLine($"// reclamation overlapped the whole operation in {_overlapped} of {_iterations} iterations");
        }

        if (_checkpointsDuringGets > 0)
        {
            Console.WriteLine($"// background checkpoints during the Gets: {_checkpointsDuringGets}");
        }

        Directory.Delete(_root, recursive: true);
    }

    // ---- reclamation ----

    [IterationSetup(Targets = [nameof(PutQuiet), nameof(GetQuiet)])]
    public void StoreWithGarbage() => OpenWithGarbage();

    [IterationSetup(Targets = [nameof(PutWhileReclaiming), nameof(GetWhileReclaiming)])]
    public void StoreWithGarbageAndAPass()
    {
        OpenWithGarbage();
        var store = _node!.Store;
        _pass = Task.Run(() => store.CollectGarbageAsync());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (store.PassProgress.Total == 0 && !_pass.IsCompleted && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(1); // the pass has read the catalog and compacts now
        }
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Put 256 MiB, reclamation")]
    public Task PutQuiet() => _node!.PutAsync("object", _data, ChunkSize, null, CancellationToken.None).AsTask();

    [Benchmark]
    [BenchmarkCategory("Put 256 MiB, reclamation")]
    public async Task PutWhileReclaiming()
    {
        await _node!.PutAsync("object", _data, ChunkSize, null, CancellationToken.None);
        NoteOverlap();
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Get 256 MiB, reclamation")]
    public Task<long> GetQuiet() => _node!.GetAsync("live", Stream.Null, CancellationToken.None).AsTask();

    [Benchmark]
    [BenchmarkCategory("Get 256 MiB, reclamation")]
    public async Task<long> GetWhileReclaiming()
    {
        long read = await _node!.GetAsync("live", Stream.Null, CancellationToken.None);
        NoteOverlap();
        return read;
    }

    [IterationCleanup(Targets = [nameof(PutQuiet), nameof(GetQuiet), nameof(PutWhileReclaiming), nameof(GetWhileReclaiming)])]
    public void CloseStore()
    {
        _pass.GetAwaiter().GetResult();
        _pass = Task.CompletedTask;
        _node!.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _node = null;
        Directory.Delete(_directory, recursive: true);
    }

    // ---- background checkpoints ----

    [IterationSetup(Targets = [nameof(CachePutNoCheckpoints)])]
    public void CacheWithoutCheckpoints() => OpenCache(checkpoints: false, writer: false);

    [IterationSetup(Targets = [nameof(CachePutCheckpointing)])]
    public void CacheWithCheckpoints() => OpenCache(checkpoints: true, writer: false);

    [IterationSetup(Targets = [nameof(CacheGetNoCheckpoints)])]
    public void CacheFillingWithoutCheckpoints() => OpenCache(checkpoints: false, writer: true);

    [IterationSetup(Targets = [nameof(CacheGetCheckpointing)])]
    public void CacheFillingWithCheckpoints() => OpenCache(checkpoints: true, writer: true);

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Put 256 MiB, cache checkpoints")]
    public Task CachePutNoCheckpoints() => _node!.PutAsync("object", _data, ChunkSize, null, CancellationToken.None).AsTask();

    [Benchmark]
    [BenchmarkCategory("Put 256 MiB, cache checkpoints")]
    public Task CachePutCheckpointing() => _node!.PutAsync("object", _data, ChunkSize, null, CancellationToken.None).AsTask();

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Get 256 MiB, cache checkpoints")]
    public Task<long> CacheGetNoCheckpoints() => _node!.GetAsync("live", Stream.Null, CancellationToken.None).AsTask();

    [Benchmark]
    [BenchmarkCategory("Get 256 MiB, cache checkpoints")]
    public async Task<long> CacheGetCheckpointing()
    {
        long read = await _node!.GetAsync("live", Stream.Null, CancellationToken.None);
        _checkpointsDuringGets += _node.Store.BackgroundCheckpoints - _checkpointsBefore;
        return read;
    }

    [IterationCleanup(Targets = [nameof(CachePutNoCheckpoints), nameof(CachePutCheckpointing), nameof(CacheGetNoCheckpoints), nameof(CacheGetCheckpointing)])]
    public void CloseCache()
    {
        _writerStop?.Cancel();
        _writer.GetAwaiter().GetResult();
        _writerStop?.Dispose();
        _writerStop = null;
        _writer = Task.CompletedTask;
        CloseStore();
    }

    private void NoteOverlap()
    {
        _iterations++;
        _overlapped += _pass.IsCompleted ? 0 : 1;
    }

    /// <summary>
    /// A fresh pinned store with no background pass: <see cref="Garbage"/> of removed objects
    /// interleaved with small live ones (so a pass both drops and copies), then the object "live"
    /// (for Gets), all committed.
    /// </summary>
    private void OpenWithGarbage()
    {
        _directory = Path.Combine(_root, Guid.NewGuid().ToString("N"));
        _node = new EmbeddedNode(ContentStore.Open(new ContentStoreOptions { Directory = _directory, ReclaimFraction = 0 }));
        var random = new Random(11);
        for (int i = 0; i < Garbage / _garbage.Length; i++)
        {
            random.NextBytes(_garbage);
            _node.PutAsync($"gone/{i}", _garbage, ChunkSize, null, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            _node.PutAsync($"small/{i}", _garbage.AsMemory(0, 4 << 20), ChunkSize, null, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            _node.DeleteAsync($"gone/{i}", CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }

        // Last in the log, so that a pass reaches it last (it would copy it into memory), and out of
        // memory in both cases: a Get reads it from the log file.
        var live = (byte[])_data.Clone();
        live[0] ^= 0xFF; // not the Put's object: a Put into this store must write every chunk
        for (int offset = 0; offset < live.Length; offset += ChunkSize)
        {
            live[offset] ^= 0x5A;
        }

        _node.PutAsync("live", live, ChunkSize, null, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        _node.Store.EvictChunkLogFromMemory();
    }

    /// <summary>
    /// A fresh cache store holding "live", with a relay's default background checkpoints or none,
    /// and, with <paramref name="writer"/>, a task that keeps writing new chunks into it (as a relay
    /// filling from its parent) until the iteration ends.
    /// </summary>
    private void OpenCache(bool checkpoints, bool writer)
    {
        _directory = Path.Combine(_root, Guid.NewGuid().ToString("N"));
        _node = new EmbeddedNode(ContentStore.Open(new ContentStoreOptions
        {
            Directory = _directory,
            Mode = StoreMode.Cache,
            Capacity = 8L << 30,
            CheckpointInterval = checkpoints ? ContentStoreOptions.DefaultCheckpointInterval : TimeSpan.Zero,
            CheckpointBytes = checkpoints ? ContentStoreOptions.DefaultCheckpointBytes : 0,
        }));
        var live = (byte[])_data.Clone();
        live[0] ^= 0xFF;
        _node.PutAsync("live", live, ChunkSize, null, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        _node.Store.CommitAsync(CancellationToken.None).GetAwaiter().GetResult();
        if (writer)
        {
            var stop = _writerStop = new CancellationTokenSource();
            var node = _node;
            _writer = Task.Run(async () =>
            {
                var chunk = new byte[ChunkSize];
                var random = new Random(13);
                for (int i = 0; i < 4096 && !stop.IsCancellationRequested; i++)
                {
                    // As a relay caches chunks from its parent: written, never committed by the
                    // writer, so only background checkpoints make them durable.
                    random.NextBytes(chunk.AsSpan(0, 64));
                    node.Store.WriteChunk(ChunkId.Compute(chunk), chunk);
                    await Task.Yield();
                }
            });
        }

        _checkpointsBefore = _node.Store.BackgroundCheckpoints;
    }
}
