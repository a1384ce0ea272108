using System.Diagnostics;

namespace OmniStore.Benchmarks;

/// <summary>
/// The tree benchmark's operations in a plain loop, for a profiler to attach to (BenchmarkDotNet's
/// child processes are awkward to profile): <c>tree-loop hit|miss|plain COUNT</c>. Prints each
/// operation's time and throughput.
/// </summary>
internal static class TreeLoop
{
    public const string Command = "tree-loop";

    public static int Run(string[] args)
    {
        if (args.Length != 2 || args[0] is not ("hit" or "miss" or "plain") || !int.TryParse(args[1], out int count) || count < 1)
        {
            Console.Error.WriteLine($"usage: {Command} hit|miss|plain COUNT");
            return 2;
        }

        var benchmark = new TreeBenchmarks();
        benchmark.Setup();
        try
        {
            for (int i = 0; i < count; i++)
            {
                if (args[0] == "miss")
                {
                    benchmark.StartColdRelay();
                }

                double started = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
                var watch = Stopwatch.StartNew();
                switch (args[0])
                {
                    case "hit":
                        benchmark.GetHitAtRelay().GetAwaiter().GetResult();
                        break;
                    case "miss":
                        benchmark.GetMissThroughRelay().GetAwaiter().GetResult();
                        break;
                    default:
                        benchmark.PlainTcpCopy().GetAwaiter().GetResult();
                        break;
                }

                watch.Stop();
                Console.WriteLine($"{args[0]} {i + 1}: {watch.Elapsed.TotalMilliseconds:F1} ms, {TreeBenchmarks.ObjectSize / watch.Elapsed.TotalSeconds / 1e9:F2} GB/s (from {started:F3})");
                if (args[0] == "miss")
                {
                    benchmark.StopColdRelay();
                }
            }
        }
        finally
        {
            benchmark.Cleanup();
        }

        return 0;
    }
}
