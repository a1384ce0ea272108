using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// A bounded, seeded mutation fuzzer. It replays a target's corpus (the encoders' seeds and the
/// committed inputs), then mutates inputs from a pool until its time or iteration budget is spent.
/// A target's outcome is a list of features separated by '|' (an error's shape, a kind of frame,
/// a request a handler decoded); an input that shows a feature not seen before joins the pool, so
/// paths that a mutation opened are explored further: coverage guidance by outcome, without
/// instrumentation. The first failure ends the run: the input is shrunk, written to a file and
/// shown in hex, with the seed.
/// </summary>
internal sealed class Fuzzer
{
    private const int MaxPool = 4096;
    private const int MaxOutcomes = 20_000;
    private const int RecentPool = 64;
    private const int MaxSavedPerRun = 25;

    private readonly FuzzTarget _target;
    private readonly int _seed;
    private readonly string? _failureDirectory;

    public Fuzzer(FuzzTarget target, int seed, string? failureDirectory = null)
    {
        if ((target.Run is null) == (target.RunAsync is null))
        {
            throw new ArgumentException("A target has exactly one of Run and RunAsync.", nameof(target));
        }

        _target = target;
        _seed = seed;
        _failureDirectory = failureDirectory;
        ArrayPoolWatch.Start();
    }

