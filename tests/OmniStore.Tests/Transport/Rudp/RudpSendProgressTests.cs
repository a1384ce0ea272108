using OmniStore.Transport;
using OmniStore.Transport.Rudp;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>rudp's count of stream bytes the peer acknowledged, which the send watchdog takes as progress: after 1 MiB is read, it is 1 MiB.</summary>
public sealed class RudpSendProgressTests
{
    [Fact]
    public async Task BytesAcknowledged_IsWhatThePeerTook()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var listener = RudpTransport.Instance.Listen(new NodeAddress("rudp", "127.0.0.1", 0));
        var accepting = listener.AcceptAsync(ct);
        await using var client = await RudpTransport.Instance.ConnectAsync(listener.Addresses[0], new LinkCounters(), ct);
        var accepted = (await accepting).Connection!.Open(new LinkCounters())!;
        await using var _ = accepted;
        var progress = client.GetFeature<ISendProgress>()!;
        Assert.NotNull(client.GetFeature<ITransportStatistics>());
        long before = progress.BytesAcknowledged!.Value;

        await client.Output.WriteAsync(new byte[1 << 20], ct);
        long read = 0;
        while (read < 1 << 20)
        {
            var result = await accepted.Input.ReadAsync(ct);
            read += result.Buffer.Length;
            accepted.Input.AdvanceTo(result.Buffer.End);
        }

        for (int i = 0; i < 200 && progress.BytesAcknowledged - before < 1 << 20; i++)
        {
            await Task.Delay(10, ct);
        }

        Assert.Equal(1 << 20, progress.BytesAcknowledged - before);
    }
}
