using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using OmniStore.Nat.PortMapping;

namespace OmniStore.Tests.Nat.PortMapping;

/// <summary>NAT-PMP (RFC 6886): messages against the RFC's byte layouts, hostile answers refused with a clear reason, and the client's retransmissions against a loopback server.</summary>
public sealed class NatPmpTests
{
    private static readonly PortMappingSchedule Fast = new(TimeSpan.FromMilliseconds(100), 4);
    private static readonly IPAddress External = IPAddress.Parse("198.18.200.7");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void Requests_HaveTheRfcLayout()
    {
        Assert.Equal([0, 0], NatPmpMessage.EncodeExternalAddressRequest()); // section 3.2: version 0, opcode 0
        // Section 3.3: version, opcode 1 (UDP), reserved 0, internal port, suggested external port, lifetime.
        Assert.Equal([0, 1, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x1C, 0x20], NatPmpMessage.EncodeMapUdpRequest(0x1234, 0x5678, 7200));
        // Section 3.4: removal is lifetime 0 and external port 0.
        Assert.Equal([0, 1, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0], NatPmpMessage.EncodeMapUdpRequest(0x1234, 0, 0));
    }

    [Fact]
    public void Answers_AreReadFromTheRfcLayout()
    {
        byte[] address = [0, 128, 0, 0, 0, 0, 0x01, 0x00, 198, 18, 200, 7];
        var read = NatPmpMessage.TryParse(address, NatPmpMessage.ExternalAddressOpcode, out var problem)!;
        Assert.Null(problem);
        Assert.Equal(NatPmpResult.Success, read.Result);
        Assert.Equal(256u, read.Epoch);
        Assert.Equal(External, read.ExternalAddress);

        byte[] map = [0, 129, 0, 0, 0, 0, 0, 9, 0x12, 0x34, 0x56, 0x79, 0, 0, 0x0E, 0x10];
        read = NatPmpMessage.TryParse(map, NatPmpMessage.MapUdpOpcode, out problem)!;
        Assert.Equal((0x1234, 0x5679, 3600u, 9u), (read.InternalPort, read.ExternalPort, read.Lifetime, read.Epoch));

        // A failure's other fields are undefined (section 3.5): only the code is read, whatever the size.
        read = NatPmpMessage.TryParse([0, 129, 0, 2, 0, 0, 0, 9], NatPmpMessage.MapUdpOpcode, out problem)!;
        Assert.Equal(NatPmpResult.NotAuthorized, read.Result);
    }

