using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OmniStore.Cli.Bench;
using OmniStore.Transport;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore bench staging</c>: the staging benchmark (docs/benchmarks.md). <c>bench master</c>
/// and <c>bench worker</c> are the processes it starts; they are hidden from help. <c>bench small</c>
/// and <c>bench gather</c> are load generators for small objects against a running node
/// (docs/performance.md, "Small objects against Redis"). <c>bench link</c> measures one transport's
/// bulk goodput and CPU cost between two hosts, like iperf3 (docs/performance.md, "Reliable UDP
/// against TCP").
/// </summary>
internal static class BenchCommand
{
    public static Command Create() => new("bench", "Benchmarks that compare OmniStore with direct transfer")
    {
        Staging(),
        Report(),
        Small(),
        Gather(),
        Link(),
        Master(),
        Worker(),
    };

    private static Command Staging()
    {
        var loopback = new Option<bool>("--loopback") { Description = "Run on 127.0.0.1 without namespaces (no root needed); the WAN is NOT shaped" };
        var size = SizeOptions.Size("--size", StagingSettings.DefaultSize, 1, StagingData.MaxSize, "Bytes every worker gets (default 50000000, the seed's 50 MB)");
        var sites = new Option<int>("--sites") { Description = "Worker sites, each with a relay", DefaultValueFactory = _ => 2 };
        var workers = new Option<string>("--workers") { Description = "Worker counts to sweep, comma-separated", DefaultValueFactory = _ => string.Join(',', StagingSettings.DefaultWorkers), HelpName = "LIST" };
        var modes = new Option<string>("--modes") { Description = "Modes to run: direct, relay, relay+broadcast (comma-separated)", DefaultValueFactory = _ => "direct,relay,relay+broadcast", HelpName = "LIST" };
        var rate = new Option<string>("--rate") { Description = "Rate of every WAN link (the lab)", DefaultValueFactory = _ => "100mbit", HelpName = "RATE" };
        var rtt = new Option<string>("--rtt") { Description = "Round trip between two sites (the lab)", DefaultValueFactory = _ => "40ms", HelpName = "TIME" };
        var jitter = new Option<string>("--jitter") { Description = "Delay jitter of each WAN link, each way (the lab)", DefaultValueFactory = _ => "0ms", HelpName = "TIME" };
        var loss = new Option<double>("--loss") { Description = "Packet loss of each WAN link, each way, 0..1 (the lab)", DefaultValueFactory = _ => 0 };
        var results = new Option<string>("--results") { Description = "Where the table (.md) and chart (.svg) go", DefaultValueFactory = _ => Path.Combine("bench", "results"), HelpName = "DIR" };
        var duplicate = new Option<double>("--duplicate") { Description = "Share of packets each WAN link delivers twice, each way, 0..1 (the lab)", DefaultValueFactory = _ => 0 };
        var reorder = new Option<double>("--reorder") { Description = "Share of packets each WAN link holds back 1 ms so later ones overtake them, each way, 0..1 (the lab)", DefaultValueFactory = _ => 0 };
        var transport = new Option<string>("--transport") { Description = "The transport of every link: tcp or rudp (reliable UDP), or either under TLS (a CA made for the run, a certificate per node and one for the participants)", DefaultValueFactory = _ => "tcp", HelpName = "tcp|rudp|tls+tcp|tls+rudp" };
        transport.AcceptOnlyFromAmong("tcp", "rudp", "tls+tcp", "tls+rudp");
        var nat = new Option<bool>("--nat") { Description = "Put the master's site and every site behind a cone NAT (the lab, --transport rudp): the root registers as \"master\" at an omnistore rendezvous in a public site of its own, and every node reaches it by name (docs/nat.md)" };

        var command = new Command("staging", "The master puts an object; workers over several sites get it: direct from the root, through their site's relay, or pre-staged by broadcast. Reports time, WAN bytes, CPU and the physical floor.")
        {
            loopback, size, sites, workers, modes, rate, rtt, jitter, loss, duplicate, reorder, results, transport, nat,
        };

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            var settings = new StagingSettings
            {
                Loopback = parseResult.GetValue(loopback),
                Size = parseResult.GetValue(size),
                Sites = Positive(parseResult.GetValue(sites), "--sites", 16),
                Workers = ParseList<int>(parseResult.GetValue(workers)!, "--workers", text => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is > 0 and <= 256 ? n : null),
                Modes = ParseList<StagingMode>(parseResult.GetValue(modes)!, "--modes", text => StagingModes.TryParse(text, out var m) ? m : (StagingMode?)null),
                RateBitsPerSecond = LinkUnits.TryParseRate(parseResult.GetValue(rate)!, out long bits) ? bits : throw new UsageException($"--rate: '{parseResult.GetValue(rate)}' is not a rate such as 100mbit."),
                RoundTrip = Duration(parseResult.GetValue(rtt)!, "--rtt"),
                Jitter = Duration(parseResult.GetValue(jitter)!, "--jitter"),
                Loss = parseResult.GetValue(loss) is >= 0 and < 1 and var l ? l : throw new UsageException("--loss must be at least 0 and below 1."),
                Duplicate = parseResult.GetValue(duplicate) is >= 0 and <= 1 and var d ? d : throw new UsageException("--duplicate must be from 0 to 1."),
                Reorder = parseResult.GetValue(reorder) is >= 0 and <= 1 and var r ? r : throw new UsageException("--reorder must be from 0 to 1."),
                ResultsDirectory = parseResult.GetValue(results)!,
                Transport = parseResult.GetValue(transport)!,
                BehindNat = parseResult.GetValue(nat),
                CommandLine = "omnistore " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1).SkipWhile(a => a.EndsWith(".dll", StringComparison.Ordinal))),
            };

            if (settings.BehindNat && (settings.Loopback || settings.Transport != "rudp"))
            {
                throw new UsageException("--nat needs the lab (no --loopback) and --transport rudp: nodes behind NAT are reached over rudp.");
            }

            await using var topology = settings.Loopback
                ? new LoopbackTopology(settings.Sites)
                : await LabStagingTopology.CreateAsync(settings, cancellationToken);
            return await StagingBenchmark.RunAsync(settings, topology, Console.Out, cancellationToken);
        });

        return command;
    }

    private static Command Report()
    {
        var file = new Argument<string>("RESULTS") { Description = "A staging sweep's .json results" };
        var command = new Command("report", "Redraw a staging sweep's table (.md) and chart (.svg) from its .json results") { file };
        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string path = parseResult.GetRequiredValue(file);
            StagingResultsFile results;
            try
            {
                results = StagingResultsJson.Deserialize(await File.ReadAllTextAsync(path, cancellationToken));
            }
            catch (System.Text.Json.JsonException ex)
            {
                throw new UsageException($"{path} is not a staging benchmark's results: {ex.Message}");
            }

            string stem = Path.ChangeExtension(path, null);
            await StagingBenchmark.WriteReportAsync(stem, results, cancellationToken);
            Console.Out.WriteLine($"wrote {stem}.md, {stem}.svg");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Small()
    {
        var relay = new Option<string>("--relay") { Description = "The node the clients connect to, tcp://HOST:PORT (a relay, or a root)", HelpName = "URI", Required = true, Validators = { NodeAddressOptions.Validate } };
        var operation = new Option<string>("--op") { Description = "What every client does back to back: get (objects put first, read at random) or put (distinct names, each acknowledged once durable)", DefaultValueFactory = _ => "get", HelpName = "get|put" };
        operation.AcceptOnlyFromAmong("get", "put");
        var clients = new Option<int>("--clients") { Description = "Clients, each with a connection of its own, one operation at a time", DefaultValueFactory = _ => SmallObjectSettings.DefaultClients };
        var size = SizeOptions.Size("--size", SmallObjectSettings.DefaultSize, 1, SmallObjectSettings.MaxSize, "Bytes of every object");
        var operations = new Option<int>("--ops") { Description = "The most operations of the run, over all clients", DefaultValueFactory = _ => SmallObjectSettings.DefaultOperations };
        var seconds = new Option<double>("--seconds") { Description = "The longest the run lasts (it ends at --ops or here, whichever comes first)", DefaultValueFactory = _ => SmallObjectSettings.DefaultDuration.TotalSeconds };
        var keys = new Option<int>("--keys") { Description = "Objects a get run puts first and then reads at random", DefaultValueFactory = _ => SmallObjectSettings.DefaultKeys };
        var secret = SecretOption();
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object (latencies in microseconds)" };
        var command = new Command("small", "Small objects at a key-value store's pace: N clients, each with a connection of its own, get or put objects back to back; reports operations per second and p50, p99 and max latency (like redis-benchmark -c 16 -d 4096)")
        {
            relay, operation, clients, size, operations, seconds, keys, secret, json,
        };

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            var settings = new SmallObjectSettings
            {
                Relay = parseResult.GetRequiredValue(relay),
                Operation = parseResult.GetValue(operation) == "put" ? SmallObjectOperation.Put : SmallObjectOperation.Get,
                Clients = parseResult.GetValue(clients),
                Size = (int)parseResult.GetValue(size),
                Operations = parseResult.GetValue(operations),
                Duration = Seconds(parseResult.GetValue(seconds), "--seconds"),
                Keys = parseResult.GetValue(keys),
                SharedSecret = Secret(parseResult.GetValue(secret)),
            };
            settings.Validate();

            var result = await SmallObjectBenchmark.RunAsync(settings, Console.Error, cancellationToken);
            return Report(parseResult.GetValue(json), result.WriteJson, result.WriteText, result.Errors, result.FirstErrorKind);
        });
        return command;
    }

    private static Command Gather()
    {
        var relay = new Option<string>("--relay") { Description = "The node the workers put through, tcp://HOST:PORT (a relay)", HelpName = "URI", Required = true, Validators = { NodeAddressOptions.Validate } };
        var master = new Option<string?>("--master") { Description = "The node the master gets from, tcp://HOST:PORT (default: --relay)", HelpName = "URI", Validators = { NodeAddressOptions.Validate } };
        var workers = new Option<int>("--workers") { Description = "Workers, each with a connection of its own, putting their shares at once", DefaultValueFactory = _ => GatherSettings.DefaultWorkers };
        var results = new Option<int>("--results") { Description = "Result objects over all workers", DefaultValueFactory = _ => GatherSettings.DefaultResults };
        var size = SizeOptions.Size("--size", SmallObjectSettings.DefaultSize, sizeof(int), SmallObjectSettings.MaxSize, "Bytes of every result");
        var concurrency = new Option<int>("--master-concurrency") { Description = "Gets the master keeps in flight on its connection", DefaultValueFactory = _ => GatherSettings.DefaultMasterConcurrency };
        var seconds = new Option<double>("--seconds") { Description = "The longest the run may take; past it, it fails", DefaultValueFactory = _ => GatherSettings.DefaultTimeLimit.TotalSeconds };
        var secret = SecretOption();
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object (latencies in microseconds)" };
        var command = new Command("gather", "A master gathering small results from many workers: the workers put their results at once (each acknowledged once durable), then the master gets every one; reports both phases' wall time and objects per second")
        {
            relay, master, workers, results, size, concurrency, seconds, secret, json,
        };

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            var settings = new GatherSettings
            {
                Relay = parseResult.GetRequiredValue(relay),
                Master = parseResult.GetValue(master),
                Workers = parseResult.GetValue(workers),
                Results = parseResult.GetValue(results),
                Size = (int)parseResult.GetValue(size),
                MasterConcurrency = parseResult.GetValue(concurrency),
                TimeLimit = Seconds(parseResult.GetValue(seconds), "--seconds"),
                SharedSecret = Secret(parseResult.GetValue(secret)),
            };
            settings.Validate();

            var result = await GatherBenchmark.RunAsync(settings, cancellationToken);
            return Report(parseResult.GetValue(json), result.WriteJson, result.WriteText, result.Errors, result.FirstErrorKind);
        });
        return command;
    }

    private static Command Link()
    {
        var listen = new Option<string?>("--listen") { Description = "Be the server: accept connections on SCHEME://HOST:PORT (tcp or rudp; port 0 picks one, printed as \"listening on ...\") and discard what they send", HelpName = "URI", Validators = { NodeAddressOptions.Validate } };
        var connect = new Option<string?>("--connect") { Description = "Be the client: connect to the server at SCHEME://HOST:PORT and send as fast as the transport takes it", HelpName = "URI", Validators = { NodeAddressOptions.Validate } };
        var seconds = new Option<double>("--seconds") { Description = "How long the client sends", DefaultValueFactory = _ => LinkSettings.DefaultSeconds };
        var bytes = new Option<long>("--bytes") { Description = "Send this many bytes on every connection instead of sending for --seconds", HelpName = "SIZE", CustomParser = result => ByteSize.TryParse(result.Tokens.Count > 0 ? result.Tokens[0].Value : "", out long n, out string? problem) ? n : Fail(result, problem) };
        var parallel = new Option<int>("--parallel") { Description = "Connections at once, each with its own stream; reports each one's goodput and Jain's fairness index", DefaultValueFactory = _ => 1 };
        var once = new Option<bool>("--once") { Description = "The server exits once the first client's connections have all ended" };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object (the server: one per connection)" };
        var command = new Command("link", "A transport benchmark like iperf3: a server (--listen) reads and discards; a client (--connect) sends for --seconds and reports goodput (bytes the server read), both ends' CPU seconds per GB, and for rudp the transport's state at the end (RTT, loss, path MTU, congestion). OMNISTORE_RUDP_CC=cubic selects rudp's CUBIC.")
        {
            listen, connect, seconds, bytes, parallel, once, json,
        };

        // Which end this is, and the options that belong to it: checked while parsing, so a wrong mix is a usage error.
        command.Validators.Add(result =>
        {
            bool given(Option option) => result.GetResult(option) is { Implicit: false };
            if (given(listen) == given(connect))
            {
                result.AddError("bench link needs exactly one of --listen (the server) and --connect (the client).");
                return;
            }

            if (given(listen))
            {
                foreach (var clientOnly in new Option[] { seconds, bytes, parallel })
                {
                    if (given(clientOnly))
                    {
                        result.AddError($"{clientOnly.Name} is for the client (--connect), not the server (--listen).");
                    }
                }
            }
            else if (given(once))
            {
                result.AddError("--once is for the server (--listen), not the client (--connect).");
            }

            if (given(seconds) && given(bytes))
            {
                result.AddError("--seconds and --bytes cannot be given together: the client sends for a time or a number of bytes.");
            }
        });

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            bool given(Option option) => parseResult.GetResult(option) is { Implicit: false };
            bool server = parseResult.GetValue(listen) is not null;
            var settings = new LinkSettings
            {
                Listen = parseResult.GetValue(listen) is { } l ? NodeAddress.Parse(l) : null,
                Connect = parseResult.GetValue(connect) is { } c ? NodeAddress.Parse(c) : null,
                Duration = double.IsFinite(parseResult.GetValue(seconds)) && parseResult.GetValue(seconds) > 0 && parseResult.GetValue(seconds) <= LinkSettings.MaxDuration.TotalSeconds
                    ? TimeSpan.FromSeconds(parseResult.GetValue(seconds))
                    : throw new UsageException($"--seconds must be more than 0 and at most {LinkSettings.MaxDuration.TotalSeconds:0}."),
                Bytes = given(bytes) ? parseResult.GetValue(bytes) : null,
                Parallel = parseResult.GetValue(parallel),
                Once = parseResult.GetValue(once),
                Json = parseResult.GetValue(json),
            };
            settings.Validate();

            if (server)
            {
                return await LinkBenchmark.RunServerAsync(settings, Console.Out, cancellationToken);
            }

            var result = await LinkBenchmark.RunClientAsync(settings, cancellationToken);
            if (settings.Json)
            {
                JsonOutput.WriteObject(result.WriteJson);
            }
            else
            {
                result.WriteText(Console.Out);
            }

            return result.BytesMatch
                ? ExitCodes.Success
                : throw new OmniStoreException(OmniStoreError.Corrupt, $"The server read {result.ServerBytes:N0} bytes of the {result.BytesSent:N0} sent.");
        });
        return command;

        static long Fail(System.CommandLine.Parsing.ArgumentResult result, string? problem)
        {
            result.AddError($"--bytes: {problem}.");
            return 0;
        }
    }

    /// <summary>Prints a load run's result as JSON or text; its exit code says whether any operation failed, and how the first did.</summary>
    private static int Report(bool json, Action<Utf8JsonWriter> writeJson, Action<TextWriter> writeText, int errors, OmniStoreError? firstErrorKind)
    {
        if (json)
        {
            JsonOutput.WriteObject(writeJson);
        }
        else
        {
            writeText(Console.Out);
        }

        return errors == 0 ? ExitCodes.Success : ExitCodes.For(firstErrorKind ?? OmniStoreError.Unavailable);
    }

    private static Option<string?> SecretOption() => new("--secret-file")
    {
        Description = "A file holding the tree's shared secret [default: $OMNISTORE_SECRET_FILE]",
        HelpName = "FILE",
        Validators = { CommandLineValidators.NonEmpty },
    };

    /// <summary>The secret in <paramref name="path"/>, else the one <c>$OMNISTORE_SECRET_FILE</c> names, else none.</summary>
    private static byte[]? Secret(string? path) => path is null ? OmniStore.Internal.SecretFile.FromEnvironment() : SecretFile.Read(path);

    /// <summary>A duration in seconds, positive and at most an hour.</summary>
    internal static TimeSpan Seconds(double value, string option) =>
        double.IsFinite(value) && value > 0 && value <= SmallObjectSettings.MaxDuration.TotalSeconds
            ? TimeSpan.FromSeconds(value)
            : throw new UsageException($"{option} must be more than 0 and at most {SmallObjectSettings.MaxDuration.TotalSeconds:0}.");

    private static Command Master()
    {
        var (root, name, size, seed, secret) = ParticipantOptions("--root", "The root to put at, tcp://HOST:PORT");
        var broadcast = new Option<bool>("--broadcast") { Description = "Push the object to every relay during the Put" };
        var command = new Command("master", "A staging run's master: puts the object when told \"go\" on stdin") { Hidden = true };
        foreach (var option in new Option[] { root, name, size, seed, secret, broadcast })
        {
            command.Options.Add(option);
        }

        var tls = new TlsCommandOptions();
        tls.AddTo(command);
        command.SetGuardedAction((parseResult, cancellationToken) => StagingParticipants.RunMasterAsync(
            parseResult.GetRequiredValue(root), parseResult.GetRequiredValue(name), parseResult.GetValue(size), parseResult.GetValue(seed),
            parseResult.GetValue(broadcast), new OmniStoreOptions { SharedSecret = ReadSecret(parseResult.GetValue(secret)), Tls = tls.Read(parseResult) }, cancellationToken));
        return command;
    }

    private static Command Worker()
    {
        var (relay, name, size, seed, secret) = ParticipantOptions("--relay", "The node to get from, tcp://HOST:PORT");
        var count = new Option<int>("--count") { Description = "Workers in this process, one connection each", DefaultValueFactory = _ => 1 };
        var command = new Command("worker", "A staging run's workers: get and verify the object when told \"go\" on stdin") { Hidden = true };
        var rendezvous = new Option<string?>("--rendezvous") { Description = "The rendezvous that finds a node named rudp://NAME", HelpName = "URI" };
        foreach (var option in new Option[] { relay, name, size, seed, secret, count, rendezvous })
        {
            command.Options.Add(option);
        }

        var tls = new TlsCommandOptions();
        tls.AddTo(command);
        command.SetGuardedAction((parseResult, cancellationToken) => StagingParticipants.RunWorkersAsync(
            parseResult.GetRequiredValue(relay), parseResult.GetRequiredValue(name), parseResult.GetValue(size), parseResult.GetValue(seed),
            Positive(parseResult.GetValue(count), "--count", 256), new OmniStoreOptions { SharedSecret = ReadSecret(parseResult.GetValue(secret)), Tls = tls.Read(parseResult), Rendezvous = parseResult.GetValue(rendezvous) }, cancellationToken));
        return command;
    }

    private static (Option<string> Node, Option<string> Name, Option<long> Size, Option<ulong> Seed, Option<string?> Secret) ParticipantOptions(string nodeOption, string nodeDescription) => (
        new Option<string>(nodeOption) { Description = nodeDescription, Required = true, Validators = { NodeAddressOptions.Validate } },
        new Option<string>("--name") { Description = "The object's name", Required = true },
        SizeOptions.Size("--size", StagingSettings.DefaultSize, 1, StagingData.MaxSize, "The object's size"),
        new Option<ulong>("--seed") { Description = "The seed the object's bytes derive from", Required = true },
        new Option<string?>("--secret-file") { Description = "A file holding the tree's shared secret", HelpName = "FILE" });

    private static byte[]? ReadSecret(string? path) => path is null ? null : SecretFile.Read(path);

    private static int Positive(int value, string option, int max) =>
        value >= 1 && value <= max ? value : throw new UsageException($"{option} must be between 1 and {max}.");

    private static TimeSpan Duration(string text, string option) =>
        LinkUnits.TryParseDuration(text, out var duration) ? duration : throw new UsageException($"{option}: '{text}' is not a duration such as 40ms.");

    private static T[] ParseList<T>(string text, string option, Func<string, T?> parse)
        where T : struct
    {
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(item => parse(item) ?? throw new UsageException($"{option}: '{item}' is not valid."))
            .ToArray();
        return items.Length > 0 ? items : throw new UsageException($"{option} is empty.");
    }
}
