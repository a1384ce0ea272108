using OmniStore.Transport;
using OmniStore.Transport.Rudp;
using OmniStore.Transport.Tcp;

namespace OmniStore.Tests.Transport;

/// <summary>
/// The count of bytes the peer acknowledged, which the send watchdog takes as progress: TCP's from
/// the kernel (TCP_INFO, read at the right offset), rudp's from its acknowledged stream. After
/// 1 MiB is read, it is 1 MiB.
/// </summary>
public sealed class SendProgressTests
{
    public static TheoryData<string> Transports => new("tcp", "rudp");

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task BytesAcknowledged_IsWhatThePeerTook(string scheme)
    {
        Assert.SkipUnless(scheme != "tcp" || OperatingSystem.IsLinux(), "TCP_INFO is Linux's");
        var ct = TestContext.Current.CancellationToken;
        ITransport transport = scheme == "tcp" ? TcpTransport.Instance : RudpTransport.Instance;
        await using var listener = transport.Listen(new NodeAddress(scheme, "127.0.0.1", 0));
        var accepting = listener.AcceptAsync(ct);
        await using var client = await transport.ConnectAsync(listener.Addresses[0], new LinkCounters(), ct);
        var accepted = (await accepting).Connection!.Open(new LinkCounters())!;
        await using var _ = accepted;
        var progress = client.GetFeature<ISendProgress>()!;
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
        if (scheme == "rudp")
        {
            Assert.NotNull(client.GetFeature<ITransportStatistics>()); // still offered beside it
        }
    }
}
