using System.Globalization;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// The addresses <c>omnistore relay</c> takes, refused before anything starts: a bad set of
/// <c>--listen</c> addresses, and a <c>--parent</c> whose node id is malformed, are usage errors
/// that name the option.
/// </summary>
public sealed class RelayAddressUsageTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    public static TheoryData<string[], string> BadListens => new()
    {
        { ["--listen", "tcp://127.0.0.1:7070", "--listen", "TCP://127.0.0.1:7070"], "--listen: tcp://127.0.0.1:7070 is given twice; each address is listened on once." },
        { [.. Enumerable.Range(1, 17).SelectMany(port => new[] { "--listen", string.Create(CultureInfo.InvariantCulture, $"tcp://127.0.0.1:{port}") })], "--listen is given 17 times; a node listens on at most 16 addresses." },
        { ["--listen", "tcp://127.0.0.1:0", "--listen", "tcp://127.0.0.1"], "--listen: 'tcp://127.0.0.1' is not a node address: the port is missing" },
        { ["--listen", "tcp://127.0.0.1:0,tcp://127.0.0.1:1"], "give one address here, not a list. Repeat --listen to listen on several addresses." },
        { ["--listen", "rudp://127.0.0.1"], "--listen: 'rudp://127.0.0.1' has no port: give rudp://HOST:PORT (port 0 picks a free one)." },
    };

    [Theory]
    [MemberData(nameof(BadListens))]
    public async Task ABadSetOfListenAddresses_IsAUsageError_NamingListen(string[] listen, string expected)
    {
        var result = await CliRunner.RunAsync(Data, ["relay", .. listen, "--data-dir", _dir.Sub("never")]);

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Contains(expected, Assert.Single(result.ErrorLines), StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Sub("never")), "a usage error must not create the store");
    }

    [Theory]
    [InlineData("#xyz", "is not a node address: the node id holds 'x'; a node id is hex digits.")]
    [InlineData("#", "is not a node address: the node id is empty.")]
    [InlineData("#0123456789abcdef", "names a node id of 16 hex digits; a node id of this version has 32.")]
    [InlineData("#0123456789abcdef0123456789abcdef0", "the node id has 33 hex digits")]
    [InlineData("node-only", "names a node by its id alone, which needs a rendezvous that this version does not have")]
    public async Task AMalformedParentId_IsAUsageError(string suffix, string expected)
    {
        string parent = suffix == "node-only" ? "node:0123456789abcdef0123456789abcdef" : $"tcp://127.0.0.1:7070{suffix}";

        var result = await CliRunner.RunAsync(Data, "relay", "--listen", "tcp://127.0.0.1:0", "--parent", parent, "--cache-size", "128M", "--data-dir", _dir.Sub("never"));

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        string line = Assert.Single(result.ErrorLines);
        Assert.StartsWith($"omnistore: error: --parent: '{parent}' ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Sub("never")), "a usage error must not create the store");
    }
}
