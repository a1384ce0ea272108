using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// The stateless retry cookie (docs/rudp.md, "The cookie"): a listener answers an Initial that has
/// no valid token with a Retry carrying one, keeping nothing; a client that echoes it from the same
/// address within <see cref="Lifetime"/> proves it receives there. A token is the issue time and a
/// truncated HMAC-SHA256 over that time, the client's address and port, its connection id and the
/// id the server chose, under a secret that rotates (the previous one still accepted).
/// </summary>
internal sealed class RetryCookie
{
    /// <summary>Bytes of a token: a 4-byte time and 16 bytes of MAC.</summary>
    public const int TokenSize = 4 + MacSize;

    /// <summary>How long a token is accepted after it was issued.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(10);

    /// <summary>How often the secret changes.</summary>
    public static readonly TimeSpan Rotation = TimeSpan.FromMinutes(10);

    private const int MacSize = 16;
    private readonly Func<DateTime> _clock;
    private readonly Lock _gate = new();
    private byte[] _current = RandomNumberGenerator.GetBytes(32);
    private byte[] _previous = RandomNumberGenerator.GetBytes(32);
    private DateTime _rotated;

    public RetryCookie(Func<DateTime>? clock = null)
    {
        _clock = clock ?? (() => DateTime.UtcNow);
        _rotated = _clock();
    }

    /// <summary>A token for <paramref name="client"/>, which sent from <paramref name="clientId"/> and is told to use <paramref name="serverId"/>.</summary>
    public byte[] Issue(IPEndPoint client, ConnectionId clientId, ConnectionId serverId)
    {
        var token = new byte[TokenSize];
        uint now = Seconds(_clock());
        BinaryPrimitives.WriteUInt32LittleEndian(token, now);
        Mac(Secrets().Current, now, client, clientId, serverId, token.AsSpan(4));
        return token;
    }

    /// <summary>Whether <paramref name="token"/> was issued here, recently, for this address, port and ids.</summary>
    public bool Validate(ReadOnlySpan<byte> token, IPEndPoint client, ConnectionId clientId, ConnectionId serverId)
    {
        if (token.Length != TokenSize)
        {
            return false;
        }

        uint issued = BinaryPrimitives.ReadUInt32LittleEndian(token);
        uint now = Seconds(_clock());
        if (issued > now || now - issued > (uint)Lifetime.TotalSeconds)
        {
            return false;
        }

        var (current, previous) = Secrets();
        Span<byte> expected = stackalloc byte[MacSize];
        foreach (var secret in new[] { current, previous })
        {
            Mac(secret, issued, client, clientId, serverId, expected);
            if (CryptographicOperations.FixedTimeEquals(expected, token[4..]))
            {
                return true;
            }
        }

        return false;
    }

    private (byte[] Current, byte[] Previous) Secrets()
    {
        lock (_gate)
        {
            var now = _clock();
            if (now - _rotated >= Rotation)
            {
                _previous = _current;
                _current = RandomNumberGenerator.GetBytes(32);
                _rotated = now;
            }

            return (_current, _previous);
        }
    }

    private static void Mac(byte[] secret, uint issued, IPEndPoint client, ConnectionId clientId, ConnectionId serverId, Span<byte> destination)
    {
        Span<byte> input = stackalloc byte[4 + 16 + 2 + ConnectionId.Size + ConnectionId.Size];
        BinaryPrimitives.WriteUInt32LittleEndian(input, issued);
        var address = client.Address.IsIPv4MappedToIPv6 ? client.Address.MapToIPv4() : client.Address;
        input.Slice(4, 16).Clear();
        address.TryWriteBytes(input.Slice(4, 16), out _);
        BinaryPrimitives.WriteUInt16LittleEndian(input[20..], (ushort)client.Port);
        clientId.Write(input[22..]);
        serverId.Write(input[(22 + ConnectionId.Size)..]);
        Span<byte> full = stackalloc byte[32];
        HMACSHA256.HashData(secret, input, full);
        full[..MacSize].CopyTo(destination);
    }

    private static uint Seconds(DateTime time) => (uint)(time - DateTime.UnixEpoch).TotalSeconds;
}
