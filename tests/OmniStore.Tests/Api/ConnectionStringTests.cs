using OmniStore.Security;
using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Tree;

namespace OmniStore.Tests.Api;

/// <summary>
/// A connection string: addresses, then <c>;key=value</c> settings (docs/tls.md, "Spellings"), the
/// one spelling that reaches a client through <c>omst_init</c>, <c>$OMNISTORE_RELAY</c> and
/// <c>ConnectAsync</c> alike. Unknown keys, repeated keys, TLS without all three files and a bad
/// window are refused, naming what is wrong.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // key files and their modes
public sealed class ConnectionStringTests : IDisposable
{
    private readonly TempDirectory _dir = new("omnistore-connection-string");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Settings_FillWhatTheOptionsLeaveUnset()
    {
        var (addresses, settings) = ConnectionString.Split("tls+tcp://relay:7443,tls+tcp://root:7443;TLSCERT=/c.pem; tlsKey=/c.key ;tlsCa=/ca.pem;tlsCrl=/ca.crl;window=32;");
        Assert.Equal("tls+tcp://relay:7443,tls+tcp://root:7443", addresses);
        var options = ConnectionString.Apply(new OmniStoreOptions(), settings);
        Assert.Equal(new TlsOptions { CertificateFile = "/c.pem", KeyFile = "/c.key", CaFile = "/ca.pem", RevocationListFile = "/ca.crl" }, options.Tls);
        Assert.Equal(32, options.TransferWindow);

        var mine = new TlsOptions { CertificateFile = "/mine.pem", KeyFile = "/mine.key", CaFile = "/ca.pem" };
        Assert.Same(mine, ConnectionString.Apply(new OmniStoreOptions { Tls = mine }, settings).Tls); // options set in code win
        Assert.Empty(ConnectionString.Split("tcp://relay:7070").Settings);
    }

    [Theory]
    [InlineData("tcp://r:1;colour=red", "'colour' is not a setting (the settings are secretFile, tlsCert, tlsKey, tlsCa, tlsCrl, window, rendezvous)")]
    [InlineData("tcp://r:1;window=1;window=2", "window is given twice")]
    [InlineData("tcp://r:1;tlsCert", "tlsCert has no value (write tlsCert=VALUE)")]
    [InlineData("tcp://r:1;window=0", "window=0 is not a number of requests from 1 to 128")]
    [InlineData("tcp://r:1;tlsCert=/c.pem;tlsCa=/ca.pem", "TLS needs tlsCert, tlsKey, tlsCa together; it lacks tlsKey")]
    public void ABadSetting_IsAnInvalidArgument_SayingWhy(string text, string expected)
    {
        var error = Assert.Throws<OmniStoreException>(() =>
        {
            var (_, settings) = ConnectionString.Split(text);
            ConnectionString.Apply(new OmniStoreOptions(), settings);
        });
        Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
        Assert.Equal($"In the connection string: {expected}.", error.Message);
    }

    [Fact]
    public async Task AClient_ReachesATlsTree_WithItsFilesInTheConnectionString()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: "tls+tcp");
        var tls = cluster.IssueTls("worker", CertificateRole.Client, ["results/"]);
        string text = $"{cluster.Root.Address};tlsCert={tls.CertificateFile};tlsKey={tls.KeyFile};tlsCa={tls.CaFile}";
        await using var client = await OmniStoreClient.ConnectAsync(text, cancellationToken: ct);
        await client.PutAsync("results/a", TestData.Random(1000, 1), ct);
        Assert.Equal(TestData.Random(1000, 1), await client.GetAsync("results/a", ct));
    }
}
