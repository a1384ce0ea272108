using System.Globalization;
using OmniStore.Cli.Tests.Infrastructure;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Security;

/// <summary>
/// A root daemon under a hard heap limit (as in a container) is attacked with every way a peer once
/// made a node reserve memory on its word; meanwhile and afterwards a legitimate Get still works and
/// the daemon stays up.
/// </summary>
public sealed class HeapLimitTests : IDisposable
{
    private const long HeapLimit = 768L << 20;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _dir = new("omnistore-heap");

    public static TheoryData<string> Attacks => new() { "announced-chunks", "responses-never-asked-for", "ping-flood", "unread-large-chunks" };

    [Theory]
    [MemberData(nameof(Attacks))]
    public async Task UnderAHeapLimit_AnAttack_LeavesLegitimateGetsWorking(string attack)
    {
        var ct = TestContext.Current.CancellationToken;
        var environment = new Dictionary<string, string?> { ["DOTNET_GCHeapHardLimit"] = "0x" + HeapLimit.ToString("x", CultureInfo.InvariantCulture) };
        await using var root = await DaemonProcess.StartAsync(_dir.Sub("data"), environment, "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"));
        int port = new Uri(root.Address).Port;

        // The object the workers want: 16 MiB chunks, the largest there are.
        var data = TestData.Random(4L * ChunkLayout.MaxChunkSize, 5);
        await using var master = await OmniStoreClient.ConnectAsync(root.Address, new OmniStoreOptions { ChunkSize = ChunkLayout.MaxChunkSize }, ct);
        await master.PutAsync("input", data, ct);
        var info = (await master.StatAsync("input", ct))!;
        Manifest manifest;
        await using (var reader = await RawPeer.ConnectAsync(port, ct))
        {
            var id = new byte[ManifestId.Size];
            info.ManifestId.Write(id);
            await reader.SendAsync(RawPeer.Frame(FrameType.GetManifest, 1, id), ct);
            manifest = Manifest.Parse((await reader.ReadMessageAsync(ct).WaitAsync(Timeout, ct)).Payload, info.ManifestId);
        }

        var attackers = new List<RawPeer>();
        try
        {
            for (int c = 0; c < 8; c++)
            {
                var peer = await RawPeer.ConnectAsync(port, ct, receiveBuffer: 4096);
                attackers.Add(peer);
                await peer.SendAsync(AttackBytes(attack, manifest), ct).WaitAsync(Timeout, ct);
            }

            // While the attackers hold on (and read nothing), workers get their data.
            for (int worker = 0; worker < 2; worker++)
            {
                await using var client = await OmniStoreClient.ConnectAsync(root.Address, cancellationToken: ct);
                Assert.Equal(data, await client.GetAsync("input", ct).AsTask().WaitAsync(Timeout, ct));
            }
        }
        finally
        {
            foreach (var peer in attackers)
            {
                await peer.DisposeAsync();
            }
        }

        await using (var after = await OmniStoreClient.ConnectAsync(root.Address, cancellationToken: ct))
        {
            Assert.Equal(data, await after.GetAsync("input", ct).AsTask().WaitAsync(Timeout, ct));
        }

        Assert.Equal(0, await root.TerminateAsync());
    }

    /// <summary>What one attacking connection sends: 256 streams' worth, or a flood.</summary>
    private static byte[] AttackBytes(string attack, Manifest manifest)
    {
        var bytes = new MemoryStream();
        switch (attack)
        {
            case "announced-chunks":
                // First frames of PUT_CHUNKs announcing 16 MiB chunks, never finished.
                for (uint i = 0; i < 256; i++)
                {
                    bytes.Write(RawPeer.Frame(FrameType.PutChunk, (2 * i) + 1, [.. ChunkMessage.Head(default, ChunkLayout.MaxChunkSize), .. new byte[32]], end: false));
                }

                break;
            case "responses-never-asked-for":
                // CHUNK "answers" on the node's own (even) stream ids, which it never used.
                for (uint i = 0; i < 256; i++)
                {
                    bytes.Write(RawPeer.Frame(FrameType.Chunk, 2 * (i + 1), [.. ChunkMessage.Head(default, ChunkLayout.MaxChunkSize), .. new byte[32]], end: false));
                }

                break;
            case "ping-flood":
                var ping = RawPeer.Frame(FrameType.Ping, 0, new byte[PeerConnection.PingPayloadSize]);
                for (int i = 0; i < 200_000; i++)
                {
                    bytes.Write(ping);
                }

                bytes.Write(RawPeer.Frame(FrameType.Ping, 0, new byte[ProtocolLimits.MaxFramePayload]));
                break;
            default:
                // Requests for 16 MiB chunks whose answers are never read.
                for (uint i = 0; i < 256; i++)
                {
                    bytes.Write(RawPeer.Frame(FrameType.GetChunk, (2 * i) + 1, ChunkRequests.Encode(manifest.Chunks[(int)(i % 4)], ChunkLayout.MaxChunkSize)));
                }

                break;
        }

        return bytes.ToArray();
    }

    public void Dispose() => _dir.Dispose();
}
