using System.CommandLine;
using System.Text;
using OmniStore.Cli.Commands;
using OmniStore.Cli.Configuration;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Operations;

/// <summary>
/// <c>omnistore relay --config FILE</c>: every option is a key; a value comes from the default, the
/// file, the command line and an <c>OMNISTORE_*</c> variable, each over the one before; the file is
/// checked as hostile input, and a mistake names the file, line and key (docs/operations.md,
/// "Configuration file"). Parsed in this process, except where the command itself is the point.
/// </summary>
public sealed class ConfigurationTests : IDisposable
{
    /// <summary>
    /// A value for every key, as command-line tokens (one per element of a list). A new option of
    /// <c>omnistore relay</c> fails <see cref="EveryRelayOption_IsAKey_WithASample_AndDocumented"/>
    /// until it has one here, and then is checked by every test below that walks the keys.
    /// </summary>
    private static readonly Dictionary<string, string[]> Samples = new()
    {
        ["listen"] = ["tcp://127.0.0.1:7070", "tcp://127.0.0.2:7070"],
        ["parent"] = ["tcp://127.0.0.1:7071"],
        ["node-id"] = ["relay-a"],
        ["rendezvous"] = ["rudp://127.0.0.1:7072"],
        ["port-mapping"] = ["true"],
        ["site"] = ["cluster-a"],
        ["data-dir"] = ["/srv/omnistore/node"],
        ["cache-size"] = ["200G"],
        ["secret-file"] = ["/etc/omnistore/tree.secret"],
        ["relay-secret-file"] = ["/etc/omnistore/relay.secret"],
        ["open-relays"] = ["true"],
        ["update-timeout"] = ["5s"],
        ["late-relay-cooldown"] = ["20s"],
        ["max-late-relay-cooldown"] = ["20m"],
        ["verify-interval"] = ["24h"],
        ["status-listen"] = ["http://127.0.0.1:9100"],
        ["otlp"] = ["http://127.0.0.1:4318"],
        ["child-upstream-limit"] = ["8"],
        ["child-miss-rate"] = ["50"],
        ["child-miss-burst"] = ["60"],
        ["max-connections"] = ["1000"],
        ["max-connections-per-address"] = ["100"],
        ["max-handshakes"] = ["64"],
        ["handshake-timeout"] = ["5s"],
        ["keepalive-interval"] = ["15s"],
        ["idle-timeout"] = ["45s"],
        ["memory-budget"] = ["512M"],
        ["max-connection-receive"] = ["64M"],
        ["checkpoint-interval"] = ["1m"],
        ["checkpoint-bytes"] = ["1G"],
        ["log-level"] = ["Debug"],
        ["log-format"] = ["json"],
        ["log-summary-interval"] = ["30s"],
        ["tls-cert"] = ["/etc/omnistore/node.pem"],
        ["tls-key"] = ["/etc/omnistore/node.key"],
        ["tls-ca"] = ["/etc/omnistore/ca.pem"],
        ["tls-crl"] = ["/etc/omnistore/ca.crl"],
    };

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static IReadOnlyList<ConfigurationKey> RelayKeys => ConfigurationKey.For(RelayCommand.Create());

    [Fact]
    public void EveryRelayOption_IsAKey_WithASample_AndDocumented()
    {
        var relay = RelayCommand.Create();
        var keys = ConfigurationKey.For(relay);
        string operations = RepositoryFiles.Read("docs/operations.md");

        // Every option but --config (and the help, which is the root's) is a key of its own name.
        Assert.Equal(relay.Options.Where(o => o is not ConfigFileOption).Select(o => o.Name), keys.Select(k => k.Flag));
        Assert.Single(relay.Options.OfType<ConfigFileOption>());
        foreach (var key in keys)
        {
            Assert.Equal(key.Flag, "--" + key.Name);
            Assert.Equal("OMNISTORE_" + key.Name.ToUpperInvariant().Replace('-', '_'), key.Variable);
            Assert.True(Samples.ContainsKey(key.Name), $"{key.Flag} has no sample value in {nameof(ConfigurationTests)}.{nameof(Samples)}: add one, so that its key is tested.");
            Assert.True(operations.Contains($"`{key.Flag}", StringComparison.Ordinal), $"docs/operations.md does not list {key.Flag} among the relay's options (the configuration file's keys).");
        }

        Assert.Empty(Samples.Keys.Except(keys.Select(k => k.Name)));
        Assert.Contains("`--config FILE`", operations, StringComparison.Ordinal);
    }

