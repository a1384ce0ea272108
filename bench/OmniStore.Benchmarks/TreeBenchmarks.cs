using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using OmniStore.Benchmarks.Infrastructure;
using OmniStore.Node;
using OmniStore.Transport;

namespace OmniStore.Benchmarks;

/// <summary>
/// One worker's Get of a 1 GiB object on loopback: (a) a hit at its relay, (b) a miss that the
/// relay fetches from the root, against a plain one-socket TCP copy of the same bytes (the
/// baseline, in the same run). Root, relay and worker share this process and its two cores.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
[ProcessedBytes(ObjectSize)]
[Config(typeof(ThroughputConfig))]
public class TreeBenchmarks
{
    public const long ObjectSize = 1L << 30;
    private const int BlockSize = 1 << 20;

    /// <summary>What a cold relay serves before the measured miss, so it runs like a daemon that has been up a while.</summary>
    private const int WarmUpSize = 256 << 20;

    private readonly byte[] _relaySecret = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
    private byte[] _data = [];
    private string _root = string.Empty;
    private TreeNode? _rootNode;
    private TreeNode? _warmRelay;
    private TreeNode? _coldRelay;
    private OmniStoreClient? _warmWorker;
    private OmniStoreClient? _coldWorker;
    private TcpListener? _plainListener;

    [GlobalSetup]
    public void Setup()
    {
        _data = GC.AllocateUninitializedArray<byte>((int)ObjectSize);
        new Random(3).NextBytes(_data);
        _root = Path.Combine(Path.GetTempPath(), $"omnistore-tree-bench-{Guid.NewGuid():N}");
        _rootNode = StartNode("root", parent: null);
        using (var master = OmniStoreClient.ConnectAsync(_rootNode.Address.ToString()).GetAwaiter().GetResult())
        {
            master.PutAsync("object", _data).AsTask().GetAwaiter().GetResult();
            var warmUp = _data.AsSpan(0, WarmUpSize).ToArray();
            Array.Reverse(warmUp); // other chunks than the object's
            master.PutAsync("warm-up", warmUp).AsTask().GetAwaiter().GetResult();
        }

        _warmRelay = StartNode("warm", _rootNode.Address);
        _warmWorker = OmniStoreClient.ConnectAsync(_warmRelay.Address.ToString()).GetAwaiter().GetResult();
        _warmWorker.PrefetchAsync("object").GetAwaiter().GetResult();

        _plainListener = new TcpListener(IPAddress.Loopback, 0);
        _plainListener.Start();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _warmWorker?.Dispose();
        _warmRelay?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _rootNode?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _plainListener?.Stop();
        Directory.Delete(_root, recursive: true);
    }

    /// <summary>
    /// Every miss iteration gets a new relay whose cache lacks the object. It first serves another
    /// object (256 MiB), so its log pages and buffer pools are in use, as in a running relay daemon,
    /// and the measurement is of the miss path, not of a process touching its memory for the first time.
    /// </summary>
    [IterationSetup(Target = nameof(GetMissThroughRelay))]
    public void StartColdRelay()
    {
        _coldRelay = StartNode($"cold-{Guid.NewGuid():N}", _rootNode!.Address);
        _coldWorker = OmniStoreClient.ConnectAsync(_coldRelay.Address.ToString()).GetAwaiter().GetResult();
        _coldWorker.GetAsync("warm-up", Stream.Null).AsTask().GetAwaiter().GetResult();
    }

    [IterationCleanup(Target = nameof(GetMissThroughRelay))]
    public void StopColdRelay()
    {
        _coldWorker?.Dispose();
        _coldRelay?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true)]
    public async Task PlainTcpCopy()
    {
        var sender = Task.Run(async () =>
        {
            using var peer = await _plainListener!.AcceptTcpClientAsync();
            await using var stream = peer.GetStream();
            for (int offset = 0; offset < _data.Length; offset += BlockSize)
            {
                await stream.WriteAsync(_data.AsMemory(offset, BlockSize));
            }
        });
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)_plainListener!.LocalEndpoint).Port);
        await client.GetStream().CopyToAsync(Stream.Null, BlockSize);
        await sender;
    }

    [Benchmark]
    public Task<long> GetHitAtRelay() => _warmWorker!.GetAsync("object", Stream.Null).AsTask();

    [Benchmark]
    public Task<long> GetMissThroughRelay() => _coldWorker!.GetAsync("object", Stream.Null).AsTask();

    private TreeNode StartNode(string site, NodeAddress? parent) =>
        TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [new NodeAddress("tcp", "127.0.0.1", 0)],
            Parent = parent,
            Site = site,
            DataDirectory = Path.Combine(_root, site),
            CacheSize = parent is null ? 0 : 4L << 30,
            RelaySecret = _relaySecret,
        }).GetAwaiter().GetResult();
}
