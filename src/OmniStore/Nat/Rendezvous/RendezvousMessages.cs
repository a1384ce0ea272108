using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using OmniStore.Internal;
using OmniStore.Protocol;

namespace OmniStore.Nat.Rendezvous;

/// <summary>What a candidate address is (docs/nat.md, "Names, rendezvous and registration").</summary>
internal enum CandidateKind : byte
{
    /// <summary>An address of the node's own interfaces.</summary>
    Host = 1,

    /// <summary>A port mapping its NAT granted (NAT-PMP, PCP, UPnP).</summary>
    Mapped = 2,

    /// <summary>The address the rendezvous saw the node's connection come from (server-reflexive).</summary>
    Reflexive = 3,

    /// <summary>A rendezvous relay's socket.</summary>
    Relayed = 4,

    /// <summary>Another address of the rendezvous that answers STUN (RFC 5780's OTHER-ADDRESS): a node asks it to learn its NAT's mapping behaviour.</summary>
    OtherAddress = 5,
}

/// <summary>One address a peer may be reached at, and what kind of address it is.</summary>
internal readonly record struct Candidate(CandidateKind Kind, IPEndPoint Address)
{
    /// <summary>The path a connection through this candidate runs on.</summary>
    public Transport.PathType PathType => Kind switch
    {
        CandidateKind.Host => Transport.PathType.Direct,
        CandidateKind.Mapped => Transport.PathType.Mapped,
        CandidateKind.Reflexive => Transport.PathType.Punched,
        _ => Transport.PathType.Relayed,
    };

    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()} {Address}";
}

/// <summary>
/// The rendezvous's messages (docs/nat.md): REGISTER, INTRODUCE, PUNCH, RELAY and their answer
/// CANDIDATES. Read as hostile: every count and length is checked against what arrived, names
/// against the name grammar, and at most <see cref="MaxCandidates"/> candidates are read.
/// </summary>
internal static class RendezvousMessages
{
    /// <summary>The most candidates one message carries.</summary>
    public const int MaxCandidates = 8;

    /// <summary>The longest node name.</summary>
    public const int MaxNameLength = 63;

    /// <summary>The size of a relay token.</summary>
    public const int TokenSize = 16;

    /// <summary>The largest payload any of these messages has.</summary>
    public const int MaxPayload = 1 + MaxNameLength + 8 + 1 + TokenSize + 1 + (MaxCandidates * 20);