    [Fact]
    public void ConfigShow_TakesEveryOptionOfTheRelay()
    {
        var show = ConfigCommand.Create().Subcommands.Single(c => c.Name == "show");

        Assert.Equal(RelayCommand.Create().Options.Select(o => o.Name), show.Options.Select(o => o.Name));
    }

    [Fact]
    public void AFile_AndVariables_GiveEveryKeyTheValueItsFlagGives()
    {
        var keys = RelayKeys;
        string file = Write("all.toml", string.Join("\n", keys.Select(k => $"{k.Name} = {Toml(k, Samples[k.Name])}")));
        string[] flags = [.. keys.SelectMany(k => Samples[k.Name].Select(v => $"--{k.Name}={v}"))];
        var environment = keys.ToDictionary(k => k.Variable, k => string.Join(",", Samples[k.Name]));

        var fromFlags = RelayParse.Parse(null, ["relay", .. flags]);
        var fromFile = RelayParse.Parse(null, "relay", "--config", file);
        var fromVariables = RelayParse.Parse(environment, "relay");

        Assert.True(fromFlags.Errors.Count == 0, RelayParse.Errors(fromFlags));
        Assert.True(fromFile.Errors.Count == 0, RelayParse.Errors(fromFile));
        Assert.True(fromVariables.Errors.Count == 0, RelayParse.Errors(fromVariables));
        foreach (var key in keys)
        {
            string? expected = RelayParse.ValueOf(fromFlags, key.Name);
            Assert.False(string.IsNullOrEmpty(expected), $"{key.Flag}: the sample gave no value");
            Assert.True(expected == RelayParse.ValueOf(fromFile, key.Name), $"{key.Name} from the file: {RelayParse.ValueOf(fromFile, key.Name)}, from the flag: {expected}");
            Assert.True(expected == RelayParse.ValueOf(fromVariables, key.Name), $"{key.Variable}: {RelayParse.ValueOf(fromVariables, key.Name)}, from the flag: {expected}");
            Assert.Equal(ConfigurationSource.File, RelayConfiguration.Of(fromFile)!.Values[key.Name].Source);
            Assert.Equal(ConfigurationSource.Environment, RelayConfiguration.Of(fromVariables)!.Values[key.Name].Source);
        }
    }

    [Fact]
    public void AValue_ComesFromTheVariable_ElseTheFlag_ElseTheFile_ElseTheDefault()
    {
        string file = Write("relay.toml", "listen = \"tcp://127.0.0.1:0\"\nsite = \"from-file\"\nmax-handshakes = 10\n");
        const string site = "site", handshakes = "max-handshakes", perAddress = "max-connections-per-address";

        var fileOnly = RelayParse.Parse(null, "relay", "--config", file);
        var withFlag = RelayParse.Parse(null, "relay", "--config", file, "--site", "from-flag", "--max-handshakes", "20");
        var withVariable = RelayParse.Parse(new Dictionary<string, string> { ["OMNISTORE_SITE"] = "from-variable", ["OMNISTORE_MAX_HANDSHAKES"] = " " }, "relay", "--config", file, "--site", "from-flag");

        Assert.Equal("from-file", RelayParse.ValueOf(fileOnly, site));
        Assert.Equal("10", RelayParse.ValueOf(fileOnly, handshakes));
        Assert.Equal("256", RelayParse.ValueOf(fileOnly, perAddress)); // the default
        Assert.Equal("from-flag", RelayParse.ValueOf(withFlag, site));
        Assert.Equal("20", RelayParse.ValueOf(withFlag, handshakes));
        Assert.Equal("from-variable", RelayParse.ValueOf(withVariable, site));
        Assert.Equal("10", RelayParse.ValueOf(withVariable, handshakes)); // a variable of spaces is not set
        var sources = RelayConfiguration.Of(withVariable)!;
        Assert.Equal("$OMNISTORE_SITE", sources.Values["site"].Origin);
        Assert.Equal($"{file} line 1", sources.Values["listen"].Origin);
        Assert.False(sources.Values.ContainsKey("max-connections-per-address"));
        Assert.Equal($"file {file}: listen, max-handshakes; environment: OMNISTORE_SITE", sources.Summary);
    }

