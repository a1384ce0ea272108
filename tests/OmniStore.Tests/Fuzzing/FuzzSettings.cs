using System.Globalization;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// How long and how the fuzz tests run, from the environment (see Fuzzing/README.md):
/// <list type="bullet">
/// <item><c>OMNISTORE_FUZZ_SECONDS</c>: the time budget shared by all targets (by weight). Defaults to 60 (the whole test run is held under 20 minutes; longer runs set it).</item>
/// <item><c>OMNISTORE_FUZZ_ITERATIONS</c>: the most mutated inputs per target. Defaults to 50,000,000 (time ends a run first).</item>
/// <item><c>OMNISTORE_FUZZ_SEED</c>: the seed, to replay a run. Defaults to a fresh one, printed.</item>
/// <item><c>OMNISTORE_FUZZ_FAILURES</c>: where failing inputs are written. Defaults to TestResults/fuzz-failures at the repository root.</item>
/// <item><c>OMNISTORE_FUZZ_SAVE_NEW=1</c>: write the inputs that produced a new outcome into the corpus folders (at most 25 per target and run), to review and commit.</item>
/// <item><c>OMNISTORE_FUZZ_UPDATE_SEEDS=1</c>: rewrite the committed seed files from the encoders (after a format change).</item>
/// </list>
/// </summary>
internal static class FuzzSettings
{
    public const double DefaultTotalSeconds = 60;

    public static double TotalSeconds => Number("OMNISTORE_FUZZ_SECONDS") ?? DefaultTotalSeconds;

    public static long MaxIterations => (long)(Number("OMNISTORE_FUZZ_ITERATIONS") ?? 50_000_000);

    public static int Seed { get; } = (int?)Number("OMNISTORE_FUZZ_SEED") ?? Random.Shared.Next();

    public static bool SaveNewOutcomes => Environment.GetEnvironmentVariable("OMNISTORE_FUZZ_SAVE_NEW") == "1";

    public static bool UpdateSeeds => Environment.GetEnvironmentVariable("OMNISTORE_FUZZ_UPDATE_SEEDS") == "1";

    public static string FailureDirectory =>
        Environment.GetEnvironmentVariable("OMNISTORE_FUZZ_FAILURES") is { Length: > 0 } directory
            ? directory
            : Path.Combine(FuzzCorpus.RepositoryRoot, "TestResults", "fuzz-failures");

    /// <summary>The time of one target: its share of the total budget.</summary>
    public static TimeSpan TimeFor(FuzzTarget target, IEnumerable<FuzzTarget> all) =>
        TimeSpan.FromSeconds(TotalSeconds * target.Weight / all.Sum(t => t.Weight));

    private static double? Number(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } text
            ? double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture)
            : null;
}
