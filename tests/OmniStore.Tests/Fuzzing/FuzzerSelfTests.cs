using System.Buffers.Binary;
using OmniStore.Protocol;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// The fuzzer finds bugs planted in small decoders within a small budget, and reports them in a
/// form that can be replayed: a test suite whose fuzz tests cannot fail would prove nothing.
/// </summary>
[Collection(FuzzingRunsAlone.Name)]
public sealed class FuzzerSelfTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _failures = new("omnistore-fuzz-self");

    public void Dispose() => _failures.Dispose();

    /// <summary>A count-prefixed list whose decoder trusts the count.</summary>
    private static string TrustsItsCount(byte[] input)
    {
        if (input.Length == 0)
        {
            throw HelloMessage.Malformed("empty");
        }

        int sum = 0;
        for (int i = 0; i < input[0]; i++)
        {
            sum += input[1 + i];
        }

        return sum > 100 ? "big" : "small";
    }

    [Fact]
    public async Task Fuzzer_FindsAnIndexOutOfRange_AndWritesTheInputToAFile()
    {
        var report = await Run(Target("planted-index", TrustsItsCount, ([3, 1, 2, 3], [0])));

        var failure = Assert.IsType<FuzzFailure>(report.Failure);
        Assert.Equal("undocumented exception IndexOutOfRangeException", failure.Kind);
        Assert.Equal(failure.Input, await File.ReadAllBytesAsync(failure.SavedPath, TestContext.Current.CancellationToken));
        Assert.Contains(Convert.ToHexStringLower(failure.Input), failure.ToString(), StringComparison.Ordinal);
        Assert.Contains($"OMNISTORE_FUZZ_SEED={failure.Seed}", failure.ToString(), StringComparison.Ordinal);
        Assert.Throws<IndexOutOfRangeException>(() => TrustsItsCount(failure.Input)); // the saved input replays the failure
        Assert.True(failure.Input.Length <= 2, $"the input was not shrunk: {Convert.ToHexString(failure.Input)}");
    }

    [Fact]
    public async Task Fuzzer_FindsABufferSizedFromAnUncheckedLength()
    {
        // Reads a length, allocates it, and only then checks that the bytes are there.
        static string AllocatesFirst(byte[] input)
        {
            var reader = new PayloadReader(input);
            int length = reader.Int32();
            var buffer = new byte[Math.Clamp(length, 0, 64 << 20)];
            reader.Bytes(length).CopyTo(buffer);
            return "ok";
        }

        var report = await Run(Target("planted-allocation", AllocatesFirst, ([3, 0, 0, 0, 1, 2, 3], [0, 0, 0, 0])));

        var failure = Assert.IsType<FuzzFailure>(report.Failure);
        Assert.Equal("allocation", failure.Kind);
    }

    [Fact]
    public async Task Fuzzer_FindsAnUndocumentedErrorCode_AndAnUndocumentedWrappedException()
    {
        static string WrongCode(byte[] input) => input is [_, 0xff, ..] ? throw new OmniStoreException(OmniStoreError.Unknown, "surprise") : "ok";
        var code = await Run(Target("planted-code", WrongCode, ([1, 2, 3], [])));
        Assert.Equal("undocumented error Unknown", code.Failure?.Kind);

        static string Wraps(byte[] input) => input is [0x80, ..] ? throw new OmniStoreException(OmniStoreError.ProtocolError, "wrapped", new InvalidCastException()) : "ok";
        var wrapped = await Run(Target("planted-wrapped", Wraps, ([1, 2, 3], [])));
        Assert.Equal("undocumented exception InvalidCastException (wrapped)", wrapped.Failure?.Kind);
    }

    [Fact]
    public async Task Fuzzer_FindsABrokenRoundTrip()
    {
        // Accepts a trailing byte that the encoding does not have: two encodings of one value.
        static string Lenient(byte[] input)
        {
            if (input.Length is not (4 or 5))
            {
                throw HelloMessage.Malformed("length");
            }

            int value = BinaryPrimitives.ReadInt32LittleEndian(input);
            var encoded = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(encoded, value);
            FuzzInvariantException.Check(encoded.AsSpan().SequenceEqual(input), "re-encodes to its input");
            return "ok";
        }

        var report = await Run(Target("planted-round-trip", Lenient, ([1, 0, 0, 0], [7, 0, 0, 0])));
        Assert.Equal("invariant", report.Failure?.Kind);
    }

    [Fact]
    public async Task Fuzzer_FollowsNewOutcomes_ToABugThreeStepsDeep()
    {
        // Each matching byte is a new outcome; only the three together reach the bug. Blind
        // mutation would need all three at once (about 1 in 2^40 tries).
        static string Deep(byte[] input)
        {
            int matched = 0;
            while (matched < 3 && matched < input.Length && input[matched] == "OMN"u8[matched])
            {
                matched++;
            }

            return matched == 3 ? throw new InvalidOperationException("deep") : $"matched {matched}";
        }

        // Typically found in about 300,000 inputs (5 s); the budget leaves room for unlucky seeds.
        var report = await Run(Target("planted-deep", Deep, ([0, 0, 0, 0], [1, 1, 1, 1])), TimeSpan.FromSeconds(60));
        Assert.Equal("undocumented exception InvalidOperationException", report.Failure?.Kind);
    }

    [Fact]
    public async Task Fuzzer_FindsAHang_InAnAsyncTarget()
    {
        var target = new FuzzTarget
        {
            Name = "planted-hang",
            Weight = 1,
            DocumentedErrors = [OmniStoreError.ProtocolError],
            Seeds = () => [("a", [1, 2, 3])],
            RunAsync = static async (input, _) =>
            {
                if (input is [0x80, ..])
                {
                    await Task.Delay(Timeout.Infinite, CancellationToken.None); // ignores its token, as a real hang would
                }

                await Task.Yield();
                return "ok";
            },
            AllocationBound = static _ => long.MaxValue,
            CaseTimeout = TimeSpan.FromMilliseconds(200),
        };

        var report = await Run(target);
        Assert.Equal("hang", report.Failure?.Kind);
        Assert.Equal(0x80, report.Failure!.Input[0]);
    }

    [Fact]
    public async Task SameSeed_SameRun()
    {
        var target = Target("deterministic", TrustsItsCount, ([5, 1, 2, 3, 4, 5, 6], [0]));
        target = new FuzzTarget
        {
            Name = target.Name,
            Weight = 1,
            DocumentedErrors = [OmniStoreError.ProtocolError],
            Seeds = target.Seeds,
            Run = input =>
            {
                try
                {
                    return TrustsItsCount(input);
                }
                catch (IndexOutOfRangeException)
                {
                    return $"short by {input[0] - input.Length + 1}";
                }
            },
        };

        var first = await new Fuzzer(target, 42).RunAsync(Budget, maxIterations: 5000, replayCommittedCorpus: false);
        var second = await new Fuzzer(target, 42).RunAsync(Budget, maxIterations: 5000, replayCommittedCorpus: false);
        Assert.Null(first.Failure);
        Assert.Equal(5000, first.Iterations);
        Assert.Equal((first.Outcomes, first.PoolSize), (second.Outcomes, second.PoolSize));
    }

    private static FuzzTarget Target(string name, Func<byte[], string> run, params (byte[] A, byte[] B)[] seeds) => new()
    {
        Name = name,
        Weight = 1,
        DocumentedErrors = [OmniStoreError.ProtocolError],
        Seeds = () => seeds.SelectMany((s, i) => new[] { ($"{i}a", s.A), ($"{i}b", s.B) }),
        Run = run,
    };

    private async Task<FuzzReport> Run(FuzzTarget target, TimeSpan? budget = null)
    {
        var output = TestContext.Current.TestOutputHelper;
        var report = await new Fuzzer(target, FuzzSettings.Seed, _failures.Path).RunAsync(budget ?? Budget, maxIterations: 50_000_000, replayCommittedCorpus: false);
        output?.WriteLine(report.ToString());
        Assert.True(report.Failure is not null, $"the planted bug was not found: {report}");
        return report;
    }
}