    [Theory]
    [InlineData(new byte[] { 0, 128, 0 }, "3-byte")]
    [InlineData(new byte[] { 2, 128, 0, 0, 0, 0, 0, 1, 198, 18, 200, 7 }, "version 2")]
    [InlineData(new byte[] { 0, 129, 0, 0, 0, 0, 0, 1, 198, 18, 200, 7 }, "opcode 129")]
    [InlineData(new byte[] { 0, 128, 0, 0, 0, 0, 0, 1, 198, 18, 200 }, "11-byte success")]
    [InlineData(new byte[] { 0, 128, 0, 0, 0, 0, 0, 1, 198, 18, 200, 7, 0, 0, 0, 0 }, "16-byte success")]
    public void HostileAnswers_AreRefused_WithTheReason(byte[] answer, string reason)
    {
        Assert.Null(NatPmpMessage.TryParse(answer, NatPmpMessage.ExternalAddressOpcode, out var problem));
        Assert.Contains(reason, problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Map_AsksForTheAddressThenTheMapping_AndReturnsTheLease()
    {
        await using var server = new FakeUdpGateway((request, _) => Answer(request, externalPort: 40001, lifetime: 120));
        await using var client = new NatPmpClient(Udp(), server.Address, Fast, server.Port);

        var lease = await client.MapAsync(5000, 5000, TimeSpan.FromSeconds(120), Token);

        Assert.Equal(new IPEndPoint(External, 40001), lease.PublicEndPoint);
        Assert.Equal(PortMappingMethods.NatPmp, lease.Method);
        Assert.Equal(TimeSpan.FromSeconds(120), lease.Lifetime);
        var requests = server.Requests;
        Assert.Equal(2, requests.Count);
        Assert.Equal(NatPmpMessage.EncodeMapUdpRequest(5000, 5000, 120), requests[1].Request);
    }

    [Fact]
    public async Task Requests_AreSentAgain_AfterWaitsThatDouble()
    {
        // The first three requests get no answer; the fourth is answered.
        await using var server = new FakeUdpGateway((request, before) => before < 3 ? null : Answer(request, 40001, 60));
        await using var client = new NatPmpClient(Udp(), server.Address, Fast, server.Port);

        Assert.Equal(External, await client.GetExternalAddressAsync(Token));

        var at = server.Requests.Select(r => r.At).ToArray();
        Assert.Equal(4, at.Length);
        for (int i = 1; i < at.Length; i++)
        {
            var expected = Fast.InitialWait * (1 << (i - 1)); // 100, 200, 400 ms
            var gap = at[i] - at[i - 1];
            Assert.InRange(gap, expected * 0.9, expected + TimeSpan.FromMilliseconds(250));
        }
    }

    [Fact]
    public async Task NoAnswer_EndsAsUnavailable_AfterTheSchedule()
    {
        await using var server = new FakeUdpGateway((_, _) => null);
        await using var client = new NatPmpClient(Udp(), server.Address, Fast, server.Port);
        var started = DateTime.UtcNow;

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => client.GetExternalAddressAsync(Token));

        Assert.Equal(OmniStoreError.Unavailable, e.Error);
        Assert.Equal(Fast.Requests, server.Requests.Count);
        Assert.InRange(DateTime.UtcNow - started, Fast.Total * 0.9, Fast.Total + TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task AnswersWithTheWrongOpcode_AreIgnored_AndNamedInTheError()
    {
        await using var server = new FakeUdpGateway((_, _) => [0, 130, 0, 0, 0, 0, 0, 1, 198, 18, 200, 7]);
        await using var client = new NatPmpClient(Udp(), server.Address, Fast, server.Port);

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => client.GetExternalAddressAsync(Token));

        Assert.Equal(OmniStoreError.ProtocolError, e.Error);
        Assert.Contains("opcode 130", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnswersFromAnotherPort_AreIgnored()
    {
        using var spoofer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        spoofer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await using var server = new FakeUdpGateway((request, _) => Answer(request, 40001, 60)) { AnswerFrom = spoofer };
        await using var client = new NatPmpClient(Udp(), server.Address, Fast, server.Port);

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => client.GetExternalAddressAsync(Token));

        Assert.Equal(OmniStoreError.Unavailable, e.Error);
    }

    [Fact]
    public async Task ARefusal_EndsAtOnce_WithItsResultCode()
    {
        await using var server = new FakeUdpGateway((request, _) => [0, (byte)(request[1] + 128), 0, 2, 0, 0, 0, 1]);
        await using var client = new NatPmpClient(Udp(), server.Address, Fast, server.Port);

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => client.GetExternalAddressAsync(Token));

        Assert.Equal(OmniStoreError.ProtocolError, e.Error);
        Assert.Contains("result 2 (not authorized", e.Message, StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task AMappingForAnotherInternalPort_IsRefused()
    {
        await using var server = new FakeUdpGateway((request, _) =>
        {
            var answer = Answer(request, 40001, 60);
            if (request[1] == NatPmpMessage.MapUdpOpcode)
            {
                BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(8), 4999);
            }

            return answer;
        });
        await using var client = new NatPmpClient(Udp(), server.Address, Fast, server.Port);

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => client.MapAsync(5000, 5000, TimeSpan.FromSeconds(60), Token));

        Assert.Equal(OmniStoreError.ProtocolError, e.Error);
        Assert.Contains("internal port 4999", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Epoch_ThatGoesBack_ShowsARestart()
    {
        var epoch = new ServerEpoch();
        Assert.False(epoch.Observe(1000));
        Assert.False(epoch.Observe(1000)); // no time passed: the same epoch is fine
        Assert.True(epoch.Observe(10)); // the table was reset
    }

    /// <summary>A loopback gateway's answer to a NAT-PMP request (external address 198.18.200.7).</summary>
    internal static byte[] Answer(byte[] request, int externalPort, uint lifetime)
    {
        if (request.Length == 2 && request[1] == NatPmpMessage.ExternalAddressOpcode)
        {
            return [0, 128, 0, 0, 0, 0, 0, 50, 198, 18, 200, 7];
        }

        var answer = new byte[16];
        answer[1] = 129;
        BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(4), 50);
        request.AsSpan(4, 2).CopyTo(answer.AsSpan(8));
        uint asked = BinaryPrimitives.ReadUInt32BigEndian(request.AsSpan(8));
        BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(10), asked == 0 ? (ushort)0 : (ushort)externalPort);
        BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(12), asked == 0 ? 0 : lifetime);
        return answer;
    }

    internal static Socket Udp() => new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
}
