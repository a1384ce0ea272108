using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Testing;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;
using OmniStore.Transport.Tcp;

namespace OmniStore.Tests.Identity;

/// <summary>
/// Version 1 had no node identities; a version-1 peer is refused, in either direction, with an
/// error that names both versions (docs/protocol.md, "Versions"). The version-1 side is written
/// here byte by byte, as that version's code read and wrote it.
/// </summary>
public sealed class ProtocolVersionTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new("omnistore-versions");
    private TreeNode? _node;

    [Theory]
    [InlineData(1, 1)]
    [InlineData(0, 1)]
    [InlineData(9, 11)] // above this build's range
    public async Task AnOpenerOfAnotherVersion_IsRefused_WithBothVersionRangesInTheError(ushort min, ushort max)
    {
        var ct = TestContext.Current.CancellationToken;
        var node = await StartNodeAsync();
        using var peer = await RawSocketPeer.ConnectAsync(node.Address.Port, cancellationToken: ct);

        await peer.WriteAsync(RawSocketPeer.Frame(FrameType.Hello, FrameFlags.End, 0, Version1Hello(min, max)), ct);
        var reply = await peer.ReadFrameAsync(ct);

        Assert.Equal(FrameType.Error, reply.Type);
        var error = ErrorMessage.Decode(reply.Payload);
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains($"no common protocol version: the peer speaks {min}..{max}, this node 2..{ProtocolLimits.MaxVersion}", error.Message, StringComparison.Ordinal);
        await peer.WaitForCloseAsync(Timeout, ct);

        // The node serves on.
        await using var client = await OmniStoreClient.ConnectAsync(node.Address.ToString(), cancellationToken: ct).WaitAsync(Timeout, ct);
        await client.PutAsync("v2", new byte[] { 2 }, ct).AsTask().WaitAsync(Timeout, ct);
    }

    [Fact]
    public async Task ADialer_ReachingAVersion1Node_IsRefused_WithBothVersionsInTheError()
    {
        // A version-1 node read every HELLO in its layout first, then compared the ranges: the
        // opener's HELLO keeps that layout so that the old node answers with both ranges.
        var ct = TestContext.Current.CancellationToken;
        await using var old = FakeAcceptor.Start(hello =>
        {
            var (min, max) = ReadVersion1Hello(hello);
            return RawSocketPeer.Frame(FrameType.Error, FrameFlags.End, 0, ErrorMessage.Encode(OmniStoreError.ProtocolError, $"Refused: no common protocol version: the peer speaks {min}..{max}, this node 1..1."));
        });

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => ConnectAsync(old.Address, ct));

        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains($"the peer speaks 2..{ProtocolLimits.MaxVersion}, this node 1..1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADialer_GivenAVersion1Hello_RefusesItByItsVersion_NotAsMalformed()
    {
        // What a version-1 acceptor answered when it shared version 1 with its opener: a HELLO in
        // version 1's layout, with no key and no signature.
        var ct = TestContext.Current.CancellationToken;
        await using var old = FakeAcceptor.Start(_ => RawSocketPeer.Frame(FrameType.Hello, FrameFlags.End, 0, Version1Hello(1, 1, role: 3)));

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => ConnectAsync(old.Address, ct));

        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains($"The peer chose protocol version 1..1; this node speaks 2..{ProtocolLimits.MaxVersion}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnOpenersHello_StillReadsInVersion1sLayout()
    {
        using var key = NodeIdentity.Create();
        var hello = new HelloMessage(ProtocolLimits.MinVersion, ProtocolLimits.MaxVersion, key.Id, NodeRole.Relay, "site-a", Handshake.NewNonce(), true, []).Encode();
        Assert.Equal((ProtocolLimits.MinVersion, ProtocolLimits.MaxVersion), ReadVersion1Hello(hello));
    }

    /// <summary>A version-1 HELLO: versions, a 16-byte id, role, flag, nonce, an empty proof, a site.</summary>
    private static byte[] Version1Hello(ushort min, ushort max, byte role = 1, string site = "old")
    {
        var siteBytes = Encoding.ASCII.GetBytes(site);
        var hello = new byte[2 + 2 + 16 + 1 + 1 + 32 + 1 + 2 + siteBytes.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(hello, min);
        BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(2), max);
        Guid.NewGuid().TryWriteBytes(hello.AsSpan(4));
        hello[20] = role;
        RandomNumberGenerator.Fill(hello.AsSpan(22, 32));
        BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(55), (ushort)siteBytes.Length);
        siteBytes.CopyTo(hello, 57);
        return hello;
    }

    /// <summary>Version 1's reading of a HELLO, field by field, down to its refusal of trailing bytes; returns the range.</summary>
    private static (ushort Min, ushort Max) ReadVersion1Hello(byte[] hello)
    {
        Assert.True(hello.Length >= 57, "shorter than version 1's fixed fields");
        Assert.InRange(hello[20], 1, 3);
        Assert.InRange(hello[21], 0, 1);
        int proofLength = hello[54];
        Assert.True(proofLength is 0 or 32, $"a version-1 node refuses a proof of {proofLength} bytes");
        int siteAt = 55 + proofLength;
        int siteLength = BinaryPrimitives.ReadUInt16LittleEndian(hello.AsSpan(siteAt));
        Assert.True(siteLength <= 64, "a version-1 node refuses a site longer than 64 bytes");
        Assert.Equal(siteAt + 2 + siteLength, hello.Length); // no trailing bytes
        return (BinaryPrimitives.ReadUInt16LittleEndian(hello), BinaryPrimitives.ReadUInt16LittleEndian(hello.AsSpan(2)));
    }

    private static async Task<PeerConnection> ConnectAsync(NodeAddress address, CancellationToken ct)
    {
        var counters = new LinkCounters();
        var transport = await TcpConnection.ConnectAsync(address, counters, ct);
        return await PeerConnection.StartAsync(transport, transport, isOpener: true, ConnectionIdentity.NewClient(), null, counters, null, ct).WaitAsync(Timeout, ct);
    }

    private async Task<TreeNode> StartNodeAsync() =>
        _node = await TreeNode.StartAsync(new TreeNodeOptions { Listen = [new NodeAddress("tcp", "127.0.0.1", 0)], DataDirectory = _dir.Sub("root"), Site = "v2" });

    public async ValueTask DisposeAsync()
    {
        if (_node is not null)
        {
            await _node.DisposeAsync();
        }

        _dir.Dispose();
    }

    /// <summary>A listener that reads one opener's HELLO and writes back whatever frame <c>reply</c> makes of it.</summary>
    private sealed class FakeAcceptor : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new(Timeout);
        private Task? _serving;

        public NodeAddress Address => new("tcp", "127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port);

        public static FakeAcceptor Start(Func<byte[], byte[]> reply)
        {
            var fake = new FakeAcceptor();
            fake._listener.Start();
            fake._serving = fake.ServeAsync(reply);
            return fake;
        }

        private async Task ServeAsync(Func<byte[], byte[]> reply)
        {
            using var socket = await _listener.AcceptSocketAsync(_stop.Token);
            await using var stream = new NetworkStream(socket);
            var header = new byte[ProtocolLimits.HeaderSize];
            await stream.ReadExactlyAsync(header, _stop.Token);
            var hello = new byte[Math.Clamp(BitConverter.ToInt32(header) - 8, 0, 4096)];
            await stream.ReadExactlyAsync(hello, _stop.Token);
            await stream.WriteAsync(reply(hello), _stop.Token);

            // Then wait for the dialer to hang up, as a node would before it closes.
            _ = await stream.ReadAtLeastAsync(new byte[64], 1, throwOnEndOfStream: false, _stop.Token);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try
            {
                if (_serving is not null)
                {
                    await _serving;
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
            {
            }

            _stop.Dispose();
        }
    }
}
