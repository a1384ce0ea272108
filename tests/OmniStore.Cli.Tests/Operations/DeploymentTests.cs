using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using OmniStore.Cli.Configuration;
using OmniStore.Cli.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace OmniStore.Cli.Tests.Operations;

/// <summary>
/// The files under deploy/ (docs/operations.md, "Under systemd", "Containers and Kubernetes").
/// What cannot run here (a container build, a cluster) is read: each file parses, and the image,
/// ports, probes, paths, command lines and configurations it uses are ones <c>omnistore</c>
/// accepts, checked with the command's own parser. The systemd units also go through
/// <c>systemd-analyze</c> where it is installed.
/// </summary>
public sealed partial class DeploymentTests : IDisposable
{
    private const string Binary = "/usr/local/bin/omnistore";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Units => new() { "omnistore-root.service", "omnistore-relay@.service" };

    [Theory]
    [MemberData(nameof(Units))]
    public void ASystemdUnit_IsANotifyService_OfADedicatedUser_WithItsStateDirectory_AndHardening(string name)
    {
        var unit = ReadUnit($"deploy/systemd/{name}");

        Assert.Equal("notify", unit["Type"]);
        Assert.Equal("main", unit["NotifyAccess"]);
        Assert.True(int.Parse(unit["WatchdogSec"], System.Globalization.CultureInfo.InvariantCulture) >= 10);
        Assert.Equal("omnistore", unit["User"]);
        Assert.Equal("omnistore", unit["Group"]);
        Assert.StartsWith("omnistore/", unit["StateDirectory"], StringComparison.Ordinal);
        Assert.Equal("SIGTERM", unit["KillSignal"]);
        Assert.Equal(["1", "8"], unit["RestartPreventExitStatus"].Split(' '));
        foreach (var (key, value) in new[] { ("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("PrivateDevices", "yes"), ("CapabilityBoundingSet", ""), ("AmbientCapabilities", ""), ("RestrictSUIDSGID", "yes") })
        {
            Assert.True(unit.TryGetValue(key, out string? set) && set == value, $"{name}: {key}={value} is missing (has '{set}')");
        }

        // The command: the installed binary, the relay with its file, and its store in the state directory.
        string[] command = unit["ExecStart"].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Binary, command[0]);
        Assert.Equal("relay", command[1]);
        Assert.Equal($"%S/{unit["StateDirectory"]}", command[Array.IndexOf(command, "--data-dir") + 1]);
        Assert.Matches(@"^/etc/omnistore/(root|relay-%i)\.toml$", command[Array.IndexOf(command, "--config") + 1]);

        // With a configuration in place of the one the unit names, the command line parses.
        string config = Write("node.toml", "listen = [\"tcp://127.0.0.1:7070\"]\n");
        string[] args = [.. command.Skip(1).Select(a => a.StartsWith("/etc/omnistore/", StringComparison.Ordinal) ? config : a.Replace("%S", "/var/lib", StringComparison.Ordinal).Replace("%i", "a", StringComparison.Ordinal))];
        var parsed = RelayParse.Parse(null, args);
        Assert.True(parsed.Errors.Count == 0, RelayParse.Errors(parsed));

        string sysusers = RepositoryFiles.Read("deploy/systemd/omnistore.sysusers");
        Assert.Matches(@"(?m)^u omnistore - "".+"" /var/lib/omnistore$", sysusers);
    }

    [Fact]
    public async Task TheSystemdUnits_PassSystemdAnalyzeVerify_AndRateOKForSecurity()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && File.Exists("/usr/bin/systemd-analyze"), "systemd-analyze is not installed; the units are checked by reading them above.");

        // verify wants the command to exist: a stand-in in place of the installed binary.
        string stand = Write("omnistore", "#!/bin/sh\nexit 0\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(stand, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        string root = Write("omnistore-root.service", RepositoryFiles.Read("deploy/systemd/omnistore-root.service").Replace(Binary, stand, StringComparison.Ordinal));
        string relay = Write("omnistore-relay@a.service", RepositoryFiles.Read("deploy/systemd/omnistore-relay@.service").Replace(Binary, stand, StringComparison.Ordinal));

        var verify = await RunAsync("systemd-analyze", "verify", root, relay);
        Assert.True(verify.ExitCode == 0 && verify.Output.Length == 0, $"systemd-analyze verify: exit {verify.ExitCode}: {verify.Output}");
        foreach (string unit in new[] { root, relay })
        {
            // 2.5 on systemd's scale of 0 (locked down) to 10; the units rate 1.7, "OK".
            var security = await RunAsync("systemd-analyze", "security", "--offline=yes", "--threshold=25", unit);
            Assert.True(security.ExitCode == 0, $"systemd-analyze security {Path.GetFileName(unit)}: exit {security.ExitCode}: {security.Output[^Math.Min(400, security.Output.Length)..]}");
        }
    }

    [Fact]
    public void TheContainerfile_BuildsInStages_RunsAsNonRoot_WithTheStoreAsAVolume_AndACommandTheCliAccepts()
    {
        var lines = Instructions(RepositoryFiles.Read("deploy/container/Containerfile"));
        var stages = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith("FROM ", StringComparison.Ordinal)).Select(x => x.i).ToList();
        Assert.True(stages.Count >= 2, "not a multi-stage build");
        Assert.Matches(@"^FROM mcr\.microsoft\.com/dotnet/sdk:10\.0 AS build$", lines[stages[0]]);
        var run = lines[stages[^1]..];
        string Instruction(string name) => Assert.Single(run, l => l.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..];

        // Not root, and the same uid that owns the store's folder.
        string user = Instruction("USER");
        Assert.DoesNotMatch(@"^(root|0)(:|$)", user);
        Assert.Contains($"install -d -m 700 -o {user.Split(':')[0]} -g {user.Split(':')[1]} /image/var/lib/omnistore", string.Join('\n', lines), StringComparison.Ordinal);
        string[] volume = JsonSerializer.Deserialize<string[]>(Instruction("VOLUME"))!;
        string[] entrypoint = JsonSerializer.Deserialize<string[]>(Instruction("ENTRYPOINT"))!;
        string[] cmd = JsonSerializer.Deserialize<string[]>(Instruction("CMD"))!;
        Assert.Equal([Binary, "relay"], entrypoint);
        Assert.Equal(["--config", "/etc/omnistore/relay.toml"], cmd);
        Assert.Contains("install -D -m 644 deploy/container/relay.toml /image/etc/omnistore/relay.toml", string.Join('\n', lines), StringComparison.Ordinal);

        // The image's command and configuration parse, as a root and as a relay given its parent by variable.
        string config = RepositoryFiles.PathOf("deploy/container/relay.toml");
        var asRoot = RelayParse.Parse(null, ["relay", "--config", config]);
        var asRelay = RelayParse.Parse(new Dictionary<string, string> { ["OMNISTORE_PARENT"] = "tcp://root.example.org:7070", ["OMNISTORE_CACHE_SIZE"] = "200G", ["OMNISTORE_SITE"] = "cluster-a" }, ["relay", "--config", config]);
        Assert.True(asRoot.Errors.Count == 0, RelayParse.Errors(asRoot));
        Assert.True(asRelay.Errors.Count == 0, RelayParse.Errors(asRelay));
        var values = Values(asRoot);
        Assert.Equal([values["data-dir"]], volume);
        var ports = Instruction("EXPOSE").Split(' ').Select(p => int.Parse(p.Replace("/tcp", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal([Port(values["listen"]), Port(values["status-listen"])], ports);

        // The health check asks the status port with a command line the CLI accepts.
        string health = Instruction("HEALTHCHECK");
        string[] check = JsonSerializer.Deserialize<string[]>(health[(health.IndexOf("CMD ", StringComparison.Ordinal) + 4)..])!;
        Assert.Equal([Binary, "status", "--relay", $"http://127.0.0.1:{Port(values["status-listen"])}", "--check"], check);
        Assert.Empty(OmniStoreCommandLine.Create().Parse(check[1..]).Errors);
    }

    [Fact]
    public void TheKubernetesManifests_Parse_AndUseOneImage_AndThePortsProbesPathsAndCommandsTheCliAccepts()
    {
        var documents = Directory.GetFiles(RepositoryFiles.PathOf("deploy/kubernetes"), "*.yaml").Order(StringComparer.Ordinal)
            .SelectMany(file =>
            {
                var stream = new YamlStream();
                stream.Load(new StringReader(File.ReadAllText(file)));
                return stream.Documents.Select(d => (YamlMappingNode)d.RootNode);
            })
            .ToList();
        foreach (var document in documents)
        {
            Assert.False(string.IsNullOrEmpty(Text(document, "apiVersion")));
            Assert.Equal("omnistore", Text(document, "kind") == "Namespace" ? Text(document, "metadata", "name") : Text(document, "metadata", "namespace"));
        }

        YamlMappingNode Find(string kind, string name) => Assert.Single(documents, d => Text(d, "kind") == kind && Text(d, "metadata", "name") == name);
        var statefulSet = Find("StatefulSet", "omnistore-root");
        var daemonSet = Find("DaemonSet", "omnistore-relay");
        var job = Find("Job", "omnistore-worker-example");
        var rootService = Find("Service", "omnistore-root");
        var relayService = Find("Service", "omnistore-relay");

        // One image, the version this tree builds, as the docs tag it.
        var images = documents.SelectMany(d => Containers(d)).Select(c => Text(c, "image")).Distinct().ToList();
        string image = Assert.Single(images);
        string version = Regex.Match(RepositoryFiles.Read("Directory.Build.props"), "<VersionPrefix>([^<]+)</VersionPrefix>").Groups[1].Value;
        Assert.EndsWith($"/omnistore:{version}", image, StringComparison.Ordinal);
        string operations = RepositoryFiles.Read("docs/operations.md");
        Assert.Contains($"-t omnistore:{version} .", operations, StringComparison.Ordinal);
        Assert.Contains($"podman push {image}", operations, StringComparison.Ordinal);

        // Each node: its configuration parses; its ports, probes, store and secrets are where the configuration says.
        var root = CheckNode(statefulSet, documents, operations);
        var relay = CheckNode(daemonSet, documents, operations);
        Assert.Equal(Text(rootService, "metadata", "name"), Text(statefulSet, "spec", "serviceName"));
        Assert.Equal("None", Text(rootService, "spec", "clusterIP"));
        Assert.Equal(Text(statefulSet, "spec", "template", "metadata", "labels", "app.kubernetes.io/name"), Text(rootService, "spec", "selector", "app.kubernetes.io/name"));
        string rootAddress = $"tcp://{Text(statefulSet, "metadata", "name")}-0.{Text(rootService, "metadata", "name")}.omnistore.svc.cluster.local:{Port(root["listen"])}";
        Assert.Equal(rootAddress, relay["parent"]);
        Assert.Contains(Items(statefulSet, "spec", "volumeClaimTemplates"), t => Text(t, "metadata", "name") == "data");

        // The relay's Service keeps a worker's connection on its node, to the relay's port.
        Assert.Equal("Local", Text(relayService, "spec", "internalTrafficPolicy"));
        Assert.Equal(Text(daemonSet, "spec", "template", "metadata", "labels", "app.kubernetes.io/name"), Text(relayService, "spec", "selector", "app.kubernetes.io/name"));
        var servicePort = Assert.Single(Items(relayService, "spec", "ports"));
        Assert.Equal(Port(relay["listen"]).ToString(System.Globalization.CultureInfo.InvariantCulture), Text(servicePort, "port"));
        Assert.Contains(Items(Containers(daemonSet).Single(), "ports"), p => Text(p, "name") == Text(servicePort, "targetPort"));

        // The worker finds its node's relay by that Service, the root as fallback, with a command the CLI accepts.
        var worker = Containers(job).Single();
        var environment = Items(worker, "env").ToDictionary(e => Text(e, "name"), e => Text(e, "value"));
        Assert.Equal($"tcp://{Text(relayService, "metadata", "name")}.omnistore.svc.cluster.local:{Text(servicePort, "port")}", environment["OMNISTORE_RELAY"]);
        Assert.Equal(rootAddress, environment["OMNISTORE_FALLBACK"]);
        Assert.Equal(relay["secret-file"], environment["OMNISTORE_SECRET_FILE"]);
        string[] command = [.. Scalars(worker, "command")];
        Assert.Equal(Binary, command[0]);
        Assert.Empty(OmniStoreCommandLine.Create().Parse(command[1..]).Errors);
        Assert.Equal("1654", Text(job, "spec", "template", "spec", "securityContext", "fsGroup"));
    }

    /// <summary>Checks one node's pod template; returns its effective configuration (key to value).</summary>
    private Dictionary<string, string> CheckNode(YamlMappingNode workload, List<YamlMappingNode> documents, string operations)
    {
        string name = Text(workload, "metadata", "name");
        var pod = (YamlMappingNode)Walk(workload, ["spec", "template", "spec"])!;
        var container = Containers(workload).Single();
        Assert.Equal("true", Text(pod, "securityContext", "runAsNonRoot"));
        Assert.Equal("1654", Text(pod, "securityContext", "runAsUser"));
        Assert.Equal("true", Text(container, "securityContext", "readOnlyRootFilesystem"));
        Assert.Equal("false", Text(container, "securityContext", "allowPrivilegeEscalation"));
        Assert.Equal(["ALL"], Scalars(container, "securityContext", "capabilities", "drop"));
        Assert.True(int.Parse(Text(pod, "terminationGracePeriodSeconds"), System.Globalization.CultureInfo.InvariantCulture) >= 15, $"{name}: the drain takes up to 10 s, then the checkpoint");

        // --config names a file mounted from a ConfigMap: with it (and the pod's variables) the command line parses.
        string[] args = [.. Scalars(container, "args")];
        Assert.Equal("--config", args[0]);
        var mounts = Items(container, "volumeMounts").ToList();
        var volumes = Items(pod, "volumes").ToList();
        var configMount = Assert.Single(mounts, m => Text(m, "mountPath") == args[1]);
        var configVolume = Assert.Single(volumes, v => Text(v, "name") == Text(configMount, "name"));
        var configMap = Assert.Single(documents, d => Text(d, "kind") == "ConfigMap" && Text(d, "metadata", "name") == Text(configVolume, "configMap", "name"));
        string file = Write($"{name}.toml", Text(configMap, "data", Text(configMount, "subPath")));
        var environment = Items(container, "env").ToDictionary(e => Text(e, "name"), e => e.Children.ContainsKey(new YamlScalarNode("value")) ? Text(e, "value") : "node-1");
        var parsed = RelayParse.Parse(environment, ["relay", .. args.Select(a => a == args[1] ? file : a)]);
        Assert.True(parsed.Errors.Count == 0, $"{name}: {RelayParse.Errors(parsed)}");
        var values = Values(parsed);

        // Ports by name, probes on the status port.
        var ports = Items(container, "ports").ToDictionary(p => Text(p, "name"), p => int.Parse(Text(p, "containerPort"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(Port(values["listen"]), ports["node"]);
        Assert.Equal(Port(values["status-listen"]), ports["status"]);
        Assert.StartsWith("http://0.0.0.0:", values["status-listen"], StringComparison.Ordinal); // the kubelet probes the pod's address
        Assert.Equal("/readyz", Text(container, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/healthz", Text(container, "livenessProbe", "httpGet", "path"));
        Assert.Equal("status", Text(container, "readinessProbe", "httpGet", "port"));
        Assert.Equal("status", Text(container, "livenessProbe", "httpGet", "port"));

        // The store is a mounted volume; each secret file is in a mounted Secret the docs create.
        Assert.Contains(mounts, m => Text(m, "mountPath") == values["data-dir"]);
        foreach (string key in new[] { "secret-file", "relay-secret-file" })
        {
            string path = values[key];
            var mount = Assert.Single(mounts, m => path.StartsWith(Text(m, "mountPath") + "/", StringComparison.Ordinal));
            var secret = Assert.Single(volumes, v => Text(v, "name") == Text(mount, "name"));
            string secretName = Text(secret, "secret", "secretName");
            Assert.Contains($"create secret generic {secretName} --from-file={Path.GetFileName(path)}", operations, StringComparison.Ordinal);
        }

        return values;
    }

    /// <summary>The effective configuration of a parse: each key set, or with a default, to its value as text.</summary>
    private static Dictionary<string, string> Values(ParseResult parsed)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in RelayConfiguration.Of(parsed)!.Keys)
        {
            if (RelayParse.ValueOf(parsed, key.Option) is { } value)
            {
                values[key.Name] = value;
            }
        }

        return values;
    }

    /// <summary>The port of an address or a list of one (tcp://HOST:PORT, http://HOST:PORT/).</summary>
    private static int Port(string address) => new Uri(Assert.Single(address.Split(','))).Port;

    private static List<YamlMappingNode> Containers(YamlMappingNode document) =>
        Text(document, "kind") is "StatefulSet" or "DaemonSet" or "Job" ? Items(document, "spec", "template", "spec", "containers") : [];

    /// <summary>The mappings of the sequence at <paramref name="path"/> (none when there is none).</summary>
    private static List<YamlMappingNode> Items(YamlNode node, params string[] path) =>
        Walk(node, path) is YamlSequenceNode sequence ? [.. sequence.Children.OfType<YamlMappingNode>()] : [];

    /// <summary>The strings of the sequence at <paramref name="path"/>.</summary>
    private static List<string> Scalars(YamlNode node, params string[] path) =>
        Walk(node, path) is YamlSequenceNode sequence ? [.. sequence.Children.OfType<YamlScalarNode>().Select(n => n.Value ?? "")] : [];

    private static string Text(YamlNode node, params string[] path) => Walk(node, path) is YamlScalarNode scalar ? scalar.Value ?? "" : "";

    private static YamlNode? Walk(YamlNode node, string[] path)
    {
        YamlNode? at = node;
        foreach (string step in path)
        {
            at = at is YamlMappingNode mapping && mapping.Children.TryGetValue(new YamlScalarNode(step), out var next) ? next : null;
        }

        return at;
    }

    /// <summary>A unit file's settings, continuation lines joined; the last of a key set twice.</summary>
    private static Dictionary<string, string> ReadUnit(string relative)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in RepositoryFiles.Read(relative).Replace("\\\n", " ", StringComparison.Ordinal).Split('\n'))
        {
            if (line.Length == 0 || line[0] is '#' or ';' or '[')
            {
                continue;
            }

            int equals = line.IndexOf('=', StringComparison.Ordinal);
            settings[line[..equals]] = line[(equals + 1)..];
        }

        return settings;
    }

    /// <summary>A Containerfile's instructions, one a line, continuation lines joined, comments left out.</summary>
    private static List<string> Instructions(string text) =>
        [.. WhiteSpace().Replace(text.Replace("\\\n", " ", StringComparison.Ordinal), " ").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#')];

    [GeneratedRegex("[ \\t]+")]
    private static partial Regex WhiteSpace();

    private string Write(string name, string text)
    {
        string path = _dir.Sub(name);
        File.WriteAllText(path, text);
        return path;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, (await output + await error).Trim());
    }
}
