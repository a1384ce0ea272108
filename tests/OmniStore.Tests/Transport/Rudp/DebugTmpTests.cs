using System.Net;
using System.Security.Cryptography;
using OmniStore.Transport;
using OmniStore.Transport.Rudp;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

public sealed class DebugTmpTests
{
    [Fact]
    public async Task Debug()
    {
        var ct = TestContext.Current.CancellationToken;
        var settings = RudpConnectionTests.Fast with { IdleTimeout = TimeSpan.FromSeconds(20), HandshakeTimeout = TimeSpan.FromSeconds(20) };
        var (listener, client, server) = await RudpConnectionTests.PairAsync(settings, ct: ct);
        var data = RandomNumberGenerator.GetBytes(64 << 20);
        var log = new System.Text.StringBuilder();
        for (int round = 0; round < 3; round++)
        {
            var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            var started = DateTime.UtcNow;
            var write = Task.Run(async () =>
            {
                for (int i = 0; i < 8; i++)
                {
                    await server.Output.WriteAsync(data, ct);
                }
            }, ct);
            long total = 0;
            while (total < 8L * data.Length)
            {
                var result = await client.Input.ReadAsync(ct);
                total += result.Buffer.Length;
                client.Input.AdvanceTo(result.Buffer.End);
            }

            await write;
            double seconds = (DateTime.UtcNow - started).TotalSeconds;
            var used = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu;
            log.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"{total / seconds / 1e6:0} MB/s, cpu {used.TotalSeconds / seconds:0.00} cores; {((RudpConnection)server).Statistics}");
        }

        Assert.Fail(log.ToString());
    }
}
