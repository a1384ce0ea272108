using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OmniStore.Tests.Tree;

namespace OmniStore.Tests.Api;

/// <summary>
/// services.AddOmniStore(configuration.GetSection("OmniStore")): one client, bound and validated at
/// start, connecting on its first request; and OmniStoreClient.Create, which it uses.
/// </summary>
public sealed class DependencyInjectionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static IHost Host(Dictionary<string, string?> settings)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddOmniStore(builder.Configuration.GetSection("OmniStore"));
        return builder.Build();
    }

    [Fact]
    public async Task AnApplication_GetsOneClient_OfTheEmbeddedStoreItsConfigurationNames_AndTheHostDisposesIt()
    {
        var ct = TestContext.Current.CancellationToken;
        using (var host = Host(new() { ["OmniStore:DataDirectory"] = _dir.Path, ["OmniStore:ChunkSize"] = "65536" }))
        {
            await host.StartAsync(ct);
            var client = host.Services.GetRequiredService<IOmniStoreClient>();
            Assert.Same(host.Services.GetRequiredService<OmniStoreClient>(), client);
            Assert.Equal(65536, host.Services.GetRequiredService<OmniStoreClient>().Options.ChunkSize);
            await client.PutAsync("from-di", new byte[100_000], ct);
            await host.StopAsync(ct);
        }

        // Disposed with the host: the store is free for the next process.
        using var reopened = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = _dir.Path });
        Assert.Equal(100_000, (await reopened.GetAsync("from-di", ct)).Length);
    }

    [Fact]
    public async Task AConnectionString_GivesAClientThatConnectsOnItsFirstRequest()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        using var host = Host(new() { ["OmniStore:ConnectionString"] = $"{cluster.Root.Address};window=8" });
        await host.StartAsync(ct);
        var client = host.Services.GetRequiredService<IOmniStoreClient>();
        Assert.Equal(8, ((OmniStoreClient)client).Options.TransferWindow);
        Assert.Empty(cluster.Root.GetStatus().Children); // resolved, not connected

        await client.PutAsync("x", new byte[] { 1, 2, 3 }, ct);
        Assert.Equal(new byte[] { 1, 2, 3 }, await client.GetAsync("x", ct));
        Assert.Single(cluster.Root.GetStatus().Children);
        await host.StopAsync(ct);
    }

    [Theory]
    [InlineData("ConnectionString", "tcp://relay:notaport", "ConnectionString")]
    [InlineData("ConnectionString", "tcp://relay:7070;colour=blue", "colour")]
    [InlineData("ChunkSize", "1000", "ChunkSize")]
    [InlineData("TransferWindow", "0", "TransferWindow")]
    public async Task BadSettings_StopTheHostAtStart_NamingWhatIsWrong(string key, string value, string named)
    {
        var ct = TestContext.Current.CancellationToken;
        using var host = Host(new() { [$"OmniStore:{key}"] = value, ["OmniStore:DataDirectory"] = _dir.Path });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(ct));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_WaitsOnNothing_AndTheFirstRequestSaysTheNodeIsUnreachable()
    {
        var ct = TestContext.Current.CancellationToken;
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        await using var client = OmniStoreClient.Create($"tcp://127.0.0.1:{port}");
        var error = await Assert.ThrowsAsync<OmniStoreException>(async () => await client.GetAsync("x", ct));
        Assert.Equal(OmniStoreError.Unavailable, error.Error);
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);

        var bad = Assert.Throws<OmniStoreException>(() => OmniStoreClient.Create("tcp://relay:notaport"));
        Assert.Equal(OmniStoreError.InvalidArgument, bad.Error);
    }
}
