using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace OmniStore.Benchmarks;

/// <summary>
/// Put and Get of one large object through <see cref="OmniStoreClient"/>, timed: the C# side of
/// <c>bench/scripts/native-vs-managed.sh</c>, step for step the same as the C side,
/// <c>native/bench/omst_bench.c</c> (same data, same warm-up, same buffers, same calls).
/// </summary>
/// <remarks>
/// Not a BenchmarkDotNet benchmark: the C program cannot run under BenchmarkDotNet, so both sides
/// are plain processes timed with a monotonic clock around the one call, and the script runs them
/// alternately, several times, in one run.
/// </remarks>
public static class ApiPutGet
{
    /// <summary>The command that selects this mode: <c>api-put-get URI [SIZE [WARMUP [ITERATIONS]]]</c>.</summary>
    public const string Command = "api-put-get";

    public static int Run(string[] args)
    {
        if (args.Length < 1)
        {
            Console.Error.WriteLine($"usage: {Command} URI [SIZE [WARMUP [ITERATIONS]]]");
            return 2;
        }

        int size = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1 << 30;
        int warmup = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 64 << 20;
        int iterations = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1;
        size &= ~7;
        warmup = Math.Min(warmup & ~7, size);

        using var client = Open(args[0]);
        var source = GC.AllocateUninitializedArray<byte>(size);
        var destination = GC.AllocateUninitializedArray<byte>(size);
        destination.AsSpan().Fill(0xA5);

        Fill(source.AsSpan(0, warmup), 1);
        client.Put("bench/warmup", source.AsSpan(0, warmup));
        if (client.Get("bench/warmup", destination) != warmup)
        {
            throw new InvalidOperationException("The warm-up object read back has the wrong length.");
        }

        for (int iteration = 1; iteration <= iterations; iteration++)
        {
            string name = string.Create(CultureInfo.InvariantCulture, $"bench/object-{iteration}");
            Fill(source, (ulong)iteration + 2);
            long start = Stopwatch.GetTimestamp();
            client.Put(name, source);
            var put = Stopwatch.GetElapsedTime(start);
            start = Stopwatch.GetTimestamp();
            int got = client.Get(name, destination);
            var get = Stopwatch.GetElapsedTime(start);
            if (got != size || !source.AsSpan().SequenceEqual(destination))
            {
                throw new InvalidOperationException("The object read back differs.");
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"api=csharp size={size} iteration={iteration} put_s={put.TotalSeconds:F6} get_s={get.TotalSeconds:F6}"));
        }

        return 0;
    }

    /// <summary>The store <c>omst_init</c> would open for the same URI (file:///DIR or tcp://HOST:PORT).</summary>
    private static OmniStoreClient Open(string uri) =>
        uri.StartsWith("file://", StringComparison.Ordinal)
            ? OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = new Uri(uri).LocalPath })
            : OmniStoreClient.ConnectAsync(uri).GetAwaiter().GetResult();

    /// <summary>xorshift64 from the same seed as omst_bench.c's <c>fill</c>: the same bytes on both sides.</summary>
    private static void Fill(Span<byte> buffer, ulong seed)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(buffer);
        ulong x = unchecked(seed * 0x9E3779B97F4A7C15UL);
        for (int i = 0; i < words.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            words[i] = x;
        }
    }
}
