using System.Buffers.Binary;
using System.Net;

namespace OmniStore.Nat.PortMapping;

/// <summary>An answer from a NAT-PMP server, as read: its opcode, result code and epoch, and the fields of its kind.</summary>
/// <param name="Opcode">128 + the request's opcode.</param>
/// <param name="Result">The result code (0 is success).</param>
/// <param name="Epoch">Seconds since the server's port mapping table was last reset.</param>
/// <param name="ExternalAddress">The gateway's external address (answer to opcode 0 only).</param>
/// <param name="InternalPort">The internal port of the mapping (answers to opcodes 1 and 2).</param>
/// <param name="ExternalPort">The external port the server assigned (answers to opcodes 1 and 2).</param>
/// <param name="Lifetime">The lifetime the server granted, in seconds (answers to opcodes 1 and 2).</param>
internal sealed record NatPmpResponse(byte Opcode, NatPmpResult Result, uint Epoch, IPAddress? ExternalAddress, int InternalPort, int ExternalPort, uint Lifetime);

/// <summary>NAT-PMP result codes (RFC 6886 section 3.5).</summary>
internal enum NatPmpResult : ushort
{
    Success = 0,
    UnsupportedVersion = 1,
    NotAuthorized = 2,
    NetworkFailure = 3,
    OutOfResources = 4,
    UnsupportedOpcode = 5,
}

/// <summary>
/// NAT-PMP's messages (RFC 6886 section 3): every field is big-endian, version 0. Answers are read
/// as hostile: their size, version, opcode and every field are checked, and the reason an answer
/// is refused is kept for the error the transaction ends with.
/// </summary>
internal static class NatPmpMessage
{
    /// <summary>The port a NAT-PMP (and PCP) server listens on.</summary>
    public const int ServerPort = 5351;

    /// <summary>The external address request's opcode.</summary>
    public const byte ExternalAddressOpcode = 0;

    /// <summary>The UDP mapping request's opcode.</summary>
    public const byte MapUdpOpcode = 1;

    /// <summary>Added to a request's opcode in its answer.</summary>
    public const byte ResponseBit = 128;

    /// <summary>Size of an answer to an external address request.</summary>
    public const int ExternalAddressResponseSize = 12;

    /// <summary>Size of an answer to a mapping request.</summary>
    public const int MapResponseSize = 16;

    /// <summary>The external address request (section 3.2): version 0, opcode 0.</summary>
    public static byte[] EncodeExternalAddressRequest() => [0, ExternalAddressOpcode];

    /// <summary>
    /// A UDP mapping request (section 3.3): version, opcode 1, two reserved bytes, the internal port,
    /// the suggested external port and the lifetime in seconds; lifetime 0 with external port 0
    /// removes the mapping (section 3.4).
    /// </summary>
    public static byte[] EncodeMapUdpRequest(int internalPort, int suggestedExternalPort, uint lifetimeSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(internalPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(internalPort, 65535);
        ArgumentOutOfRangeException.ThrowIfNegative(suggestedExternalPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(suggestedExternalPort, 65535);
        var request = new byte[12];
        request[1] = MapUdpOpcode;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(4), (ushort)internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(6), (ushort)suggestedExternalPort);
        BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(8), lifetimeSeconds);
        return request;
    }

    /// <summary>
    /// Reads the answer to a request with <paramref name="requestOpcode"/>; null, with the reason in
    /// <paramref name="problem"/>, when <paramref name="datagram"/> is not one. A result code other
    /// than success is an answer (its other fields are undefined, section 3.5, so they are not read).
    /// </summary>
    public static NatPmpResponse? TryParse(ReadOnlySpan<byte> datagram, byte requestOpcode, out string? problem)
    {
        byte expectedOpcode = (byte)(requestOpcode + ResponseBit);
        int size = requestOpcode == ExternalAddressOpcode ? ExternalAddressResponseSize : MapResponseSize;
        if (datagram.Length < 4)
        {
            problem = $"a {datagram.Length}-byte answer (a NAT-PMP answer has at least 4)";
            return null;
        }

        if (datagram[0] != 0)
        {
            problem = $"an answer of version {datagram[0]} (NAT-PMP is version 0)";
            return null;
        }

        if (datagram[1] != expectedOpcode)
        {
            problem = $"an answer with opcode {datagram[1]} to a request with opcode {requestOpcode} (expected {expectedOpcode})";
            return null;
        }

        var result = (NatPmpResult)BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        uint epoch = datagram.Length >= 8 ? BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]) : 0;
        if (result != NatPmpResult.Success)
        {
            problem = null;
            return new NatPmpResponse(datagram[1], result, epoch, null, 0, 0, 0);
        }

        if (datagram.Length != size)
        {
            problem = $"a {datagram.Length}-byte success answer to opcode {requestOpcode} (it has {size} bytes)";
            return null;
        }

        if (requestOpcode == ExternalAddressOpcode)
        {
            problem = null;
            return new NatPmpResponse(datagram[1], result, epoch, new IPAddress(datagram.Slice(8, 4)), 0, 0, 0);
        }

        int internalPort = BinaryPrimitives.ReadUInt16BigEndian(datagram[8..]);
        int externalPort = BinaryPrimitives.ReadUInt16BigEndian(datagram[10..]);
        uint lifetime = BinaryPrimitives.ReadUInt32BigEndian(datagram[12..]);
        problem = null;
        return new NatPmpResponse(datagram[1], result, epoch, null, internalPort, externalPort, lifetime);
    }

    /// <summary>What a result code means (section 3.5), for an error message.</summary>
    public static string Describe(NatPmpResult result) => result switch
    {
        NatPmpResult.Success => "success",
        NatPmpResult.UnsupportedVersion => "1 (unsupported version)",
        NatPmpResult.NotAuthorized => "2 (not authorized/refused: port mapping may be disabled on the gateway)",
        NatPmpResult.NetworkFailure => "3 (network failure: the gateway has no external address)",
        NatPmpResult.OutOfResources => "4 (out of resources)",
        NatPmpResult.UnsupportedOpcode => "5 (unsupported opcode)",
        _ => $"{(ushort)result} (unknown)",
    };
}
