using System.Diagnostics;
using OmniStore.Cli.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Cli.Tests.Nat;

/// <summary>
/// Every pair of NAT types connects (docs/nat.md, "What each NAT pair gets"): a dialer in one site
/// reaches a node registered by name in another, through real nftables NATs (masquerade for a cone,
/// <c>fully-random</c> for a symmetric NAT, miniupnpd on a UPnP gateway) and a real <c>omnistore rendezvous</c>, and bytes cross
/// the connection both ways. A direct path wherever one is possible, punched or direct; relayed
/// where none is. One lab serves every case of the class.
/// </summary>
public sealed class NatMatrixLabTests(NatMatrixLabTests.Fixture fixture) : IClassFixture<NatMatrixLabTests.Fixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public sealed class Fixture : IAsyncDisposable
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private NatLab? _lab;
        private int _names;

        internal async Task<NatLab> LabAsync()
        {
            LabRequirement.Ensure();
            await _gate.WaitAsync(Token);
            try
            {
                return _lab ??= await NatLab.StartAsync(Token);
            }
            finally
            {
                _gate.Release();
            }
        }

        /// <summary>A name not registered before: each case gets a registration of its own.</summary>
        public string NewName() => $"node-{Interlocked.Increment(ref _names)}";

        public async ValueTask DisposeAsync()
        {
            if (_lab is not null)
            {
                await _lab.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("none", "none", nameof(PathType.Direct))]
    [InlineData("none", "cone", nameof(PathType.Punched))]
    [InlineData("none", "symmetric", nameof(PathType.Punched))]
    [InlineData("cone", "none", nameof(PathType.Direct))]
    [InlineData("cone", "cone", nameof(PathType.Punched))]
    [InlineData("cone", "symmetric", nameof(PathType.Relayed))]
    [InlineData("symmetric", "none", nameof(PathType.Direct))]
    [InlineData("symmetric", "cone", nameof(PathType.Relayed))]
    [InlineData("symmetric", "symmetric", nameof(PathType.Relayed))]
    [InlineData("none", "upnp", nameof(PathType.Mapped))]
    [InlineData("cone", "upnp", nameof(PathType.Mapped))]
    [InlineData("symmetric", "upnp", nameof(PathType.Mapped))]
    [InlineData("upnp", "cone", nameof(PathType.Punched))]
    [InlineData("upnp", "symmetric", nameof(PathType.Relayed))]
    public async Task EveryPairOfNatTypes_Connects_OnTheBestPathThereIs(string dialerNat, string registrantNat, string expectedPath)
    {
        var expected = Enum.Parse<PathType>(expectedPath);
        var lab = await fixture.LabAsync();
        string name = fixture.NewName();
        await using var registrant = await lab.RegisterAsync(lab.Lab[$"{registrantNat}-b"], name, Token);
        await using var dialer = lab.NewDialer(lab.Lab[$"{dialerNat}-a"]);

        var clock = Stopwatch.StartNew();
        await using var connection = await dialer.Nat.ConnectAsync(name, new LinkCounters(), Token).WaitAsync(TimeSpan.FromSeconds(30), Token);
        var data = new byte[256 * 1024];
        Random.Shared.NextBytes(data);
        Assert.Equal(data, await NatLab.EchoAsync(connection, data, Token).WaitAsync(TimeSpan.FromSeconds(30), Token));
        TestContext.Current.TestOutputHelper?.WriteLine($"{dialerNat} -> {registrantNat}: {connection.Path.TypeName} via {connection.RemoteEndPoint} in {clock.ElapsedMilliseconds} ms");

        Assert.Equal(expected, connection.Path.Type);
        Assert.Equal(expected, Assert.Single(registrant.Accepted));
    }

    [Fact]
    public async Task ConeToCone_PunchesAHole_In20Of20FreshAttempts()
    {
        var lab = await fixture.LabAsync();
        string name = fixture.NewName();
        await using var registrant = await lab.RegisterAsync(lab.Lab["cone-b"], name, Token);
        var times = new List<long>();
        for (int attempt = 0; attempt < 20; attempt++)
        {
            // A fresh socket each time: a new mapping at the dialer's NAT, as a new process gets.
            await using var dialer = lab.NewDialer(lab.Lab["cone-a"]);
            var clock = Stopwatch.StartNew();
            await using var connection = await dialer.Nat.ConnectAsync(name, new LinkCounters(), Token).WaitAsync(TimeSpan.FromSeconds(30), Token);
            times.Add(clock.ElapsedMilliseconds);
            Assert.True(connection.Path.Type == PathType.Punched, $"attempt {attempt + 1}: {connection.Path.TypeName}");
            Assert.Equal("ping"u8.ToArray(), await NatLab.EchoAsync(connection, "ping"u8.ToArray(), Token).WaitAsync(TimeSpan.FromSeconds(10), Token));
        }

        times.Sort();
        TestContext.Current.TestOutputHelper?.WriteLine($"cone -> cone, 20 of 20 punched; connect ms: median {times[10]}, max {times[^1]}");
    }
}
