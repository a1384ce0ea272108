using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace OmniStore.Nat;

/// <summary>The STUN message classes and methods this build reads and writes (RFC 8489 section 5).</summary>
internal enum StunType : ushort
{
    BindingRequest = 0x0001,
    BindingSuccess = 0x0101,
    BindingError = 0x0111,
}

/// <summary>
/// A STUN message (RFC 8489): its type, transaction id, and the attributes this build uses. Read
/// from a datagram as hostile (docs/nat.md, "STUN"): anything malformed is not a STUN message.
/// </summary>
internal sealed class StunMessage
{
    /// <summary>The magic cookie in every message, bytes 4-7.</summary>
    public const uint MagicCookie = 0x2112A442;

    /// <summary>The header's size.</summary>
    public const int HeaderSize = 20;

    /// <summary>The most attributes read from one message: a real one has a handful.</summary>
    public const int MaxAttributes = 64;

    private const ushort MappedAddress = 0x0001;
    private const ushort UsernameAttribute = 0x0006;
    private const ushort ErrorCodeAttribute = 0x0009;
    private const ushort UnknownAttributes = 0x000A;
    private const ushort XorMappedAddress = 0x0020;
    private const ushort SoftwareAttribute = 0x8022;
    private const ushort FingerprintAttribute = 0x8028;
    private const uint FingerprintXor = 0x5354554E;

    public StunMessage(StunType type, ReadOnlyMemory<byte> transactionId)
    {
        Type = type;
        TransactionId = transactionId.ToArray();
    }

    public StunType Type { get; }

    /// <summary>The 96-bit transaction id.</summary>
    public byte[] TransactionId { get; }

    /// <summary>XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS: the address the server saw the request come from.</summary>
    public IPEndPoint? Mapped { get; init; }

    /// <summary>ERROR-CODE: the code (300-699) and its reason.</summary>
    public (int Code, string Reason)? Error { get; init; }

    public string? Software { get; init; }

    /// <summary>USERNAME's bytes (at most <see cref="MaxUsername"/>): a relay token or a punching session's tag (docs/nat.md).</summary>
    public byte[]? Username { get; init; }

    /// <summary>The longest USERNAME read or written.</summary>
    public const int MaxUsername = 64;

    /// <summary>Whether the message carried a FINGERPRINT (which was checked: a wrong one is no message).</summary>
    public bool Fingerprinted { get; private init; }

    /// <summary>Comprehension-required attribute types the message carried that this build does not know.</summary>
    public IReadOnlyList<ushort> Unknown { get; init; } = [];

    /// <summary>A new 96-bit transaction id, from a cryptographic generator (an attacker must not guess it).</summary>
    public static byte[] NewTransactionId() => RandomNumberGenerator.GetBytes(12);

