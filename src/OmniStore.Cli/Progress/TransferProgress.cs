using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace OmniStore.Cli.Progress;

/// <summary>
/// Shows how a Put or Get advances, on stderr: a Spectre.Console bar on an interactive terminal, a
/// plain line every <see cref="LineInterval"/> otherwise (none at all for a transfer that ends
/// sooner, so scripts that move small objects see clean stderr), nothing with <c>--quiet</c>.
/// </summary>
internal static class TransferProgress
{
    public static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan BarInterval = TimeSpan.FromMilliseconds(100);

    public static ProgressStyle Choose(bool quiet) =>
        quiet ? ProgressStyle.None : Terminal.IsStandardErrorInteractive ? ProgressStyle.Bar : ProgressStyle.Lines;

    /// <summary>
    /// Runs <paramref name="work"/> while showing <paramref name="transferred"/> (polled) against
    /// <paramref name="total"/> (null when unknown). Failures of the work propagate unchanged.
    /// </summary>
    public static Task<T> TrackAsync<T>(ProgressStyle style, string label, long? total, Func<long> transferred, Func<Task<T>> work) => style switch
    {
        ProgressStyle.Bar => BarAsync(label, total, transferred, work),
        ProgressStyle.Lines => LinesAsync(label, total, transferred, work),
        _ => work(),
    };

    private static Task<T> BarAsync<T>(string label, long? total, Func<long> transferred, Func<Task<T>> work) =>
        Terminal.StandardError().Progress()
            .AutoClear(false)
            .Columns(
                new TaskDescriptionColumn(),
                new ProgressBarColumn(),
                new PercentageColumn(),
                new DownloadedColumn(),
                new TransferSpeedColumn(),
                new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(label), maxValue: Math.Max(1, total ?? 1));
                task.IsIndeterminate = total is null;
                var running = work();
                while (!running.IsCompleted)
                {
                    Update(task, transferred(), total);
                    await Task.WhenAny(running, Task.Delay(BarInterval));
                }

                Update(task, transferred(), total);
                if (running.IsCompletedSuccessfully)
                {
                    task.Value = task.MaxValue; // an empty object is done too
                }

                task.StopTask();
                return await running;
            });

    private static void Update(ProgressTask task, long done, long? total)
    {
        if (total is null)
        {
            task.MaxValue = Math.Max(1, done); // unknown length: show the bytes so far as a full bar
        }

        task.Value = done;
    }

    private static async Task<T> LinesAsync<T>(string label, long? total, Func<long> transferred, Func<Task<T>> work)
    {
        long start = Stopwatch.GetTimestamp();
        var running = work();
        bool printed = false;
        while (await Task.WhenAny(running, Task.Delay(LineInterval)) != running)
        {
            Report(label, transferred(), total, Stopwatch.GetElapsedTime(start), done: false);
            printed = true;
        }

        T result = await running;
        if (printed)
        {
            Report(label, transferred(), total, Stopwatch.GetElapsedTime(start), done: true);
        }

        return result;
    }

    private static void Report(string label, long transferred, long? total, TimeSpan elapsed, bool done)
    {
        var c = CultureInfo.InvariantCulture;
        string amount = total is { } t
            ? string.Create(c, $"{ByteSize.Format(transferred)} of {ByteSize.Format(t)} ({(t == 0 ? 100 : 100.0 * transferred / t):0}%)")
            : ByteSize.Format(transferred);
        string rate = elapsed <= TimeSpan.Zero ? "" : string.Create(c, $", {transferred / 1e6 / elapsed.TotalSeconds:0.0} MB/s");
        string line = done
            ? string.Create(c, $"{label}: done, {ByteSize.Format(transferred)} in {elapsed.TotalSeconds:0.0} s{rate}")
            : string.Create(c, $"{label}: {amount}{rate}");
        Console.Error.WriteLine($"{OmniStoreCommandLine.ExecutableName}: {line}");
    }
}