    [Fact]
    public void TheRelaySecretVariable_StillSetsTheRelaySecret_NowOverTheFlag()
    {
        const string relaySecret = "relay-secret-file";
        var environment = new Dictionary<string, string> { [RelayCommand.RelaySecretVariable] = "/from/variable" };

        Assert.Equal("/from/variable", RelayParse.ValueOf(RelayParse.Parse(environment, "relay", "--listen", "tcp://127.0.0.1:0"), relaySecret));
        Assert.Equal("/from/variable", RelayParse.ValueOf(RelayParse.Parse(environment, "relay", "--listen", "tcp://127.0.0.1:0", "--relay-secret-file", "/from/flag"), relaySecret));
    }

    [Theory]
    [InlineData("cach-size = \"1G\"", "line 2: unknown key 'cach-size' (did you mean 'cache-size'?)")]
    [InlineData("tls.cert = \"x\"", "line 2: unknown key 'tls.cert'")]
    [InlineData("[tls]\ncert = \"x\"", "line 2: a table ([tls]) is not a setting")]
    [InlineData("site = \"a\"\nsite = \"b\"", "line 3: The key `site` is already defined")]
    [InlineData("site = ", "line 2: Unexpected token end-of-line")]
    [InlineData("cache-size = true", "line 2: cache-size is a size: a string such as \"200G\"")]
    [InlineData("max-connections = \"ten\"", "line 2: max-connections is an integer, such as 16; found a string.")]
    [InlineData("open-relays = \"yes\"", "line 2: open-relays is true or false; found a string.")]
    [InlineData("idle-timeout = 30", "line 2: idle-timeout is a duration: a string with its unit")]
    [InlineData("listen = 7070", "line 2: listen is an array of strings")]
    [InlineData("listen = []", "line 2: listen is an empty array")]
    [InlineData("site = \"a\\u0007b\"", "line 2: the value of site holds a control character ('a\\x07b')")]
    [InlineData("cache-size = -1", "line 2: cache-size is a size")]
    [InlineData("cache-size = \"10M\"\nparent = \"tcp://127.0.0.1:7070\"", "line 2: cache-size: 10M is too small; a store needs at least 128.0 MiB.")]
    [InlineData("max-connections = 0", "line 2: max-connections: '0' is not a count of at least 1.")]
    [InlineData("handshake-timeout = \"1h\"", "line 2: handshake-timeout: '1h' is not a duration above 0 and at most 10s")]
    [InlineData("site = \"no spaces\"", "line 2: site: the site name 'no spaces' holds ' '")]
    public async Task AWrongFile_IsAUsageError_NamingTheFileLineAndKey(string lines, string expected)
    {
        string file = Write("relay.toml", $"# a relay\n{lines}\n");

        var result = await CliRunner.RunAsync(["config", "show", "--config", file, "--listen", "tcp://127.0.0.1:0"], _dir.Sub("data"));

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        string line = Assert.Single(result.ErrorLines);
        Assert.StartsWith($"omnistore: error: {file} ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public void HostileFiles_AreRefused_WithoutReadingThemWhole()
    {
        string big = Write("big.toml", "# " + new string('x', ConfigurationFile.MaxFileBytes) + "\n");
        string binary = _dir.Sub("binary.toml");
        File.WriteAllBytes(binary, [0xFF, 0xFE, 0x00, 0x41]);
        string longValue = Write("long.toml", $"site = \"{new string('a', ConfigurationFile.MaxValueLength + 1)}\"\n");

        Assert.Contains("a configuration file is at most 1024 KiB", Usage(() => RelayParse.Parse(null, "relay", "--config", big)), StringComparison.Ordinal);
        Assert.Contains("a configuration file is UTF-8 text", Usage(() => RelayParse.Parse(null, "relay", "--config", binary)), StringComparison.Ordinal);
        Assert.Contains("the value of site is 4097 characters long; at most 4096", Usage(() => RelayParse.Parse(null, "relay", "--config", longValue)), StringComparison.Ordinal);
        Assert.Contains("/dev/zero: not a regular file", Assert.Throws<IOException>(() => RelayParse.Parse(null, "relay", "--config", "/dev/zero")).Message, StringComparison.Ordinal);
        Assert.Contains("it does not exist", Assert.Throws<IOException>(() => RelayParse.Parse(null, "relay", "--config", _dir.Sub("missing.toml"))).Message, StringComparison.Ordinal);
        Assert.Contains("$OMNISTORE_OPEN_RELAYS: 'maybe' is not true or false", Usage(() => RelayParse.Parse(new Dictionary<string, string> { ["OMNISTORE_OPEN_RELAYS"] = "maybe" }, "relay")), StringComparison.Ordinal);
        Assert.Contains("$OMNISTORE_LISTEN: an empty element", Usage(() => RelayParse.Parse(new Dictionary<string, string> { ["OMNISTORE_LISTEN"] = "tcp://127.0.0.1:1,,tcp://127.0.0.1:2" }, "relay")), StringComparison.Ordinal);

        static string Usage(Action parse) => Assert.Throws<UsageException>(parse).Message;
    }

    [Fact]
    public void AValueStartingWithADashOrAnAt_IsAValue_NotAnOptionOrAResponseFile()
    {
        string file = Write("relay.toml", "listen = \"tcp://127.0.0.1:0\"\nsite = \"--listen\"\ndata-dir = \"@store\"\n");

        var parsed = RelayParse.Parse(null, "relay", "--config", file);

        Assert.True(parsed.Errors.Count == 0, RelayParse.Errors(parsed));
        Assert.Equal("--listen", RelayParse.ValueOf(parsed, "site"));
        Assert.Equal(_dir.Sub("@store"), RelayParse.ValueOf(parsed, "data-dir"));
    }

    [Fact]
    public void RelativePaths_AreRelativeToTheFilesFolder_OnTheCommandLineToTheWorkingDirectory()
    {
        Directory.CreateDirectory(_dir.Sub("etc"));
        string file = Write("etc/relay.toml", "listen = \"tcp://127.0.0.1:0\"\nsecret-file = \"tree.secret\"\ndata-dir = \"../var/node\"\n");

        var parsed = RelayParse.Parse(null, "relay", "--config", file, "--relay-secret-file", "relay.secret");

        Assert.True(parsed.Errors.Count == 0, RelayParse.Errors(parsed));
        Assert.Equal(Path.Combine(_dir.Path, "etc", "tree.secret"), RelayParse.ValueOf(parsed, "secret-file"));
        Assert.Equal(Path.Combine(_dir.Path, "var", "node"), RelayParse.ValueOf(parsed, "data-dir"));
        Assert.Equal("relay.secret", RelayParse.ValueOf(parsed, "relay-secret-file"));
    }

    [Fact]
    public async Task ConfigShow_PrintsEveryKeyWithItsSource_AsAFileThatGivesTheSameSettings()
    {
        string file = Write("relay.toml", "# relay A\nlisten = [\"tcp://127.0.0.1:0\"]\nparent = \"tcp://127.0.0.1:7070\"\ncache-size = \"1G\"\nopen-relays = true\nmax-connections = 100\n");
        var environment = new Dictionary<string, string?> { ["OMNISTORE_SITE"] = "cluster-b" };

        var shown = await CliRunner.RunAsync(["config", "show", "--config", file, "--log-level", "Debug", "--site", "ignored"], _dir.Sub("data"), environment: environment);

        Assert.True(shown.ExitCode == 0, shown.ToString());
        var lines = shown.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var key in RelayKeys)
        {
            Assert.Single(lines, l => l.StartsWith($"{key.Name} = ", StringComparison.Ordinal) || l.StartsWith($"# {key.Name} ", StringComparison.Ordinal));
        }

        Assert.Contains(lines, l => l.StartsWith("listen = [\"tcp://127.0.0.1:0\"]", StringComparison.Ordinal) && l.EndsWith($"# file, {file} line 2", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("cache-size = \"1G\"", StringComparison.Ordinal) && l.EndsWith($"# file, {file} line 4", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("open-relays = true ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("max-connections = 100 ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("log-level = \"Debug\"", StringComparison.Ordinal) && l.EndsWith("# flag --log-level", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("site = \"cluster-b\"", StringComparison.Ordinal) && l.EndsWith("# environment $OMNISTORE_SITE", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("# max-handshakes = 128 ", StringComparison.Ordinal) && l.EndsWith("# default", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("# handshake-timeout = \"10s\" ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("# tls-cert is not set ", StringComparison.Ordinal));
        Assert.Empty(shown.StandardError);

        // The output, read back as a file, sets what was set.
        string again = Write("again.toml", shown.Output);
        var original = RelayParse.Parse(new Dictionary<string, string> { ["OMNISTORE_SITE"] = "cluster-b" }, "relay", "--config", file, "--log-level", "Debug");
        var reread = RelayParse.Parse(null, "relay", "--config", again);
        Assert.True(reread.Errors.Count == 0, RelayParse.Errors(reread));
        Assert.Equal("cluster-b", RelayParse.ValueOf(reread, "site"));
        foreach (var key in RelayKeys)
        {
            Assert.Equal(RelayParse.ValueOf(original, key.Name), RelayParse.ValueOf(reread, key.Name));
        }
    }

    [Fact]
    public async Task ARelay_StartedFromAFile_RunsWithItsSettings_AndLogsWhereTheyCameFrom()
    {
        string file = Write("root.toml", $"listen = [\"tcp://127.0.0.1:0\"]\nsite = \"from-file\"\ndata-dir = \"root\"\n");

        await using var root = await DaemonProcess.StartAsync(_dir.Sub("data"), new Dictionary<string, string?> { ["OMNISTORE_LOG_FORMAT"] = "json" }, "--config", file, "--status-listen", "http://127.0.0.1:0");
        var status = await CliRunner.RunAsync(["status", "--relay", root.StatusUrl!, "--json"], _dir.Sub("data"));
        Assert.Equal(0, await root.TerminateAsync());

        Assert.True(status.ExitCode == 0, status.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(status.Output);
        Assert.Equal("from-file", json.RootElement.GetProperty("site").GetString());
        Assert.True(Directory.Exists(_dir.Sub("root")), "the store is not in the data-dir the file names, relative to it");
        string logged = root.StandardError.Split('\n').First(l => l.Contains("\"eventId\":4009", StringComparison.Ordinal));
        using var configuration = System.Text.Json.JsonDocument.Parse(logged);
        Assert.Equal($"Configuration: file {file}: listen, site, data-dir; command line: --status-listen; environment: OMNISTORE_LOG_FORMAT", configuration.RootElement.GetProperty("message").GetString());
    }

    /// <summary>A sample's tokens as the value of a TOML key of its kind.</summary>
    private static string Toml(ConfigurationKey key, string[] tokens) => key.Kind switch
    {
        ConfigurationValueKind.List => $"[{string.Join(", ", tokens.Select(ConfigurationText.Quote))}]",
        ConfigurationValueKind.Boolean or ConfigurationValueKind.Integer => tokens[0],
        _ => ConfigurationText.Quote(tokens[0]),
    };

    private string Write(string name, string text)
    {
        string path = _dir.Sub(name);
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }
}
