using System.Net;
using System.Security.Cryptography;
using OmniStore.Transport;
using OmniStore.Transport.Rudp;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

public sealed class DebugTmpTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(0.01)]
    public async Task Debug(double loss)
    {
        var ct = TestContext.Current.CancellationToken;
        LossyUdpShim? shim = null;
        var settings = RudpConnectionTests.Fast with { IdleTimeout = TimeSpan.FromSeconds(20), HandshakeTimeout = TimeSpan.FromSeconds(20) };
        var (listener, client, server) = await RudpConnectionTests.PairAsync(settings, s => (shim = new LossyUdpShim(s, loss, seed: 3, oneWayDelay: TimeSpan.FromMilliseconds(10), bitsPerSecond: 200_000_000)).FrontEndPoint, ct);
        var data = RandomNumberGenerator.GetBytes(16 << 20);
        var started = DateTime.UtcNow;
        var t = RudpConnectionTests.TransferAsync(server, client, data, ct);
        var log = new System.Text.StringBuilder();
        for (int i = 0; i < 60 && !t.IsCompleted; i++)
        {
            await Task.Delay(250, ct);
            log.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"{i} S {((RudpConnection)server).Statistics} out={server.Counters.WireOut} | C in={client.Counters.WireIn} dropped={shim!.Dropped}");
        }

        log.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"done={t.IsCompleted} in {(DateTime.UtcNow - started).TotalSeconds:0.00} s");
        Assert.Fail(log.ToString());
    }
}