    /// <summary>Why <paramref name="name"/> is not a node name (1-63 of a-z, 0-9, '-', starting with a letter), or null when it is one.</summary>
    public static string? CheckName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "a node name is empty";
        }

        if (name.Length > MaxNameLength)
        {
            return $"a node name has at most {MaxNameLength} characters, not {name.Length}";
        }

        if (!char.IsAsciiLetterLower(name[0]))
        {
            return $"'{UntrustedText.Escape(name, 80)}' does not start with a lower-case letter";
        }

        foreach (char c in name)
        {
            if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c != '-')
            {
                return $"'{UntrustedText.Escape(name, 80)}' holds '{UntrustedText.Escape(c.ToString(), 8)}'; a node name is a-z, 0-9 and '-'";
            }
        }

        return null;
    }

    /// <summary>REGISTER: the registrant's name and candidates.</summary>
    public static byte[] EncodeRegister(string name, IReadOnlyList<Candidate> candidates) => EncodeNamed(name, candidates);

    /// <summary>INTRODUCE: the name wanted and the dialer's candidates.</summary>
    public static byte[] EncodeIntroduce(string name, IReadOnlyList<Candidate> candidates) => EncodeNamed(name, candidates);

    /// <summary>Reads REGISTER or INTRODUCE.</summary>
    public static (string Name, List<Candidate> Candidates) ReadNamed(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        int length = reader.Byte();
        if (length is 0 or > MaxNameLength)
        {
            throw HelloMessage.Malformed($"a node name of {length} bytes");
        }

        string name = Encoding.ASCII.GetString(reader.Bytes(length));
        if (CheckName(name) is { } problem)
        {
            throw HelloMessage.Malformed(problem);
        }

        var candidates = ReadCandidates(ref reader);
        reader.End();
        return (name, candidates);
    }

    /// <summary>PUNCH: the session, the mode (relay or not), the relay token (zeros without one), the dialer's candidates.</summary>
    public static byte[] EncodePunch(long session, bool relay, ReadOnlySpan<byte> token, IReadOnlyList<Candidate> candidates) =>
        EncodeSession(session, relay ? (byte)1 : (byte)0, token, candidates);

    /// <summary>CANDIDATES: the session (0 for REGISTER's answer), the relay token (zeros without one), the candidates.</summary>
    public static byte[] EncodeCandidates(long session, ReadOnlySpan<byte> token, IReadOnlyList<Candidate> candidates) =>
        EncodeSession(session, 0, token, candidates);

    /// <summary>Reads PUNCH or CANDIDATES.</summary>
    public static (long Session, bool Relay, byte[] Token, List<Candidate> Candidates) ReadSession(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        long session = reader.Int64();
        byte mode = reader.Byte();
        if (mode > 1)
        {
            throw HelloMessage.Malformed($"an unknown mode {mode}");
        }

        byte[] token = reader.Bytes(TokenSize).ToArray();
        var candidates = ReadCandidates(ref reader);
        reader.End();
        return (session, mode == 1, token, candidates);
    }

    /// <summary>RELAY: the session of the introduction that did not punch.</summary>
    public static byte[] EncodeRelay(long session)
    {
        var payload = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(payload, session);
        return payload;
    }

    /// <summary>Reads RELAY.</summary>
    public static long ReadRelay(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        long session = reader.Int64();
        reader.End();
        return session;
    }

    private static byte[] EncodeNamed(string name, IReadOnlyList<Candidate> candidates)
    {
        if (CheckName(name) is { } problem)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, char.ToUpperInvariant(problem[0]) + problem[1..] + ".");
        }

        var buffer = new List<byte>(1 + name.Length + 1 + (candidates.Count * 20)) { (byte)name.Length };
        buffer.AddRange(Encoding.ASCII.GetBytes(name));
        WriteCandidates(buffer, candidates);
        return [.. buffer];
    }

    private static byte[] EncodeSession(long session, byte mode, ReadOnlySpan<byte> token, IReadOnlyList<Candidate> candidates)
    {
        var buffer = new List<byte>(8 + 1 + TokenSize + 1 + (candidates.Count * 20));
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(head, session);
        buffer.AddRange(head);
        buffer.Add(mode);
        if (token.IsEmpty)
        {
            buffer.AddRange(new byte[TokenSize]);
        }
        else if (token.Length == TokenSize)
        {
            buffer.AddRange(token);
        }
        else
        {
            throw new ArgumentException($"A relay token has {TokenSize} bytes.", nameof(token));
        }

        WriteCandidates(buffer, candidates);
        return [.. buffer];
    }

    private static void WriteCandidates(List<byte> buffer, IReadOnlyList<Candidate> candidates)
    {
        int count = Math.Min(candidates.Count, MaxCandidates);
        buffer.Add((byte)count);
        Span<byte> port = stackalloc byte[2];
        for (int i = 0; i < count; i++)
        {
            var (kind, address) = candidates[i];
            var ip = address.Address.IsIPv4MappedToIPv6 ? address.Address.MapToIPv4() : address.Address;
            byte[] bytes = ip.GetAddressBytes();
            buffer.Add((byte)kind);
            buffer.Add(ip.AddressFamily == AddressFamily.InterNetwork ? (byte)4 : (byte)6);
            buffer.AddRange(bytes);
            BinaryPrimitives.WriteUInt16LittleEndian(port, (ushort)address.Port);
            buffer.AddRange(port);
        }
    }

    private static List<Candidate> ReadCandidates(ref PayloadReader reader)
    {
        int count = reader.Byte();
        if (count > MaxCandidates)
        {
            throw HelloMessage.Malformed($"{count} candidates; at most {MaxCandidates} are allowed");
        }

        var candidates = new List<Candidate>(count);
        for (int i = 0; i < count; i++)
        {
            byte kind = reader.Byte();
            if (kind is < (byte)CandidateKind.Host or > (byte)CandidateKind.OtherAddress)
            {
                throw HelloMessage.Malformed($"a candidate of unknown kind {kind}");
            }

            byte family = reader.Byte();
            var ip = family switch
            {
                4 => new IPAddress(reader.Bytes(4)),
                6 => new IPAddress(reader.Bytes(16)),
                _ => throw HelloMessage.Malformed($"a candidate of unknown address family {family}"),
            };
            int port = reader.UInt16();
            if (port == 0)
            {
                throw HelloMessage.Malformed("a candidate with port 0");
            }

            candidates.Add(new Candidate((CandidateKind)kind, new IPEndPoint(ip, port)));
        }

        return candidates;
    }
}
