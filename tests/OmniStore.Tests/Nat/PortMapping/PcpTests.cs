using System.Buffers.Binary;
using System.Net;
using OmniStore.Nat.PortMapping;

namespace OmniStore.Tests.Nat.PortMapping;

/// <summary>PCP (RFC 6887): the MAP request's byte layout, hostile answers refused with a clear reason, the nonce kept across renewals, and the fall back to NAT-PMP.</summary>
public sealed class PcpTests
{
    private static readonly PortMappingSchedule Fast = new(TimeSpan.FromMilliseconds(100), 4);
    private static readonly byte[] Nonce = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void MapRequest_HasTheRfcLayout()
    {
        var request = PcpMessage.EncodeMapRequest(IPAddress.Parse("198.18.1.2"), Nonce, 0x1234, 0x5678, null, 7200);

        Assert.Equal(60, request.Length); // section 7.1: 24-byte header; section 11.1: 36-byte MAP
        Assert.Equal(2, request[0]); // version
        Assert.Equal(1, request[1]); // R = 0 (request), opcode MAP
        Assert.Equal([0, 0], request[2..4]); // reserved
        Assert.Equal(7200u, BinaryPrimitives.ReadUInt32BigEndian(request.AsSpan(4)));
        Assert.Equal(IPAddress.Parse("::ffff:198.18.1.2"), new IPAddress(request.AsSpan(8, 16))); // client address, IPv4-mapped
        Assert.Equal(Nonce, request[24..36]);
        Assert.Equal(17, request[36]); // UDP
        Assert.Equal([0, 0, 0], request[37..40]); // reserved
        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(40)));
        Assert.Equal(0x5678, BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(42)));
        Assert.Equal(IPAddress.Parse("::ffff:0.0.0.0"), new IPAddress(request.AsSpan(44, 16))); // no address suggested: all-zeros IPv4
    }

    [Fact]
    public void MapAnswer_IsReadFromTheRfcLayout()
    {
        var answer = Answer(Nonce, 0x1234, 40001, 3600);

        var read = PcpMessage.TryParseMapResponse(answer, Nonce, 0x1234, out var problem)!;

        Assert.Null(problem);
        Assert.Equal(PcpResult.Success, read.Result);
        Assert.Equal((3600u, 77u, 40001), (read.Lifetime, read.Epoch, read.ExternalPort));
        Assert.Equal(IPAddress.Parse("198.18.200.7"), read.ExternalAddress);
    }

    public static TheoryData<string, byte[]> Hostile()
    {
        var good = Answer(Nonce, 0x1234, 40001, 3600);
        byte[] Altered(Action<byte[]> change)
        {
            var copy = (byte[])good.Clone();
            change(copy);
            return copy;
        }

        return new TheoryData<string, byte[]>
        {
            { "20-byte", good[..20] },
            { "a multiple of 4", [.. good, 0] },
            { "1100 bytes", [.. good, .. new byte[1100]] },
            { "opcode byte 0x82", Altered(a => a[1] = 0x82) },
            { "opcode byte 0x01", Altered(a => a[1] = 0x01) }, // a request, not an answer
            { "version 3", Altered(a => a[0] = 3) },
            { "another mapping nonce", Altered(a => a[24] ^= 1) },
            { "protocol 6", Altered(a => a[36] = 6) },
            { "internal port 4661", Altered(a => a[41] = 0x35) },
            { "options do not fit", [.. good, 0x80, 0, 0, 8, 0, 0, 0, 0] },
            { "a 48-byte answer to a MAP", good[..48] },
        };
    }

    [Theory]
    [MemberData(nameof(Hostile))]
    public void HostileAnswers_AreRefused_WithTheReason(string reason, byte[] answer)
    {
        Assert.Null(PcpMessage.TryParseMapResponse(answer, Nonce, 0x1234, out var problem));
        Assert.Contains(reason, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void UnsupportedVersion_IsRead_FromAPcpHeaderOrANatPmpAnswer()
    {
        var pcp = new byte[24];
        pcp[0] = 1;
        pcp[1] = 0x81;
        pcp[3] = (byte)PcpResult.UnsupportedVersion;
        Assert.Equal(PcpResult.UnsupportedVersion, PcpMessage.TryParseMapResponse(pcp, Nonce, 0x1234, out _)!.Result);
        Assert.Equal(PcpResult.UnsupportedVersion, PcpMessage.TryParseMapResponse([0, 129, 0, 1, 0, 0, 0, 5], Nonce, 0x1234, out _)!.Result);
    }

    [Fact]
    public async Task Renewal_AndRemoval_UseTheSameNonce()
    {
        await using var server = new FakeUdpGateway((request, _) => Answer(request[24..36], BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(40)), 40001, BinaryPrimitives.ReadUInt32BigEndian(request.AsSpan(4))));
        await using var client = new PcpClient(NatPmpTests.Udp(), server.Address, Fast, server.Port);

        var lease = await client.MapAsync(5000, 5000, TimeSpan.FromSeconds(60), Token);
        await client.MapAsync(5000, 40001, TimeSpan.FromSeconds(60), Token);
        await client.UnmapAsync(lease, Token);

        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.18.200.7"), 40001), lease.PublicEndPoint);
        Assert.Equal(PortMappingMethods.Pcp, lease.Method);
        var requests = server.Requests.Select(r => r.Request).ToArray();
        Assert.Equal(3, requests.Length);
        Assert.All(requests, r => Assert.Equal(requests[0][24..36], r[24..36]));
        Assert.Equal(IPAddress.Parse("::ffff:127.0.0.1"), new IPAddress(requests[0].AsSpan(8, 16))); // the client's address toward the server
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(requests[2].AsSpan(4))); // removal: lifetime 0
    }

    [Fact]
    public async Task AServerThatSpeaksOnlyNatPmp_IsSpokenToInNatPmp()
    {
        await using var server = new FakeUdpGateway((request, _) => request[0] == 2
            ? [0, 129, 0, 1, 0, 0, 0, 5] // RFC 6887 section 9: a NAT-PMP server's "unsupported version"
            : NatPmpTests.Answer(request, 40002, 60));
        await using var client = new PcpClient(NatPmpTests.Udp(), server.Address, Fast, server.Port);

        var lease = await client.MapAsync(5000, 5000, TimeSpan.FromSeconds(60), Token);

        Assert.True(client.FellBackToNatPmp);
        Assert.Equal(PortMappingMethods.NatPmp, lease.Method);
        Assert.Equal(40002, lease.PublicEndPoint.Port);
        await client.UnmapAsync(lease, Token);
        Assert.Equal([0, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0, 0], server.Requests[^1].Request); // a NAT-PMP removal
    }

    [Fact]
    public async Task AnswersWithAnotherNonce_AreIgnored_AndNamedInTheError()
    {
        await using var server = new FakeUdpGateway((request, _) => Answer(new byte[12], 5000, 40001, 60));
        await using var client = new PcpClient(NatPmpTests.Udp(), server.Address, Fast, server.Port);

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => client.MapAsync(5000, 5000, TimeSpan.FromSeconds(60), Token));

        Assert.Equal(OmniStoreError.ProtocolError, e.Error);
        Assert.Contains("another mapping nonce", e.Message, StringComparison.Ordinal);
        Assert.Equal(Fast.Requests, server.Requests.Count);
    }

    [Fact]
    public async Task ARefusal_NamesItsResultCode()
    {
        await using var server = new FakeUdpGateway((request, _) =>
        {
            var answer = Answer(request[24..36], 5000, 0, 30);
            answer[3] = (byte)PcpResult.NotAuthorized;
            return answer;
        });
        await using var client = new PcpClient(NatPmpTests.Udp(), server.Address, Fast, server.Port);

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => client.MapAsync(5000, 5000, TimeSpan.FromSeconds(60), Token));

        Assert.Contains("NOT_AUTHORIZED", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A MAP answer (section 11.1): header with result 0, epoch 77; the MAP fields with external 198.18.200.7.</summary>
    private static byte[] Answer(byte[] nonce, int internalPort, int externalPort, uint lifetime)
    {
        var answer = new byte[60];
        answer[0] = 2;
        answer[1] = 0x81;
        BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(4), lifetime);
        BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(8), 77);
        nonce.CopyTo(answer, 24);
        answer[36] = 17;
        BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(40), (ushort)internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(42), (ushort)externalPort);
        PcpMessage.WriteAddress(answer.AsSpan(44, 16), IPAddress.Parse("198.18.200.7"));
        return answer;
    }
}
