using System.Globalization;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using OmniStore.Benchmarks.Infrastructure;
using OmniStore.Content;

namespace OmniStore.Benchmarks;

/// <summary>
/// Managed XXH3 against the reference libxxhash.so.0. Within each category (XXH3-64, XXH3-128) the
/// native plain entry point is the baseline, so Ratio reads managed / native time (below 1 = faster).
/// Managed64/Managed128 run the kernel the library picks for this CPU; the ManagedVector256 rows
/// pin the AVX2 kernel; ManagedHasher128 is the streaming API. The native "_dispatch" rows (AVX2/AVX-512 chosen at run time) are context.
/// </summary>
[MemoryDiagnoser]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[Config(typeof(ThroughputConfig))]
public unsafe class HashBenchmarks
{
    private byte[] _data = [];
    private GCHandle _pin;
    private byte* _pointer;
    private readonly XxHash3Hasher _hasher = new();

    [Params(64, 4096, 1 << 20)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(42).NextBytes(_data);

        // Pinned once so the native rows measure the hash, not pinning.
        _pin = GCHandle.Alloc(_data, GCHandleType.Pinned);
        _pointer = (byte*)_pin.AddrOfPinnedObject();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_pin.IsAllocated)
        {
            _pin.Free();
        }
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("XXH3-64")]
    public ulong Native64() => NativeXxHash.XXH3_64bits_withSeed(_pointer, (nuint)Size, 0);

    [Benchmark]
    [BenchmarkCategory("XXH3-64")]
    public ulong Managed64() => XxHash3.Hash64(_data);

    [Benchmark]
    [BenchmarkCategory("XXH3-64")]
    public ulong ManagedVector256_64() => XxHash3.Hash64(_data, 0, XxHash3Path.Vector256);

    [Benchmark]
    [BenchmarkCategory("XXH3-64")]
    public ulong NativeDispatch64() => NativeXxHash.XXH3_64bits_withSeed_dispatch(_pointer, (nuint)Size, 0);

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("XXH3-128")]
    public UInt128 Native128() => NativeXxHash.XXH3_128bits_withSeed(_pointer, (nuint)Size, 0).ToUInt128();

    [Benchmark]
    [BenchmarkCategory("XXH3-128")]
    public UInt128 Managed128() => XxHash3.Hash128(_data);

    [Benchmark]
    [BenchmarkCategory("XXH3-128")]
    public UInt128 ManagedVector256_128() => XxHash3.Hash128(_data, 0, XxHash3Path.Vector256);

    [Benchmark]
    [BenchmarkCategory("XXH3-128")]
    public UInt128 ManagedHasher128()
    {
        // Streaming API in 4 KiB appends: the cost of buffering and per-call dispatch.
        _hasher.Reset();
        ReadOnlySpan<byte> remaining = _data;
        while (remaining.Length > 4096)
        {
            _hasher.Append(remaining[..4096]);
            remaining = remaining[4096..];
        }

        _hasher.Append(remaining);
        return _hasher.GetCurrentHash128();
    }

    [Benchmark]
    [BenchmarkCategory("XXH3-128")]
    public UInt128 NativeDispatch128() => NativeXxHash.XXH3_128bits_withSeed_dispatch(_pointer, (nuint)Size, 0).ToUInt128();
}
