using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace OmniStore.Nat.PortMapping;

/// <summary>PCP result codes (RFC 6887 section 7.4).</summary>
internal enum PcpResult : byte
{
    Success = 0,
    UnsupportedVersion = 1,
    NotAuthorized = 2,
    MalformedRequest = 3,
    UnsupportedOpcode = 4,
    UnsupportedOption = 5,
    MalformedOption = 6,
    NetworkFailure = 7,
    NoResources = 8,
    UnsupportedProtocol = 9,
    UserExceededQuota = 10,
    CannotProvideExternal = 11,
    AddressMismatch = 12,
    ExcessiveRemotePeers = 13,
}

/// <summary>An answer to a PCP MAP request, as read.</summary>
/// <param name="Version">The answer's version: 2, or 0 when a NAT-PMP-only server refused the version (RFC 6887 section 9).</param>
/// <param name="Result">The result code.</param>
/// <param name="Lifetime">Seconds the mapping is granted (or, for an error, how long the error holds).</param>
/// <param name="Epoch">The server's epoch.</param>
/// <param name="InternalPort">The mapping's internal port.</param>
/// <param name="ExternalPort">The assigned external port.</param>
/// <param name="ExternalAddress">The assigned external address (IPv4 when it is IPv4-mapped).</param>
internal sealed record PcpMapResponse(byte Version, PcpResult Result, uint Lifetime, uint Epoch, int InternalPort, int ExternalPort, IPAddress? ExternalAddress);

/// <summary>
/// PCP's MAP request and its answer (RFC 6887 sections 7 and 11), version 2, UDP only. Answers are
/// read as hostile: size (a multiple of 4, at least the header and the MAP fields, at most 1100
/// bytes), version, the response bit and opcode, the nonce, the protocol and the internal port
/// are all checked; options after the MAP fields are skipped, each checked to fit.
/// </summary>
internal static class PcpMessage
{
    /// <summary>PCP's version.</summary>
    public const byte Version = 2;

    /// <summary>The MAP opcode.</summary>
    public const byte MapOpcode = 1;

    /// <summary>The header's size, request and answer.</summary>
    public const int HeaderSize = 24;

    /// <summary>The MAP fields' size, request and answer.</summary>
    public const int MapSize = 36;

    /// <summary>The largest PCP message.</summary>
    public const int MaxSize = 1100;

    private const byte Udp = 17;

    /// <summary>A new 96-bit mapping nonce, from a cryptographic generator (section 11.1: an off-path attacker must not guess it).</summary>
    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(12);

    /// <summary>
    /// A MAP request: header (version 2, opcode 1, requested lifetime, the client's address as the
    /// server sees it), then nonce, protocol 17, the internal port, the suggested external port and
    /// address (all-zeros IPv4, <c>::ffff:0.0.0.0</c>, when there is none to suggest).
    /// </summary>
    public static byte[] EncodeMapRequest(IPAddress clientAddress, ReadOnlySpan<byte> nonce, int internalPort, int suggestedExternalPort, IPAddress? suggestedExternalAddress, uint lifetimeSeconds)
    {
        ArgumentNullException.ThrowIfNull(clientAddress);
        ArgumentOutOfRangeException.ThrowIfNotEqual(nonce.Length, 12);
        ArgumentOutOfRangeException.ThrowIfLessThan(internalPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(internalPort, 65535);
        ArgumentOutOfRangeException.ThrowIfNegative(suggestedExternalPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(suggestedExternalPort, 65535);
        var request = new byte[HeaderSize + MapSize];
        request[0] = Version;
        request[1] = MapOpcode;
        BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(4), lifetimeSeconds);
        WriteAddress(request.AsSpan(8, 16), clientAddress);
        nonce.CopyTo(request.AsSpan(24));
        request[36] = Udp;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(40), (ushort)internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(42), (ushort)suggestedExternalPort);
        WriteAddress(request.AsSpan(44, 16), suggestedExternalAddress ?? IPAddress.Any);
        return request;
    }

    /// <summary>
    /// Reads the answer to a MAP request with <paramref name="nonce"/> for <paramref name="internalPort"/>;
    /// null, with the reason in <paramref name="problem"/>, when <paramref name="datagram"/> is not
    /// one. A NAT-PMP server's "unsupported version" answer (version 0, result 1) reads as
    /// <see cref="PcpResult.UnsupportedVersion"/> with version 0; so does a PCP server's answer to a
    /// version it does not speak, which may carry only the header.
    /// </summary>
    public static PcpMapResponse? TryParseMapResponse(ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> nonce, int internalPort, out string? problem)
    {
        if (datagram.Length >= 4 && datagram[0] == 0)
        {
            // RFC 6887 section 9: a NAT-PMP server answers a PCP request with its own "unsupported version".
            if (datagram[1] >= NatPmpMessage.ResponseBit && BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]) == (ushort)NatPmpResult.UnsupportedVersion)
            {
                problem = null;
                return new PcpMapResponse(0, PcpResult.UnsupportedVersion, 0, 0, 0, 0, null);
            }

