using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using OmniStore.Content;
using Xunit;

namespace OmniStore.Tests.Content;

/// <summary>
/// Checks the managed XXH3 against the reference implementation in two independent forms: the
/// <c>xxhsum</c> command line tool and the <c>libxxhash.so.0</c> shared library. Every kernel the
/// machine can run (scalar, Vector128, Vector256, Vector512) is checked, one-shot and streaming.
/// </summary>
public sealed partial class XxHash3Tests : IClassFixture<XxHash3Tests.XxhsumCorpus>
{
    private const int MaxDenseLength = 2048;
    private const int LargeLength = 16 << 20;
    private const ulong Prime64_1 = 0x9E3779B185EBCA87UL;

    private static readonly ulong[] s_seeds = [0, 1, Prime64_1, ulong.MaxValue, 0xD1B54A32D192ED03UL];

    // Lengths straddling the stripe (64), block (1024) and internal-buffer (256) sizes, plus a few large ones.
    private static readonly int[] s_largeLengths =
        [4095, 4096, 4097, 16_383, 65_537, (1 << 20) - 1, (1 << 20) + 63, (3 << 20) + 5];

    /// <summary>Deterministic pseudo-random input, large enough for every test; slices start at varied offsets.</summary>
    private static readonly byte[] s_data = CreateData(LargeLength + 64, 0x0A11CE);

    private readonly XxhsumCorpus _corpus;

    public XxHash3Tests(XxhsumCorpus corpus) => _corpus = corpus;

    public static TheoryData<string> Paths => new("Scalar", "Vector128", "Vector256", "Vector512");

    // ------------------------------------------------------------------ reference-free checks

