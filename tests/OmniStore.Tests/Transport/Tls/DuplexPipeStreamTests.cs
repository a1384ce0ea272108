using System.IO.Pipelines;
using OmniStore.Transport.Tls;

namespace OmniStore.Tests.Transport.Tls;

/// <summary>
/// The stream TLS runs over: both ends writing as fast as they can while each reads what the other
/// sent back must not stall. A read that waited for the write lock while the writer waited for the
/// peer to read (which waited likewise) hung an echo over rudp.
/// </summary>
public sealed class DuplexPipeStreamTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Two streams joined by pipes that hold little, so writers meet backpressure at once.</summary>
    private static (DuplexPipeStream A, DuplexPipeStream B) Pair()
    {
        var options = new PipeOptions(pauseWriterThreshold: 32 * 1024, resumeWriterThreshold: 16 * 1024, useSynchronizationContext: false);
        var ab = new Pipe(options);
        var ba = new Pipe(options);
        return (new DuplexPipeStream(new Duplex(ba.Reader, ab.Writer)), new DuplexPipeStream(new Duplex(ab.Reader, ba.Writer)));
    }

    private sealed record Duplex(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    [Fact]
    public async Task AnEchoWhileBothEndsWrite_NeverStalls()
    {
        var ct = TestContext.Current.CancellationToken;
        for (int round = 0; round < 20; round++)
        {
            var (a, b) = Pair();
            const int Total = 4 << 20;
            var echo = Task.Run(
                async () =>
                {
                    var buffer = new byte[16 * 1024];
                    long echoed = 0;
                    while (echoed < Total)
                    {
                        int read = await b.ReadAsync(buffer, ct);
                        await b.WriteAsync(buffer.AsMemory(0, read), ct);
                        echoed += read;
                        if (read < buffer.Length)
                        {
                            await b.FlushAsync(ct);
                        }
                    }

                    await b.FlushAsync(ct);
                },
                ct);
            var write = Task.Run(
                async () =>
                {
                    var chunk = new byte[16 * 1024];
                    for (int sent = 0; sent < Total; sent += chunk.Length)
                    {
                        await a.WriteAsync(chunk, ct);
                    }

                    await a.FlushAsync(ct);
                },
                ct);
            var read = Task.Run(
                async () =>
                {
                    var buffer = new byte[16 * 1024];
                    long received = 0;
                    while (received < Total)
                    {
                        received += await a.ReadAsync(buffer, ct);
                    }
                },
                ct);
            await Task.WhenAll(echo, write, read).WaitAsync(Timeout, ct);
        }
    }
}