    /// <summary>Whether <paramref name="datagram"/> looks like STUN (RFC 7983: first byte 0-3, the magic cookie): what a rudp port hands to its responder.</summary>
    public static bool IsStun(ReadOnlySpan<byte> datagram) =>
        datagram.Length >= HeaderSize && datagram[0] < 4 && BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]) == MagicCookie;

    /// <summary>Reads a message; null when <paramref name="datagram"/> is not a well-formed STUN message.</summary>
    public static StunMessage? TryParse(ReadOnlySpan<byte> datagram)
    {
        if (!IsStun(datagram))
        {
            return null;
        }

        ushort type = BinaryPrimitives.ReadUInt16BigEndian(datagram);
        int length = BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        if (length % 4 != 0 || HeaderSize + length != datagram.Length)
        {
            return null;
        }

        var transaction = datagram.Slice(8, 12);
        IPEndPoint? xorMapped = null, mapped = null;
        (int, string)? error = null;
        string? software = null;
        byte[]? username = null;
        bool fingerprinted = false;
        var unknown = new List<ushort>();
        int at = HeaderSize, count = 0;
        while (at < datagram.Length)
        {
            if (++count > MaxAttributes || datagram.Length - at < 4)
            {
                return null;
            }

            ushort attribute = BinaryPrimitives.ReadUInt16BigEndian(datagram[at..]);
            int valueLength = BinaryPrimitives.ReadUInt16BigEndian(datagram[(at + 2)..]);
            int padded = (valueLength + 3) & ~3;
            if (datagram.Length - at - 4 < padded)
            {
                return null;
            }

            var value = datagram.Slice(at + 4, valueLength);
            if (fingerprinted)
            {
                return null; // FINGERPRINT is the last attribute
            }

            switch (attribute)
            {
                case XorMappedAddress:
                    xorMapped = ReadAddress(value, transaction, xor: true);
                    if (xorMapped is null)
                    {
                        return null;
                    }

                    break;
                case MappedAddress:
                    mapped = ReadAddress(value, transaction, xor: false);
                    if (mapped is null)
                    {
                        return null;
                    }

                    break;
                case ErrorCodeAttribute:
                    if (value.Length < 4 || value[2] is < 3 or > 6 || value[3] > 99)
                    {
                        return null;
                    }

                    error = ((value[2] * 100) + value[3], Internal.UntrustedText.Escape(System.Text.Encoding.UTF8.GetString(value[4..]), 200));
                    break;
                case UsernameAttribute:
                    if (valueLength > MaxUsername)
                    {
                        return null;
                    }

                    username = value.ToArray();
                    break;
                case SoftwareAttribute:
                    software = Internal.UntrustedText.Escape(System.Text.Encoding.UTF8.GetString(value), 100);
                    break;
                case FingerprintAttribute:
                    if (valueLength != 4 || BinaryPrimitives.ReadUInt32BigEndian(value) != Fingerprint(datagram[..at]))
                    {
                        return null;
                    }

                    fingerprinted = true;
                    break;
                default:
                    if (attribute < 0x8000)
                    {
                        unknown.Add(attribute);
                    }

                    break;
            }

            at += 4 + padded;
        }

        return new StunMessage((StunType)type, transaction.ToArray())
        {
            Mapped = xorMapped ?? mapped,
            Error = error,
            Software = software,
            Username = username,
            Fingerprinted = fingerprinted,
            Unknown = unknown,
        };
    }

    /// <summary>The message as sent: its attributes, then FINGERPRINT.</summary>
    public byte[] Encode()
    {
        var buffer = new byte[256];
        int at = HeaderSize;
        if (Mapped is { } mapped)
        {
            at = WriteAddress(buffer, at, mapped);
        }

        if (Error is { } error)
        {
            var reason = System.Text.Encoding.UTF8.GetBytes(error.Reason.Length > 100 ? error.Reason[..100] : error.Reason);
            var value = new byte[4 + reason.Length];
            value[2] = (byte)(error.Code / 100);
            value[3] = (byte)(error.Code % 100);
            reason.CopyTo(value, 4);
            at = WriteAttribute(buffer, at, ErrorCodeAttribute, value);
        }

        if (Unknown.Count > 0)
        {
            var value = new byte[2 * Math.Min(Unknown.Count, 8)];
            for (int i = 0; i < value.Length / 2; i++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(value.AsSpan(2 * i), Unknown[i]);
            }

            at = WriteAttribute(buffer, at, UnknownAttributes, value);
        }

        if (Username is { } user)
        {
            at = WriteAttribute(buffer, at, UsernameAttribute, user.AsSpan(0, Math.Min(user.Length, MaxUsername)));
        }

        if (Software is { } software)
        {
            at = WriteAttribute(buffer, at, SoftwareAttribute, System.Text.Encoding.UTF8.GetBytes(software));
        }

        BinaryPrimitives.WriteUInt16BigEndian(buffer, (ushort)Type);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(4), MagicCookie);
        TransactionId.CopyTo(buffer, 8);
        int total = at + 8;
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(2), (ushort)(total - HeaderSize));
        uint crc = Fingerprint(buffer.AsSpan(0, at));
        Span<byte> fingerprint = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(fingerprint, crc);
        at = WriteAttribute(buffer, at, FingerprintAttribute, fingerprint);
        return buffer.AsSpan(0, at).ToArray();
    }

    /// <summary>
    /// The FINGERPRINT over the message up to it, <paramref name="before"/>. Its header's length
    /// already counts the FINGERPRINT attribute (a parsed message's was checked against the
    /// datagram; Encode writes it first), as RFC 8489 section 14.7 requires.
    /// </summary>
    private static uint Fingerprint(ReadOnlySpan<byte> before) => Crc32.Compute(before) ^ FingerprintXor;

    private static IPEndPoint? ReadAddress(ReadOnlySpan<byte> value, ReadOnlySpan<byte> transaction, bool xor)
    {
        if (value.Length < 4)
        {
            return null;
        }

        int size = value[1] switch { 0x01 => 4, 0x02 => 16, _ => -1 };
        if (size < 0 || value.Length != 4 + size)
        {
            return null;
        }

        int port = BinaryPrimitives.ReadUInt16BigEndian(value[2..]);
        var address = value.Slice(4, size).ToArray();
        if (xor)
        {
            port ^= (int)(MagicCookie >> 16);
            Span<byte> key = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32BigEndian(key, MagicCookie);
            transaction.CopyTo(key[4..]);
            for (int i = 0; i < size; i++)
            {
                address[i] ^= key[i];
            }
        }

        return new IPEndPoint(new IPAddress(address), port);
    }

    private int WriteAddress(byte[] buffer, int at, IPEndPoint endpoint)
    {
        var address = endpoint.Address.IsIPv4MappedToIPv6 ? endpoint.Address.MapToIPv4() : endpoint.Address;
        var bytes = address.GetAddressBytes();
        var value = new byte[4 + bytes.Length];
        value[1] = address.AddressFamily == AddressFamily.InterNetwork ? (byte)0x01 : (byte)0x02;
        BinaryPrimitives.WriteUInt16BigEndian(value.AsSpan(2), (ushort)(endpoint.Port ^ (int)(MagicCookie >> 16)));
        Span<byte> key = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(key, MagicCookie);
        TransactionId.CopyTo(key[4..]);
        for (int i = 0; i < bytes.Length; i++)
        {
            value[4 + i] = (byte)(bytes[i] ^ key[i]);
        }

        return WriteAttribute(buffer, at, XorMappedAddress, value);
    }

    private static int WriteAttribute(byte[] buffer, int at, ushort type, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at), type);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at + 2), (ushort)value.Length);
        value.CopyTo(buffer.AsSpan(at + 4));
        int padded = (value.Length + 3) & ~3;
        buffer.AsSpan(at + 4 + value.Length, padded - value.Length).Clear();
        return at + 4 + padded;
    }
}
