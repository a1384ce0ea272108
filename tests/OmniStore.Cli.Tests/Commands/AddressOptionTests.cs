using System.Net;
using System.Net.Sockets;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// Addresses on the command line and in the environment: lists, the one parser's messages, which
/// exit code a bad one gets, and a node's status port given where its node port goes.
/// </summary>
public sealed class AddressOptionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    [Theory]
    [InlineData("--relay", "tcp://127.0.0.1:1,,tcp://127.0.0.1:2", "--relay, element 2 of 3: the address is empty (two commas in a row, or one at an end).")]
    [InlineData("--relay", "tcp://127.0.0.1:1, tcp://127.0.0.1:1", "--relay, element 2 of 2: 'tcp://127.0.0.1:1' is in the list twice (first as --relay, element 1 of 2).")]
    [InlineData("--relay", "127.0.0.1:7070", "--relay: '127.0.0.1:7070' is not a node address: the scheme is missing: expected SCHEME://HOST:PORT, for example tcp://127.0.0.1:7070.")]
    [InlineData("--fallback", "tcp://root", "--fallback: 'tcp://root' is not a node address: the port is missing")]
    [InlineData("--fallback", "tcp://127.0.0.1:7070", "--fallback: 'tcp://127.0.0.1:7070' is in the list twice (first as --relay).")]
    [InlineData("--relay", "tcp://relay\u001b[31m:7070", "--relay: 'tcp://relay\\x1B[31m:7070' is not a node address: it holds '\\x1B' at position 12")]
    public async Task ABadAddressOption_IsAUsageError_WithTheParsersMessage(string option, string value, string expected)
    {
        string[] args = option == "--relay" ? ["stat", "x", option, value] : ["stat", "x", "--relay", "tcp://127.0.0.1:7070", option, value];

        var result = await CliRunner.RunAsync(args, Data);

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        string line = Assert.Single(result.ErrorLines);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain(line, char.IsControl);
    }

    [Fact]
    public async Task AListForListen_IsRefused_AsOneAddressIsMeant()
    {
        var result = await CliRunner.RunAsync(Data, "relay", "--listen", "tcp://127.0.0.1:0,tcp://127.0.0.1:1", "--data-dir", _dir.Sub("never"));

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Contains("--listen: 'tcp://127.0.0.1:0,tcp://127.0.0.1:1' is not a node address: it holds ','; give one address here, not a list.", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("OMNISTORE_RELAY", "tcp://127.0.0.1:1, tcp://relay", "$OMNISTORE_RELAY, element 2 of 2: 'tcp://relay' is not a node address: the port is missing")]
    [InlineData("OMNISTORE_FALLBACK", "tcp://root:http", "$OMNISTORE_FALLBACK: 'tcp://root:http' is not a node address: the port 'http' is not a number.")]
    public async Task ABadAddressInTheEnvironment_IsInvalidArgument_NamingTheVariable(string variable, string value, string expected)
    {
        var environment = new Dictionary<string, string?> { ["OMNISTORE_RELAY"] = "tcp://127.0.0.1:1", [variable] = value };

        var result = await CliRunner.RunAsync(["stat", "x"], Data, environment: environment);

        Assert.Equal(ExitCode.Of(OmniStoreError.InvalidArgument), result.ExitCode);
        Assert.Contains(expected, Assert.Single(result.ErrorLines), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Data), "a bad relay address must not fall back to the embedded store");
    }

    [Fact]
    public async Task AList_IsTriedInOrder_FromTheOptionAndFromTheEnvironment()
    {
        await using var root = await StartRootAsync();
        string closed = $"tcp://127.0.0.1:{ClosedPort()}";

        var put = await CliRunner.RunAsync(["put", "listed", "-", "--relay", $"{closed}, {root.Address}", "--quiet"], Data, stdin: [1, 2, 3]);
        Assert.True(put.ExitCode == 0, put.StandardError);

        var environment = new Dictionary<string, string?> { ["OMNISTORE_RELAY"] = $"{closed},{root.Address}" };
        var get = await CliRunner.RunAsync(["get", "listed"], Data, environment: environment);
        Assert.True(get.ExitCode == 0, get.StandardError);
        Assert.Equal(new byte[] { 1, 2, 3 }, get.StandardOutput);
    }

    [Fact]
    public async Task TheStatusPortGivenAsTheRelay_SaysItIsNotAnOmniStoreNode_AndTheFallbackIsUsed()
    {
        await using var root = await StartRootAsync("--status-listen", "http://127.0.0.1:0");
        string statusPort = $"tcp://127.0.0.1:{new Uri(root.StatusUrl!).Port}";

        var alone = await CliRunner.RunAsync(Data, "stat", "x", "--relay", statusPort);
        Assert.Equal(ExitCode.Of(OmniStoreError.Unavailable), alone.ExitCode);
        Assert.Equal($"omnistore: error: No node is reachable: {statusPort}: this is not an OmniStore node (it answered with HTTP).", Assert.Single(alone.ErrorLines));

        var put = await CliRunner.RunAsync(["put", "via-fallback", "-", "--relay", statusPort, "--fallback", root.Address, "--quiet"], Data, stdin: [7]);
        Assert.True(put.ExitCode == 0, put.StandardError);
    }

    private Task<DaemonProcess> StartRootAsync(params string[] args) =>
        DaemonProcess.StartAsync(Data, ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub($"root-{Guid.NewGuid():N}"), .. args]);

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