    public async Task<FuzzReport> RunAsync(TimeSpan budget, long maxIterations, bool replayCommittedCorpus = true)
    {
        var report = new FuzzReport(_target.Name, _seed);
        var clock = Stopwatch.StartNew();
        var random = new Random(_seed);
        var mutator = new Mutator(random, _target.Dictionary, _target.MaxInputLength, _target.FrameAware);

        var corpus = new List<(string Name, byte[] Bytes)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, bytes) in _target.Seeds().Select(s => ($"encoder {s.Name}", s.Bytes)).Concat(replayCommittedCorpus ? FuzzCorpus.Load(_target.Name) : []))
        {
            if (seen.Add(Convert.ToHexString(bytes)))
            {
                corpus.Add((name, bytes));
            }
        }

        // Warm up (first calls load types and fill caches), then replay every corpus input with all checks.
        foreach (var (_, bytes) in corpus)
        {
            await ExecuteAsync(bytes, measure: false).ConfigureAwait(false);
        }

        var pool = new List<byte[]>();
        var outcomes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, bytes) in corpus)
        {
            var result = await ExecuteAsync(bytes, measure: true).ConfigureAwait(false);
            Note(report, bytes, result);
            if (result.Failure is { } failure)
            {
                report.Failure = await FailAsync(bytes, failure, $"corpus input {name}", report.Iterations).ConfigureAwait(false);
                return report.Finish(clock.Elapsed, outcomes, pool.Count, corpus.Count);
            }

            AddFeatures(outcomes, result.Outcome!);
            pool.Add(bytes);
        }

        if (pool.Count == 0)
        {
            pool.Add([]);
        }

        int saved = 0;
        byte[] Other() => pool[random.Next(pool.Count)];
        while (clock.Elapsed < budget && report.Iterations < maxIterations)
        {
            // Half the time a parent among the latest additions: what a new path opened gets explored first.
            var parent = random.Next(2) == 0 ? pool[random.Next(Math.Max(0, pool.Count - RecentPool), pool.Count)] : pool[random.Next(pool.Count)];
            var input = mutator.Mutate(parent, Other);
            report.Iterations++;
            var result = await ExecuteAsync(input, measure: true).ConfigureAwait(false);
            Note(report, input, result);
            if (result.Failure is { } failure)
            {
                report.Failure = await FailAsync(input, failure, $"iteration {report.Iterations}", report.Iterations).ConfigureAwait(false);
                break;
            }

            if (AddFeatures(outcomes, result.Outcome!) && pool.Count < MaxPool)
            {
                pool.Add(input);
                if (FuzzSettings.SaveNewOutcomes && input.Length <= FuzzCorpus.MaxFoundLength && saved++ < MaxSavedPerRun)
                {
                    FuzzCorpus.SaveFound(_target.Name, input);
                }
            }
        }

        return report.Finish(clock.Elapsed, outcomes, pool.Count, corpus.Count);
    }

    /// <summary>Adds the features of an outcome; whether one of them is new.</summary>
    private static bool AddFeatures(HashSet<string> seen, string outcome)
    {
        bool added = false;
        foreach (string feature in outcome.Split('|'))
        {
            added |= seen.Count < MaxOutcomes && seen.Add(feature);
        }

        return added;
    }

    /// <summary>Runs one input and judges it; <see cref="CaseResult.Failure"/> says what went wrong, if anything.</summary>
    internal async Task<CaseResult> ExecuteAsync(byte[] input, bool measure)
    {
        var result = _target.Run is not null ? ExecuteSync(input) : await ExecuteAsyncTarget(input).ConfigureAwait(false);
        if (!measure || result.Failure is not null)
        {
            return result;
        }

        long bound = _target.AllocationBound(input);
        if (result.Cost > bound && _target.Run is not null)
        {
            // Confirm on a warm run: the first pass through a path may load types and fill caches.
            result = ExecuteSync(input);
        }

        if (result.Failure is null && result.Cost > bound)
        {
            var excess = new CaseFailure("allocation", $"{result.Cost:N0} bytes allocated or rented for a {input.Length}-byte input; the bound is {bound:N0}");
            return _target.AllocationBoundEnforced ? result with { Failure = excess } : result with { UnenforcedExcess = excess };
        }

        return result;
    }

    private CaseResult ExecuteSync(byte[] input)
    {
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        long rented = ArrayPoolWatch.RentedOnThisThread;
        string? outcome = null;
        CaseFailure? failure = null;
        try
        {
            outcome = _target.Run!(input);
        }
        catch (Exception ex)
        {
            (outcome, failure) = Judge(input, ex);
        }

        long cost = GC.GetAllocatedBytesForCurrentThread() - allocated + (ArrayPoolWatch.RentedOnThisThread - rented);
        return new CaseResult(outcome, failure, cost, null);
    }

    private async Task<CaseResult> ExecuteAsyncTarget(byte[] input)
    {
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        long rented = ArrayPoolWatch.RentedInProcess;
        string? outcome = null;
        CaseFailure? failure = null;
        using var timeout = new CancellationTokenSource(_target.CaseTimeout);
        var run = Task.Run(() => _target.RunAsync!(input, timeout.Token));
        try
        {
            // The target gets the token, but a hang is whatever does not end, cancelled or not.
            outcome = await run.WaitAsync(_target.CaseTimeout + TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (TimeoutException) when (!run.IsCompleted)
        {
            _ = run.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
            failure = new CaseFailure("hang", $"the input did not end within {_target.CaseTimeout.TotalSeconds:0.#} s");
        }
        catch (Exception ex)
        {
            (outcome, failure) = Judge(input, ex);
        }

        long cost = GC.GetTotalAllocatedBytes(precise: true) - allocated + (ArrayPoolWatch.RentedInProcess - rented);
        return new CaseResult(outcome, failure, cost, null);
    }

    private (string? Outcome, CaseFailure? Failure) Judge(byte[] input, Exception ex)
    {
        switch (ex)
        {
            case FuzzInvariantException broken:
                return (null, new CaseFailure("invariant", broken.Message));
            case OmniStoreException known:
                var allowed = _target.ErrorsAllowedByInput?.Invoke(input) ?? [];
                if (!_target.DocumentedErrors.Contains(known.Error) && !allowed.Contains(known.Error))
                {
                    string documented = _target.DocumentedErrors.Count == 0 ? "none" : string.Join(", ", _target.DocumentedErrors);
                    return (null, new CaseFailure($"undocumented error {known.Error}", $"{known.Message} (documented: {documented})\n{known}"));
                }

                // What a documented error wraps is documented too, down to an exception the target
                // names as opaque (a JSON parser's own, with whatever it wraps in turn).
                for (var inner = known.InnerException; inner is not null && !_target.OpaqueInnerExceptions.Contains(inner.GetType()); inner = inner.InnerException)
                {
                    if (inner is not (OmniStoreException or OperationCanceledException))
                    {
                        return (null, new CaseFailure($"undocumented exception {inner.GetType().Name} (wrapped)", known.ToString()));
                    }
                }

                return ($"E:{known.Error}:{(_target.ErrorFeature is { } feature ? feature(input, known) : Shape(known.Message))}", null);
            default:
                return (null, new CaseFailure($"undocumented exception {ex.GetType().Name}", ex.ToString()));
        }
    }

    private void Note(FuzzReport report, byte[] input, CaseResult result)
    {
        if (result.Cost > report.MostCost)
        {
            report.MostCost = result.Cost;
            report.MostCostInputLength = input.Length;
        }

        double share = (double)result.Cost / _target.AllocationBound(input);
        if (result.UnenforcedExcess is { } excess)
        {
            if (share > report.WorstExcessShare)
            {
                report.WorstExcessShare = share;
                report.UnenforcedExcess = excess.Detail;
                report.UnenforcedExcessInput = input;
            }
        }
        else if (result.Failure is null)
        {
            report.MostBoundShare = Math.Max(report.MostBoundShare, share);
        }
    }

    private async Task<FuzzFailure> FailAsync(byte[] input, CaseFailure failure, string where, long iteration)
    {
        // A hang costs the case timeout per try: it is kept as found.
        var shrunk = failure.Kind == "hang" ? input : await ShrinkAsync(input, failure.Kind).ConfigureAwait(false);
        string path = FuzzCorpus.SaveFailure(_failureDirectory ?? FuzzSettings.FailureDirectory, _target.Name, shrunk);
        return new FuzzFailure(_target.Name, _seed, iteration, where, failure.Kind, failure.Detail, shrunk, input.Length, path);
    }

    /// <summary>Removes ranges of the input while it still fails the same way, for a few seconds at most.</summary>
    private async Task<byte[]> ShrinkAsync(byte[] input, string kind)
    {
        var clock = Stopwatch.StartNew();
        var limit = _target.Run is not null ? TimeSpan.FromSeconds(3) : TimeSpan.FromSeconds(15);
        var best = input;
        for (int size = Math.Max(1, best.Length / 2); size >= 1 && clock.Elapsed < limit; size /= 2)
        {
            for (int at = 0; at + size <= best.Length && clock.Elapsed < limit;)
            {
                byte[] candidate = [.. best.AsSpan(0, at), .. best.AsSpan(at + size)];
                var result = await ExecuteAsync(candidate, measure: true).ConfigureAwait(false);
                if (result.Failure?.Kind == kind)
                {
                    best = candidate;
                }
                else
                {
                    at += size;
                }
            }

            if (size == 1)
            {
                break;
            }
        }

        return best;
    }

    /// <summary>A message with its numbers and ids blurred (runs of hex digits that hold a digit, or are 8 long), so that one path gives one feature.</summary>
    internal static string Shape(string message, int maxLength = 100)
    {
        var shape = new StringBuilder(Math.Min(message.Length, maxLength));
        for (int i = 0; i < message.Length && shape.Length < maxLength;)
        {
            int end = i;
            bool digit = false;
            while (end < message.Length && char.IsAsciiHexDigit(message[end]))
            {
                digit |= char.IsAsciiDigit(message[end]);
                end++;
            }

            if (end > i)
            {
                if (digit || end - i >= 8)
                {
                    shape.Append('#');
                }
                else
                {
                    shape.Append(message, i, end - i);
                }

                i = end;
            }
            else
            {
                shape.Append(message[i++]);
            }
        }

        return shape.ToString();
    }

    internal sealed record CaseFailure(string Kind, string Detail);

    internal sealed record CaseResult(string? Outcome, CaseFailure? Failure, long Cost, CaseFailure? UnenforcedExcess);
}

/// <summary>What a fuzz run found and did.</summary>
internal sealed class FuzzReport(string target, int seed)
{
    public string Target { get; } = target;

    public int Seed { get; } = seed;

    public long Iterations { get; set; }

    public FuzzFailure? Failure { get; set; }

    /// <summary>The most bytes one input cost (allocated or rented), and that input's length.</summary>
    public long MostCost { get; set; }

    public int MostCostInputLength { get; set; }

    /// <summary>The largest share of its allocation bound that an input within it used.</summary>
    public double MostBoundShare { get; set; }

    /// <summary>The input furthest over a bound that is not enforced (see <see cref="FuzzTarget.AllocationBoundEnforced"/>).</summary>
    public string? UnenforcedExcess { get; set; }

    public double WorstExcessShare { get; set; }

    public byte[]? UnenforcedExcessInput { get; set; }

    public TimeSpan Elapsed { get; private set; }

    public int Outcomes { get; private set; }

    public int PoolSize { get; private set; }

    public int CorpusInputs { get; private set; }

    /// <summary>The outcome features seen, for a reader tuning a target's features.</summary>
    public IReadOnlyCollection<string> Features { get; private set; } = [];

    public FuzzReport Finish(TimeSpan elapsed, IReadOnlyCollection<string> features, int pool, int corpus)
    {
        Elapsed = elapsed;
        Features = features;
        Outcomes = features.Count;
        PoolSize = pool;
        CorpusInputs = corpus;
        return this;
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{Target}: seed {Seed}, {CorpusInputs} corpus inputs replayed, {Iterations:N0} mutated inputs in {Elapsed.TotalSeconds:0.0} s ({Iterations / Math.Max(Elapsed.TotalSeconds, 0.001):N0}/s), ");
        text.Append(CultureInfo.InvariantCulture, $"{Outcomes} distinct outcome features, pool {PoolSize}; most bytes for one input: {MostCost:N0} (input of {MostCostInputLength} bytes), at most {MostBoundShare:P0} of its bound within it");
        if (UnenforcedExcess is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $"\n  furthest over its (not enforced) allocation bound: {UnenforcedExcess}; input: {FuzzFailure.Hex(UnenforcedExcessInput!, 512)}");
        }

        if (Failure is not null)
        {
            text.Append('\n').Append(Failure);
        }

        return text.ToString();
    }
}

/// <summary>A failing input: what failed, how to replay it, and the bytes.</summary>
internal sealed record FuzzFailure(string Target, int Seed, long Iteration, string Where, string Kind, string Detail, byte[] Input, int OriginalLength, string SavedPath)
{
    public static string Hex(byte[] bytes, int max = 4096)
    {
        string hex = Convert.ToHexStringLower(bytes.AsSpan(0, Math.Min(bytes.Length, max)));
        return bytes.Length > max ? $"{hex}... ({bytes.Length} bytes)" : hex;
    }

    public override string ToString() =>
        $"FUZZ FAILURE in {Target}: {Kind}\n" +
        $"  {Where}, seed {Seed} (replay: OMNISTORE_FUZZ_SEED={Seed})\n" +
        $"  input: {Input.Length} bytes (shrunk from {OriginalLength}), written to {SavedPath}\n" +
        $"  (copy it to tests/OmniStore.Tests/Fuzzing/corpus/{Target}/regress-NAME.bin once fixed)\n" +
        $"  hex: {Hex(Input)}\n" +
        $"  {Detail}";
}
