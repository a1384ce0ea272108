namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// The fuzz tests run alone, after the parallel tests: the connection target measures allocation
/// process-wide, and a fuzzer that keeps both cores busy would slow other tests into their timeouts.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FuzzingRunsAlone
{
    public const string Name = "Fuzzing";
}

/// <summary>
/// Every decoder of the wire and disk formats, and a whole acceptor connection, fed mutated inputs
/// for a share of <c>OMNISTORE_FUZZ_SECONDS</c> (see Fuzzing/README.md). Each fails on the first
/// input that crashes, throws anything but a documented error, breaks an invariant, hangs, or
/// costs more memory than its bound; the input is written to a file and shown in hex.
/// </summary>
[Collection(FuzzingRunsAlone.Name)]
public sealed class FuzzTests
{
    public static TheoryData<string> Decoders => [.. DecoderTargets.All(Path.GetTempPath()).Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(Decoders))]
    public async Task Decoder_SurvivesMutatedInputs(string target)
    {
        // The store descriptor target rewrites a file per input: in memory where there is a tmpfs.
        string work = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"omnistore-fuzz-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            await RunAsync(DecoderTargets.All(work).Single(t => t.Name == target));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task AcceptorConnection_SurvivesMutatedFrameStreams()
    {
        // Exceptions that nobody observed surface when their task is finalized: flush those of
        // earlier tests, then collect what this run leaves.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var unobserved = new List<Exception>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            lock (unobserved)
            {
                unobserved.Add(e.Exception);
            }
        }

        PeerConnectionTarget.Observations.Clear();
        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            await RunAsync(PeerConnectionTarget.Create());
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        foreach (var (what, example) in PeerConnectionTarget.Observations)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"noticed: {what}: {example}");
        }

        Assert.True(unobserved.Count == 0, $"{unobserved.Count} task exceptions were never observed; the first: {unobserved.FirstOrDefault()}");
    }

    /// <summary>Every seed file in the corpus is what the encoders write today, so that a format change is noticed (and the seeds renewed with OMNISTORE_FUZZ_UPDATE_SEEDS=1).</summary>
    [Fact]
    public void CommittedSeeds_AreWhatTheEncodersWriteToday()
    {
        using var work = new TempDirectory("omnistore-fuzz");
        var problems = new List<string>();
        foreach (var target in AllTargets(work.Path))
        {
            string directory = FuzzCorpus.DirectoryOf(target.Name);
            var expected = target.Seeds().ToDictionary(s => $"seed-{s.Name}.bin", s => s.Bytes);
            if (FuzzSettings.UpdateSeeds)
            {
                Directory.CreateDirectory(directory);
                foreach (string stale in Directory.GetFiles(directory, "seed-*.bin"))
                {
                    File.Delete(stale);
                }

                foreach (var (name, bytes) in expected)
                {
                    File.WriteAllBytes(Path.Combine(directory, name), bytes);
                }
            }

            var committed = Directory.Exists(directory)
                ? Directory.GetFiles(directory, "seed-*.bin").ToDictionary(path => Path.GetFileName(path), File.ReadAllBytes)
                : [];
            foreach (var (name, bytes) in expected)
            {
                if (!committed.TryGetValue(name, out var file))
                {
                    problems.Add($"{target.Name}/{name} is missing");
                }
                else if (!target.SeedMatches(file, bytes))
                {
                    problems.Add($"{target.Name}/{name} differs from what the encoder writes");
                }
            }

            problems.AddRange(committed.Keys.Except(expected.Keys).Select(name => $"{target.Name}/{name} is written by no encoder"));
        }

        Assert.True(problems.Count == 0, $"Corpus seeds out of date (renew with OMNISTORE_FUZZ_UPDATE_SEEDS=1):\n{string.Join('\n', problems)}");
    }

    internal static IEnumerable<FuzzTarget> AllTargets(string workDirectory) => DecoderTargets.All(workDirectory).Append(PeerConnectionTarget.Create());

    private static async Task RunAsync(FuzzTarget target)
    {
        var output = TestContext.Current.TestOutputHelper;
        var budget = FuzzSettings.TimeFor(target, AllTargets(Path.GetTempPath()));
        output?.WriteLine($"{target.Name}: seed {FuzzSettings.Seed} (OMNISTORE_FUZZ_SEED), {budget.TotalSeconds:0.#} s of OMNISTORE_FUZZ_SECONDS={FuzzSettings.TotalSeconds}");
        var report = await new Fuzzer(target, FuzzSettings.Seed).RunAsync(budget, FuzzSettings.MaxIterations);
        output?.WriteLine(report.ToString());
        Assert.True(report.Failure is null, report.ToString());
        Assert.True(report.CorpusInputs > 0, $"{target.Name} has no corpus");
    }
}