            problem = "a NAT-PMP answer other than \"unsupported version\" to a PCP request";
            return null;
        }

        if (datagram.Length < HeaderSize || datagram.Length > MaxSize || datagram.Length % 4 != 0)
        {
            problem = $"a {datagram.Length}-byte answer (a PCP answer has 24 to 1100 bytes, a multiple of 4)";
            return null;
        }

        if (datagram[1] != (0x80 | MapOpcode))
        {
            problem = $"an answer with opcode byte 0x{datagram[1]:X2} to a MAP request (expected 0x{0x80 | MapOpcode:X2})";
            return null;
        }

        var result = (PcpResult)datagram[3];
        uint lifetime = BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]);
        uint epoch = BinaryPrimitives.ReadUInt32BigEndian(datagram[8..]);
        if (result == PcpResult.UnsupportedVersion)
        {
            problem = null;
            return new PcpMapResponse(datagram[0], result, lifetime, epoch, 0, 0, null); // may hold only the header (section 9)
        }

        if (datagram[0] != Version)
        {
            problem = $"an answer of version {datagram[0]} (this client speaks PCP version {Version})";
            return null;
        }

        if (datagram.Length < HeaderSize + MapSize)
        {
            problem = $"a {datagram.Length}-byte answer to a MAP request (it has at least {HeaderSize + MapSize})";
            return null;
        }

        var map = datagram.Slice(HeaderSize, MapSize);
        if (!map[..12].SequenceEqual(nonce))
        {
            problem = "an answer with another mapping nonce";
            return null;
        }

        if (map[12] != Udp)
        {
            problem = $"an answer for protocol {map[12]} to a UDP request";
            return null;
        }

        int answeredInternal = BinaryPrimitives.ReadUInt16BigEndian(map[16..]);
        if (answeredInternal != internalPort)
        {
            problem = $"an answer for internal port {answeredInternal} to a request for {internalPort}";
            return null;
        }

        if (!OptionsFit(datagram[(HeaderSize + MapSize)..]))
        {
            problem = "an answer whose options do not fit in it";
            return null;
        }

        int externalPort = BinaryPrimitives.ReadUInt16BigEndian(map[18..]);
        problem = null;
        return new PcpMapResponse(datagram[0], result, lifetime, epoch, answeredInternal, externalPort, ReadAddress(map.Slice(20, 16)));
    }

    /// <summary>What a result code means (section 7.4), for an error message.</summary>
    public static string Describe(PcpResult result) => result switch
    {
        PcpResult.Success => "0 (success)",
        PcpResult.UnsupportedVersion => "1 (UNSUPP_VERSION)",
        PcpResult.NotAuthorized => "2 (NOT_AUTHORIZED: port mapping may be disabled on the gateway)",
        PcpResult.MalformedRequest => "3 (MALFORMED_REQUEST)",
        PcpResult.UnsupportedOpcode => "4 (UNSUPP_OPCODE)",
        PcpResult.UnsupportedOption => "5 (UNSUPP_OPTION)",
        PcpResult.MalformedOption => "6 (MALFORMED_OPTION)",
        PcpResult.NetworkFailure => "7 (NETWORK_FAILURE)",
        PcpResult.NoResources => "8 (NO_RESOURCES)",
        PcpResult.UnsupportedProtocol => "9 (UNSUPP_PROTOCOL)",
        PcpResult.UserExceededQuota => "10 (USER_EX_QUOTA)",
        PcpResult.CannotProvideExternal => "11 (CANNOT_PROVIDE_EXTERNAL)",
        PcpResult.AddressMismatch => "12 (ADDRESS_MISMATCH: the gateway sees another client address than the one sent)",
        PcpResult.ExcessiveRemotePeers => "13 (EXCESSIVE_REMOTE_PEERS)",
        _ => $"{(byte)result} (unknown)",
    };

    /// <summary>An address as PCP writes it: 16 bytes, IPv4 as IPv4-mapped IPv6 (section 5).</summary>
    internal static void WriteAddress(Span<byte> destination, IPAddress address)
    {
        var mapped = address.AddressFamily == AddressFamily.InterNetwork ? address.MapToIPv6() : address;
        if (!mapped.TryWriteBytes(destination, out int written) || written != 16)
        {
            throw new ArgumentException($"{address} is not an IP address PCP can carry.", nameof(address));
        }
    }

    private static IPAddress ReadAddress(ReadOnlySpan<byte> field)
    {
        var address = new IPAddress(field);
        return address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
    }

    /// <summary>Options (section 7.3): code, reserved, length, data padded to 4 bytes; each must fit.</summary>
    private static bool OptionsFit(ReadOnlySpan<byte> options)
    {
        while (!options.IsEmpty)
        {
            if (options.Length < 4)
            {
                return false;
            }

            int length = BinaryPrimitives.ReadUInt16BigEndian(options[2..]);
            int padded = (length + 3) & ~3;
            if (options.Length - 4 < padded)
            {
                return false;
            }

            options = options[(4 + padded)..];
        }

        return true;
    }
}