    [Theory]
    [InlineData(0, 0x0UL, "2d06800538d394c2", "99aa06d3014798d86001c324468d497f")]
    [InlineData(0, 0x9E3779B185EBCA87UL, "07f70f819703314d", "45ef6ddc7afb225af9ece1036ecbb2ed")]
    [InlineData(1, 0x0UL, "c44bdff4074eecdb", "a6cd5e9392000f6ac44bdff4074eecdb")]
    [InlineData(1, 0x9E3779B185EBCA87UL, "719ae0fc4eb5db08", "cdd5fbba588c5da7719ae0fc4eb5db08")]
    [InlineData(2, 0x0UL, "b0a5d4f167a89d5e", "5008d8f8cd45f8ecb0a5d4f167a89d5e")]
    [InlineData(3, 0x9E3779B185EBCA87UL, "6eb5627691a16d9d", "8c4e0f49e5d8b1076eb5627691a16d9d")]
    [InlineData(4, 0x0UL, "2e8d078a566e9749", "4e82b36688c5328f4ee6926f0426173e")]
    [InlineData(4, 0x9E3779B185EBCA87UL, "b0cae675e8af58f9", "8c8ab1e4517541f3327844cc9b4c1880")]
    [InlineData(7, 0x0UL, "e6f7770846c47df5", "cb234cb3ad8748a95669ede136b8c8b5")]
    [InlineData(8, 0x9E3779B185EBCA87UL, "320f50e08268628d", "6e06925bc63c25fbf5d78d49a25048e4")]
    [InlineData(9, 0x0UL, "bfe43def699fa9e3", "200d098a7113e15fee5940d4df4715ae")]
    [InlineData(16, 0x9E3779B185EBCA87UL, "e14a0605e4b3ec0a", "4fc5ad20359f6c230a780d6318b72b34")]
    [InlineData(17, 0x0UL, "9998430fd0a655be", "1ea709ada2b9c32e33bed349ec1c0ce7")]
    [InlineData(32, 0x9E3779B185EBCA87UL, "94e0a107656c6b66", "f9ed7d184e14ff81db6496c6d7786df6")]
    [InlineData(33, 0x0UL, "0e399d30188e9c8e", "3d498fc14d9681e19cd7914bbaf713b9")]
    [InlineData(64, 0x9E3779B185EBCA87UL, "67daa37b8be7889f", "7c7f20ee6bd6425574713c3bb218cbe4")]
    [InlineData(65, 0x0UL, "7faff6eee7812d5c", "df2f64d70d4f0d467e0ee245264914b3")]
    [InlineData(96, 0x9E3779B185EBCA87UL, "9fe027af0ec7f786", "2005bad1079a9744c7fa44033a859979")]
    [InlineData(97, 0x0UL, "00d61f9a16f8effd", "fdfcca3a469c918afb99b300b0c8dc93")]
    [InlineData(128, 0x0UL, "75eca5c5d5594884", "5ac741c59c95d36ae1f0636051ccd2be")]
    [InlineData(129, 0x9E3779B185EBCA87UL, "73433c0a4d86b981", "6914ed856b99e2eb2a581d76a5135e70")]
    [InlineData(160, 0x0UL, "d298ab4e6e7de4aa", "934688b34070b9004a430a4b144ed2d0")]
    [InlineData(240, 0x0UL, "5eb2467c8c9e3969", "640a6149838a7599b2e6947c477a4ab0")]
    [InlineData(240, 0x9E3779B185EBCA87UL, "2c2d3375eae2aa31", "3ff4166378ac54b1b4b33216864ebb92")]
    [InlineData(241, 0x0UL, "2d431e984c441f15", "e817e20e53e42a8c2d431e984c441f15")]
    [InlineData(241, 0x9E3779B185EBCA87UL, "e32b84674ca7209f", "732d7acb9e11f3f9e32b84674ca7209f")]
    [InlineData(255, 0x0UL, "6cb5279bb1267b3b", "881e14b0b5c3e3396cb5279bb1267b3b")]
    [InlineData(256, 0x9E3779B185EBCA87UL, "2bd5c42c15f75607", "27a3c09bd03c97052bd5c42c15f75607")]
    [InlineData(1023, 0x0UL, "4e30bb611faa8f67", "5687286dd310b7db4e30bb611faa8f67")]
    [InlineData(1024, 0x9E3779B185EBCA87UL, "11786188af27ce37", "51c03de0d648bea911786188af27ce37")]
    [InlineData(1025, 0x0UL, "83cba9b371e4e7f4", "63e845aab7eb695f83cba9b371e4e7f4")]
    [InlineData(2048, 0x0UL, "53275d58cfba68fd", "fb68e3b1bb55b50253275d58cfba68fd")]
    [InlineData(2048, 0x9E3779B185EBCA87UL, "7b8103a36d0e9057", "27ec755c4f116f417b8103a36d0e9057")]
    [InlineData(100003, 0x0UL, "507db29bd764a682", "7ff59a962ff165b9507db29bd764a682")]
    [InlineData(100003, 0x9E3779B185EBCA87UL, "60a04b52531e2c92", "716d1158c6c68a6d60a04b52531e2c92")]
    public void KnownAnswers_MatchValuesRecordedFromLibxxhash_0_8_1(int length, ulong seed, string expected64, string expected128)
    {
        // Recorded once from libxxhash 0.8.1 so the implementation stays pinned even where the
        // reference tools are not installed. Input: byte i = (i * 2654435761) >> 24 (32-bit wrap).
        byte[] input = new byte[length];
        for (int i = 0; i < length; i++)
        {
            input[i] = (byte)(unchecked((uint)i * 2654435761u) >> 24);
        }

        ulong want64 = ulong.Parse(expected64, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        UInt128 want128 = UInt128.Parse(expected128, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        Assert.Equal(want64, XxHash3.Hash64(input, seed));
        Assert.Equal(want128, XxHash3.Hash128(input, seed));
        foreach (XxHash3Path path in SupportedPaths())
        {
            Assert.Equal(want64, XxHash3.Hash64(input, seed, path));
            Assert.Equal(want128, XxHash3.Hash128(input, seed, path));
            var hasher = new XxHash3Hasher(seed, path);
            hasher.Append(input);
            Assert.Equal(want64, hasher.GetCurrentHash64());
            Assert.Equal(want128, hasher.GetCurrentHash128());
        }
    }

    [Fact]
    public void VectorPaths_AgreeWithScalar_ForEveryLengthUpTo4096()
    {
        XxHash3Path[] vectorPaths = SupportedPaths().Where(p => p != XxHash3Path.Scalar).ToArray();
        Assert.SkipWhen(vectorPaths.Length == 0, "this CPU has no SIMD path to compare with the scalar one");

        foreach (ulong seed in s_seeds)
        {
            for (int length = 0; length <= 4096; length++)
            {
                ReadOnlySpan<byte> input = Slice(length);
                ulong scalar64 = XxHash3.Hash64(input, seed, XxHash3Path.Scalar);
                UInt128 scalar128 = XxHash3.Hash128(input, seed, XxHash3Path.Scalar);
                foreach (XxHash3Path path in vectorPaths)
                {
                    AssertHash(scalar64, XxHash3.Hash64(input, seed, path), path, "one-shot", length, seed);
                    AssertHash(scalar128, XxHash3.Hash128(input, seed, path), path, "one-shot", length, seed);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Streaming_MatchesOneShot_ForEveryTwoWaySplit(string pathName)
    {
        XxHash3Path path = RequirePath(pathName);

        // Every split point of lengths around the buffer (256) and block (1024) boundaries, where
        // the streaming state machine changes mode.
        int[] lengths = [.. Enumerable.Range(0, 320), 1023, 1024, 1025, 1087, 1088, 1089, 2047, 2048, 2049, 4160];
        var hasher = new XxHash3Hasher(Prime64_1, path);
        foreach (int length in lengths)
        {
            ReadOnlySpan<byte> input = Slice(length);
            ulong want64 = XxHash3.Hash64(input, Prime64_1, XxHash3Path.Scalar);
            UInt128 want128 = XxHash3.Hash128(input, Prime64_1, XxHash3Path.Scalar);
            for (int split = 0; split <= length; split++)
            {
                hasher.Reset();
                hasher.Append(input[..split]);
                hasher.Append(input[split..]);
                AssertHash(want64, hasher.GetCurrentHash64(), path, $"split at {split}", length, Prime64_1);
                AssertHash(want128, hasher.GetCurrentHash128(), path, $"split at {split}", length, Prime64_1);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Streaming_ByteAtATime_MatchesOneShot_AndReadingDoesNotDisturbState(string pathName)
    {
        XxHash3Path path = RequirePath(pathName);
        const int length = 2200;
        ReadOnlySpan<byte> input = Slice(length);
        foreach (ulong seed in new[] { 0UL, ulong.MaxValue })
        {
            var hasher = new XxHash3Hasher(seed, path);
            Assert.Equal(seed, hasher.Seed);
            for (int i = 0; i <= length; i++)
            {
                // Reading after every byte checks each prefix and that a read leaves the state alone.
                Assert.Equal((ulong)i, hasher.Length);
                AssertHash(XxHash3.Hash64(input[..i], seed, XxHash3Path.Scalar), hasher.GetCurrentHash64(), path, "byte at a time", i, seed);
                AssertHash(XxHash3.Hash128(input[..i], seed, XxHash3Path.Scalar), hasher.GetCurrentHash128(), path, "byte at a time", i, seed);
                if (i < length)
                {
                    hasher.Append(input.Slice(i, 1));
                }
            }

            hasher.Reset();
            Assert.Equal(0UL, hasher.Length);
            Assert.Equal(XxHash3.Hash64([], seed), hasher.GetCurrentHash64());
        }
    }

    [Fact]
    public void DefaultHasher_UsesDefaultPath_AndMatchesPublicOneShot()
    {
        ReadOnlySpan<byte> input = Slice(100_000);
        var hasher = new XxHash3Hasher();
        hasher.Append(input[..12_345]);
        hasher.Append([]);
        hasher.Append(input[12_345..]);
        Assert.Equal(XxHash3.Hash64(input), hasher.GetCurrentHash64());
        Assert.Equal(XxHash3.Hash128(input), hasher.GetCurrentHash128());
        Assert.True(XxHash3.IsSupported(XxHash3.DefaultPath));
    }

    // ------------------------------------------------------------------ libxxhash.so.0

    [Theory]
    [MemberData(nameof(Paths))]
    public void OneShot_MatchesLibxxhash_ForSeedsAndLengths(string pathName)
    {
        XxHash3Path path = RequirePath(pathName);
        RequireReference(NativeXxHash.LoadError);
        Assert.True(NativeXxHash.Version() >= 800, $"libxxhash {NativeXxHash.Version()} predates the XXH3 format freeze (0.8.0)");

        foreach (ulong seed in s_seeds)
        {
            foreach (int length in DenseThenLargeLengths())
            {
                ReadOnlySpan<byte> input = Slice(length);
                AssertHash(NativeXxHash.Hash64(input, seed), XxHash3.Hash64(input, seed, path), path, "one-shot", length, seed);
                AssertHash(NativeXxHash.Hash128(input, seed), XxHash3.Hash128(input, seed, path), path, "one-shot", length, seed);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Streaming_MatchesLibxxhash_ForRandomSplits(string pathName)
    {
        XxHash3Path path = RequirePath(pathName);
        RequireReference(NativeXxHash.LoadError);

        var random = new Random(0x5EED + (int)path);
        foreach (ulong seed in s_seeds)
        {
            var hasher = new XxHash3Hasher(seed, path);
            foreach (int length in DenseThenLargeLengths())
            {
                ReadOnlySpan<byte> input = Slice(length);
                hasher.Reset();
                int offset = 0;
                while (offset < length)
                {
                    // Mix tiny appends (exercise buffering) with large ones (exercise in-place consumption).
                    int chunk = random.Next(4) switch
                    {
                        0 => random.Next(1, 8),
                        1 => random.Next(1, 300),
                        _ => random.Next(1, Math.Max(2, length + 1)),
                    };
                    chunk = Math.Min(chunk, length - offset);
                    hasher.Append(input.Slice(offset, chunk));
                    offset += chunk;
                }

                AssertHash(NativeXxHash.Hash64(input, seed), hasher.GetCurrentHash64(), path, "streaming", length, seed);
                AssertHash(NativeXxHash.Hash128(input, seed), hasher.GetCurrentHash128(), path, "streaming", length, seed);
            }
        }
    }

    // ------------------------------------------------------------------ xxhsum

    [Fact]
    public void Xxhsum_VersionOutput_IsUnderstood_AndAtLeast_0_8()
    {
        RequireReference(XxhsumCorpus.ExecutableMissingReason);
        Version version = XxhsumCorpus.GetVersion();
        Assert.True(version >= new Version(0, 8, 0), $"xxhsum {version} predates the XXH3 format freeze (0.8.0); its XXH3 output differs");
    }

    [Theory]
    [InlineData("-H3")]
    [InlineData("-H2")]
    public void Xxhsum_MatchesEveryLengthUpTo2048_AndLargeRandomLengths(string algorithm)
    {
        RequireReference(XxhsumCorpus.ExecutableMissingReason);
        Assert.True(XxhsumCorpus.GetVersion() >= new Version(0, 8, 0), "xxhsum older than 0.8.0 prints a pre-release XXH3");

        IReadOnlyList<XxhsumCorpus.Entry> entries = _corpus.Files;
        IReadOnlyDictionary<string, string> printed = _corpus.Run(algorithm);
        Assert.Equal(entries.Count, printed.Count);

        foreach (XxhsumCorpus.Entry entry in entries)
        {
            Assert.True(printed.TryGetValue(entry.Name, out string? hex), $"xxhsum printed nothing for {entry.Name}");
            ReadOnlySpan<byte> input = s_data.AsSpan(entry.Offset, entry.Length);
            foreach (XxHash3Path path in SupportedPaths())
            {
                if (algorithm == "-H3")
                {
                    // XXH3-64 prints 16 hex digits; a 32-digit or 8-digit value would be another algorithm.
                    Assert.Equal(16, hex.Length);
                    ulong expected = ulong.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    AssertHash(expected, XxHash3.Hash64(input, 0, path), path, "xxhsum -H3", entry.Length, 0);
                }
                else
                {
                    // The canonical XXH128 form is big-endian: high64 first, exactly UInt128's hex form.
                    Assert.Equal(32, hex.Length);
                    UInt128 expected = UInt128.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    AssertHash(expected, XxHash3.Hash128(input, 0, path), path, "xxhsum -H2", entry.Length, 0);
                }
            }
        }
    }

    [Theory]
    [InlineData("XXH3 (00042.bin) = b036826de5a049eb", "00042.bin", "b036826de5a049eb")]
    [InlineData("XXH128 (00042.bin) = a532cda63cf8ff56b036826de5a049eb", "00042.bin", "a532cda63cf8ff56b036826de5a049eb")]
    [InlineData("a532cda63cf8ff56b036826de5a049eb  00042.bin", "00042.bin", "a532cda63cf8ff56b036826de5a049eb")]
    [InlineData("XXH3_b036826de5a049eb  00042.bin", "00042.bin", "b036826de5a049eb")]
    public void XxhsumOutputParser_UnderstandsTaggedAndGnuStyles(string line, string name, string hash)
    {
        // 0.8.1 prints XXH3-64 BSD-style and XXH128 GNU-style; 0.8.2 prints XXH3-64 GNU-style with an
        // "XXH3_" prefix. The parser must read all of them.
        Assert.True(XxhsumCorpus.TryParseLine(line, out string? parsedName, out string? parsedHash));
        Assert.Equal(name, parsedName);
        Assert.Equal(hash, parsedHash);
    }

    // ------------------------------------------------------------------ helpers

    private static IEnumerable<int> DenseThenLargeLengths() => Enumerable.Range(0, MaxDenseLength + 1).Concat(s_largeLengths);

    /// <summary>A slice starting at a length-dependent offset so unaligned loads are exercised too.</summary>
    private static ReadOnlySpan<byte> Slice(int length) => s_data.AsSpan(length % 61, length);

    private static IEnumerable<XxHash3Path> SupportedPaths() => Enum.GetValues<XxHash3Path>().Where(XxHash3.IsSupported);

    private static XxHash3Path RequirePath(string name)
    {
        XxHash3Path path = Enum.Parse<XxHash3Path>(name);
        Assert.SkipUnless(XxHash3.IsSupported(path), $"the {name} path is not hardware-accelerated on this CPU");
        return path;
    }

    private static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Skips locally, but fails in CI, where the test command installs the reference tools.</summary>
    private static void RequireReference(string? missingReason)
    {
        if (missingReason is null)
        {
            return;
        }

        if (IsCi)
        {
            Assert.Fail($"{missingReason}. CI=true, so the reference implementation must be installed (Debian/Ubuntu: apt-get install xxhash libxxhash0).");
        }

        Assert.Skip($"{missingReason}; skipped outside CI (with CI=true this fails).");
    }

    private static void AssertHash<T>(T expected, T actual, XxHash3Path path, string mode, int length, ulong seed)
        where T : IEquatable<T>, IFormattable
    {
        if (!expected.Equals(actual))
        {
            Assert.Fail(string.Create(
                CultureInfo.InvariantCulture,
                $"{typeof(T).Name} mismatch: path {path}, {mode}, length {length}, seed 0x{seed:X}: expected {expected:x}, got {actual:x}"));
        }
    }

    private static byte[] CreateData(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>
    /// Files for the xxhsum comparison, written once per test class run into a private temporary
    /// directory: every length 0..2048 and a few random lengths up to 16 MiB, each a slice of the
    /// shared test data. xxhsum then runs once per algorithm over all of them.
    /// </summary>
    public sealed partial class XxhsumCorpus : IDisposable
    {
        private readonly Lazy<(string Directory, List<Entry> Files)> _corpus = new(Write);
        private static readonly Lazy<string?> s_executable = new(FindExecutable);

        /// <summary>Null when xxhsum is on PATH; otherwise why the tests cannot use it.</summary>
        internal static string? ExecutableMissingReason => s_executable.Value is null ? "xxhsum was not found on PATH (install the xxhash package)" : null;

        internal IReadOnlyList<Entry> Files => _corpus.Value.Files;

        internal static Version GetVersion()
        {
            // xxhsum prints "xxhsum 0.8.1 by Yann Collet" (to stderr in 0.8.x) for --version.
            (int exitCode, string output, string error) = Execute(s_executable.Value!, Environment.CurrentDirectory, ["--version"]);
            string text = output + "\n" + error;
            Match match = VersionPattern().Match(text);
            Assert.True(match.Success, $"cannot read a version from `xxhsum --version` (exit code {exitCode}): {text}");
            return new Version(
                int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture),
                int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture),
                int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture));
        }

        /// <summary>Runs xxhsum once over every file; returns file name to printed hash.</summary>
        internal IReadOnlyDictionary<string, string> Run(string algorithm)
        {
            (string directory, List<Entry> files) = _corpus.Value;
            List<string> arguments = [algorithm, .. files.Select(f => f.Name)];
            (int exitCode, string output, string error) = Execute(s_executable.Value!, directory, arguments);
            Assert.True(exitCode == 0, $"xxhsum {algorithm} exited with {exitCode}: {error}");

            var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                Assert.True(TryParseLine(line, out string? name, out string? hash), $"unexpected xxhsum output line: '{line}'");

                // A BSD-style tag names the algorithm; make sure it is the one asked for (XXH64 is not XXH3).
                string? tag = TagPattern().Match(line) is { Success: true } m ? m.Groups[1].Value : null;
                Assert.True(tag is null || tag == (algorithm == "-H3" ? "XXH3" : "XXH128"), $"xxhsum {algorithm} printed algorithm {tag}");
                hashes[name!] = hash!;
            }

            return hashes;
        }

        /// <summary>Reads "ALGO (name) = hex" (BSD style) or "[XXH3_]hex  name" (GNU style).</summary>
        internal static bool TryParseLine(string line, out string? name, out string? hash)
        {
            Match match = BsdLinePattern().Match(line);
            if (!match.Success)
            {
                match = GnuLinePattern().Match(line);
            }

            name = match.Success ? match.Groups["name"].Value : null;
            hash = match.Success ? match.Groups["hash"].Value.ToLowerInvariant() : null;
            return match.Success;
        }

        public void Dispose()
        {
            if (_corpus.IsValueCreated)
            {
                Directory.Delete(_corpus.Value.Directory, recursive: true);
            }
        }

        private static (string Directory, List<Entry> Files) Write()
        {
            string directory = Directory.CreateTempSubdirectory("omnistore-xxh3-").FullName;
            var random = new Random(0xC0FFEE);
            IEnumerable<int> lengths = Enumerable.Range(0, MaxDenseLength + 1)
                .Concat(Enumerable.Range(0, 5).Select(_ => random.Next(MaxDenseLength + 1, LargeLength)))
                .Append(LargeLength);

            var files = new List<Entry>();
            foreach (int length in lengths)
            {
                var entry = new Entry(string.Create(CultureInfo.InvariantCulture, $"{files.Count:D5}.bin"), length % 61, length);
                File.WriteAllBytes(Path.Combine(directory, entry.Name), s_data.AsSpan(entry.Offset, entry.Length));
                files.Add(entry);
            }

            return (directory, files);
        }

        private static string? FindExecutable()
        {
            string[] directories = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
            return directories.Select(d => Path.Combine(d, "xxhsum")).FirstOrDefault(File.Exists);
        }

        private static (int ExitCode, string Output, string Error) Execute(string executable, string workingDirectory, IEnumerable<string> arguments)
        {
            var start = new ProcessStartInfo(executable)
            {
                WorkingDirectory = workingDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                StandardOutputEncoding = Encoding.UTF8,
            };
            foreach (string argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            using Process process = Process.Start(start)!;

            // Drain stderr concurrently: a full pipe would otherwise block xxhsum forever.
            Task<string> error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output, error.GetAwaiter().GetResult());
        }

        [GeneratedRegex(@"xxhsum\s+v?(\d+)\.(\d+)\.(\d+)", RegexOptions.CultureInvariant)]
        private static partial Regex VersionPattern();

        [GeneratedRegex(@"^(XXH\w+) \(", RegexOptions.CultureInvariant)]
        private static partial Regex TagPattern();

        [GeneratedRegex(@"^XXH\w+ \((?<name>.+)\) = (?<hash>[0-9A-Fa-f]+)$", RegexOptions.CultureInvariant)]
        private static partial Regex BsdLinePattern();

        [GeneratedRegex(@"^(?:XXH\w+?_)?(?<hash>[0-9A-Fa-f]+) [ *](?<name>.+)$", RegexOptions.CultureInvariant)]
        private static partial Regex GnuLinePattern();

        internal sealed record Entry(string Name, int Offset, int Length);
    }
}
