using System.Net;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>
/// rudp's packet headers and stateless retry cookie (docs/rudp.md): headers round-trip and a
/// datagram that is not one is refused with a reason; a token is accepted only from the address,
/// port and ids it was issued for, within its lifetime, across one rotation of the secret.
/// </summary>
public sealed class RudpHandshakeCodecTests
{
    private static readonly ConnectionId Client = new(0x1122334455667788);
    private static readonly ConnectionId Server = new(0x99aabbccddeeff00);
    private static readonly IPEndPoint From = new(IPAddress.Parse("198.18.0.7"), 40000);

    [Theory]
    [InlineData((byte)PacketType.Initial)]
    [InlineData((byte)PacketType.Retry)]
    [InlineData((byte)PacketType.Accept)]
    [InlineData((byte)PacketType.VersionNegotiation)]
    public void ALongHeader_RoundTrips(byte packetType)
    {
        var type = (PacketType)packetType;
        var datagram = new byte[PacketHeader.LongHeaderLength + 3];
        int written = PacketHeader.WriteLong(datagram, type, PacketHeader.Version1, Server, Client);

        Assert.True(PacketHeader.TryRead(datagram, out var header, out var problem), problem);
        Assert.Equal(type, header.Type);
        Assert.Equal(PacketHeader.Version1, header.Version);
        Assert.Equal(Server, header.Destination);
        Assert.Equal(Client, header.Source);
        Assert.Equal(written, header.Length);
    }

    [Theory]
    [InlineData(0L, 1)]
    [InlineData(0x1234L, 2)]
    [InlineData(0xABCDEFL, 3)]
    [InlineData(0x7FFFFFFFL, 4)]
    public void AShortHeader_RoundTripsItsTruncatedPacketNumber(long number, int length)
    {
        var datagram = new byte[32];
        int written = PacketHeader.WriteShort(datagram, Server, number, length);

        Assert.True(PacketHeader.TryRead(datagram.AsSpan(0, written), out var header, out var problem), problem);
        Assert.Equal(PacketType.Short, header.Type);
        Assert.Equal(Server, header.Destination);
        Assert.Equal(length, header.PacketNumberLength);
        Assert.Equal(number, PacketNumber.Decode(number - 1, header.TruncatedPacketNumber, length));
    }

    public static TheoryData<string, string> NotHeaders => new()
    {
        { "", "empty" },
        { "00", "without the fixed bit" },
        { "4c" + "0011223344556677" + "00", "reserved bits" },
        { "43" + "0011223344556677" + "0000", "cut short" },
        { "c1" + "01000000" + "08" + "0011223344556677" + "08" + "0011223344556677", "reserved bits" },
        { "c0" + "01000000" + "04" + "00112233", "cut short" },
        { "c0" + "01000000" + "04" + "0011223344556677" + "08" + "0011223344556677", "connection ids of 4 and" },
    };

    [Theory]
    [MemberData(nameof(NotHeaders))]
    public void ADatagramThatIsNotAHeader_IsRefusedWithAReason(string hex, string expected)
    {
        Assert.False(PacketHeader.TryRead(Convert.FromHexString(hex), out _, out var problem));
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ARetryToken_IsValidForItsAddressPortAndIdsOnly()
    {
        var cookie = new RetryCookie();
        var token = cookie.Issue(From, Client, Server);

        Assert.Equal(RetryCookie.TokenSize, token.Length);
        Assert.True(cookie.Validate(token, From, Client, Server));
        Assert.True(cookie.Validate(token, new IPEndPoint(From.Address.MapToIPv6(), From.Port), Client, Server)); // the same address, as a dual-stack socket reports it
        Assert.False(cookie.Validate(token, new IPEndPoint(IPAddress.Parse("198.18.0.8"), From.Port), Client, Server));
        Assert.False(cookie.Validate(token, new IPEndPoint(From.Address, From.Port + 1), Client, Server));
        Assert.False(cookie.Validate(token, From, new ConnectionId(Client.Value + 1), Server));
        Assert.False(cookie.Validate(token, From, Client, new ConnectionId(Server.Value + 1)));
        Assert.False(cookie.Validate(token.AsSpan(0, token.Length - 1), From, Client, Server));

        var flipped = (byte[])token.Clone();
        flipped[^1] ^= 1;
        Assert.False(cookie.Validate(flipped, From, Client, Server));

        // Another listener (another secret) does not take it.
        Assert.False(new RetryCookie().Validate(token, From, Client, Server));
    }

    [Fact]
    public void ARetryToken_ExpiresAfterItsLifetime_AndSurvivesOneRotationOfTheSecret()
    {
        var now = new DateTime(2026, 12, 2, 12, 0, 0, DateTimeKind.Utc);
        var cookie = new RetryCookie(() => now);
        var token = cookie.Issue(From, Client, Server);

        now += RetryCookie.Lifetime;
        Assert.True(cookie.Validate(token, From, Client, Server));
        now += TimeSpan.FromSeconds(1);
        Assert.False(cookie.Validate(token, From, Client, Server));

        // Issued 5 s before the secret rotates: still valid 1 s after (the previous secret is kept).
        var start = now - RetryCookie.Lifetime - TimeSpan.FromSeconds(1); // when the cookie was made
        now = start + RetryCookie.Rotation - TimeSpan.FromSeconds(5);
        var late = cookie.Issue(From, Client, Server);
        now = start + RetryCookie.Rotation + TimeSpan.FromSeconds(1);
        Assert.True(cookie.Validate(late, From, Client, Server));
        var fresh = cookie.Issue(From, Client, Server); // under the new secret

        // Another rotation later, the first secret is gone (and the token long expired anyway).
        now += RetryCookie.Rotation;
        Assert.False(cookie.Validate(late, From, Client, Server));
        Assert.False(cookie.Validate(fresh, From, Client, Server));

        // A token from the future (a forged time) is refused.
        var forged = (byte[])late.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(forged, uint.MaxValue);
        Assert.False(cookie.Validate(forged, From, Client, Server));
    }
}
