using System.Buffers.Binary;
using System.Net;
using OmniStore.Nat.Rendezvous;

namespace OmniStore.Tests.Nat;

/// <summary>The rendezvous's messages read as hostile (docs/nat.md): what was written reads back; anything malformed is a protocol error naming what is wrong.</summary>
public sealed class RendezvousMessagesTests
{
    private static readonly Candidate[] Some =
    [
        new(CandidateKind.Host, new IPEndPoint(IPAddress.Parse("198.18.3.2"), 7000)),
        new(CandidateKind.Mapped, new IPEndPoint(IPAddress.Parse("198.19.3.2"), 40000)),
        new(CandidateKind.Reflexive, new IPEndPoint(IPAddress.Parse("2001:db8::1"), 65535)),
    ];

    [Fact]
    public void NamedMessages_ReadBackAsWritten()
    {
        var (name, candidates) = RendezvousMessages.ReadNamed(RendezvousMessages.EncodeRegister("site-a", Some));
        Assert.Equal("site-a", name);
        Assert.Equal(Some, candidates);
    }

    [Fact]
    public void SessionMessages_ReadBackAsWritten()
    {
        byte[] token = [.. Enumerable.Range(1, RendezvousMessages.TokenSize).Select(i => (byte)i)];
        var (session, relay, readToken, candidates) = RendezvousMessages.ReadSession(RendezvousMessages.EncodePunch(123456789, relay: true, token, Some));
        Assert.Equal(123456789, session);
        Assert.True(relay);
        Assert.Equal(token, readToken);
        Assert.Equal(Some, candidates);
        Assert.Equal(42, RendezvousMessages.ReadRelay(RendezvousMessages.EncodeRelay(42)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Master")]
    [InlineData("1st")]
    [InlineData("a b")]
    [InlineData("site_a")]
    [InlineData("a\u001b[2J")]
    public void ABadName_IsRefused(string name)
    {
        Assert.NotNull(RendezvousMessages.CheckName(name));
        var payload = new byte[1 + System.Text.Encoding.UTF8.GetByteCount(name) + 1];
        payload[0] = (byte)(payload.Length - 2);
        System.Text.Encoding.UTF8.GetBytes(name, payload.AsSpan(1));
        var error = Assert.Throws<OmniStoreException>(() => RendezvousMessages.ReadNamed(payload));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.DoesNotContain("\u001b", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ANameOf64Characters_IsRefused()
    {
        Assert.NotNull(RendezvousMessages.CheckName(new string('a', 64)));
        Assert.Null(RendezvousMessages.CheckName(new string('a', 63)));
    }

    public static TheoryData<string, byte[]> Malformed()
    {
        var good = RendezvousMessages.EncodeRegister("node", Some);
        var tooMany = RendezvousMessages.EncodeRegister("node", []);
        tooMany[^1] = RendezvousMessages.MaxCandidates + 1;
        var unknownKind = (byte[])good.Clone();
        unknownKind[1 + 4 + 1] = 9;
        var unknownFamily = (byte[])good.Clone();
        unknownFamily[1 + 4 + 1 + 1] = 5;
        var portZero = RendezvousMessages.EncodeRegister("node", [Some[0]]);
        BinaryPrimitives.WriteUInt16LittleEndian(portZero.AsSpan(portZero.Length - 2), 0);
        return new TheoryData<string, byte[]>
        {
            { "needs", good[..^1] },
            { "trailing", [.. good, 0] },
            { "at most", tooMany },
            { "unknown kind", unknownKind },
            { "unknown address family", unknownFamily },
            { "port 0", portZero },
            { "needs", [] },
            { "a node name of 0 bytes", [0, 0] },
        };
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void AMalformedNamedMessage_IsAProtocolError_NamingWhy(string why, byte[] payload)
    {
        var error = Assert.Throws<OmniStoreException>(() => RendezvousMessages.ReadNamed(payload));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ASessionMessageWithAnUnknownMode_OrCutShort_IsAProtocolError()
    {
        var punch = RendezvousMessages.EncodePunch(1, relay: false, default, Some);
        var badMode = (byte[])punch.Clone();
        badMode[8] = 2;
        Assert.Contains("unknown mode", Assert.Throws<OmniStoreException>(() => RendezvousMessages.ReadSession(badMode)).Message, StringComparison.Ordinal);
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => RendezvousMessages.ReadSession(punch.AsSpan(0, 20))).Error);
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => RendezvousMessages.ReadRelay([1, 2, 3])).Error);
    }
}
