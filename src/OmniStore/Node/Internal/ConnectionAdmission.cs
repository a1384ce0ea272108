using System.Net;
using System.Net.Sockets;
using OmniStore.Internal;

namespace OmniStore.Node.Internal;

/// <summary>
/// Which accepted connections a node takes on: at most <see cref="MaxConnections"/> in all, at most
/// <see cref="MaxConnectionsPerAddress"/> from one source address (IPv6: one /64, what one host is
/// usually given), and at most <see cref="MaxPendingHandshakes"/> still in their handshake, of which
/// one address may hold half. It also knows whether the node is refusing connections now, why and
/// since when, for readiness.
/// </summary>
internal sealed class ConnectionAdmission
{
    /// <summary>The most connections the default allows, whatever the descriptor limit: beyond that, memory runs out first.</summary>
    public const int DefaultCeiling = 16_384;

    /// <summary>Descriptors kept for the store, the status listener, the runtime and the code it loads later.</summary>
    public const int MinReservedDescriptors = 128;

    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, Share> _perAddress = [];
    private int _open;
    private int _handshaking;
    private long _accepted;
    private long _refusedAtLimit;
    private long _refusedPerAddress;
    private long _refusedHandshakes;
    private long _acceptErrors;
    private string? _acceptFailure;
    private long _acceptFailures;
    private long _acceptFailingSince;
    private RefusalStatus? _refusing;

    public ConnectionAdmission(int maxConnections, int maxConnectionsPerAddress, int maxPendingHandshakes)
    {
        MaxConnections = maxConnections;
        MaxConnectionsPerAddress = Math.Min(maxConnectionsPerAddress, maxConnections);
        MaxPendingHandshakes = Math.Min(maxPendingHandshakes, maxConnections);
        MaxHandshakesPerAddress = Math.Min(MaxConnectionsPerAddress, Math.Max(1, MaxPendingHandshakes / 2));
    }

    public int MaxConnections { get; }

    public int MaxConnectionsPerAddress { get; }

    public int MaxPendingHandshakes { get; }

    public int MaxHandshakesPerAddress { get; }

    /// <summary>
    /// The most connections the descriptors allow, and the default of
    /// <see cref="TreeNodeOptions.MaxConnections"/>: the descriptors free now, less
    /// <see cref="MinReservedDescriptors"/> or an eighth of them (whichever is more), between 8 and
    /// <see cref="DefaultCeiling"/>. With the usual soft limit of 1024 and about 150 descriptors in
    /// use by the runtime, that is about 750. Null when the descriptors set no limit.
    /// </summary>
    /// <remarks>
    /// A process out of descriptors fails more than its accepts: the .NET runtime maps the code it
    /// compiles through a descriptor (W^X double mapping) and aborts when it cannot get one. So a
    /// configured limit above this one is lowered to it.
    /// </remarks>
    public static int? DescriptorCeiling()
    {
        if (DescriptorLimit.Get() is not { } limit || limit.Soft == DescriptorLimit.Unlimited)
        {
            return null;
        }

        long free = limit.Soft - (DescriptorLimit.OpenNow() ?? 2 * MinReservedDescriptors);
        long reserved = Math.Max(MinReservedDescriptors, free / 8);
        return (int)Math.Clamp(free - reserved, 8, DefaultCeiling);
    }

    /// <summary>What connections are counted under: the IPv4 address, or the IPv6 /64 prefix.</summary>
    public static IPAddress KeyOf(IPAddress? address)
    {
        if (address is null)
        {
            return IPAddress.None;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    /// <summary>
    /// Takes a slot for a connection from <paramref name="key"/>, counted as a handshake in progress
    /// until <see cref="HandshakeEnded"/>; or returns why not (and counts the refusal).
    /// </summary>
    public (RefusalKind Kind, string Message)? TryAdmit(IPAddress key)
    {
        lock (_lock)
        {
            var share = _perAddress.GetValueOrDefault(key);
            (RefusalKind, string)? refusal =
                _open >= MaxConnections ? (RefusalKind.AtLimit, $"Refused: too many connections to this node (its limit is {MaxConnections}); try again later or elsewhere.")
                : share.Open >= MaxConnectionsPerAddress ? (RefusalKind.PerAddress, $"Refused: too many connections from your address (the limit is {MaxConnectionsPerAddress}).")
                : _handshaking >= MaxPendingHandshakes ? (RefusalKind.Handshakes, $"Refused: too many connections in their handshake (the limit is {MaxPendingHandshakes}); try again shortly.")
                : share.Handshaking >= MaxHandshakesPerAddress ? (RefusalKind.PerAddress, $"Refused: too many connections from your address in their handshake (the limit is {MaxHandshakesPerAddress}).")
                : null;
            switch (refusal?.Item1)
            {
                case RefusalKind.AtLimit:
                    _refusedAtLimit++;
                    break;
                case RefusalKind.PerAddress:
                    _refusedPerAddress++;
                    break;
                case RefusalKind.Handshakes:
                    _refusedHandshakes++;
                    break;
                default:
                    _accepted++;
                    _open++;
                    _handshaking++;
                    _perAddress[key] = new Share(share.Open + 1, share.Handshaking + 1);
                    break;
            }

            UpdateRefusing();
            return refusal;
        }
    }

    /// <summary>The handshake of a connection from <paramref name="key"/> is over, whichever way.</summary>
    public void HandshakeEnded(IPAddress key)
    {
        lock (_lock)
        {
            _handshaking--;
            var share = _perAddress[key];
            _perAddress[key] = share with { Handshaking = share.Handshaking - 1 };
            UpdateRefusing();
        }
    }

    /// <summary>A connection from <paramref name="key"/> closed; its handshake, if it was in one, ended first.</summary>
    public void Closed(IPAddress key)
    {
        lock (_lock)
        {
            _open--;
            var share = _perAddress[key];
            if (share.Open == 1)
            {
                _perAddress.Remove(key);
            }
            else
            {
                _perAddress[key] = share with { Open = share.Open - 1 };
            }

            UpdateRefusing();
        }
    }

    /// <summary>Accepting failed for a reason that may last: the node refuses connections until an accept works again.</summary>
    public void AcceptFailed(string problem)
    {
        lock (_lock)
        {
            _acceptErrors++;
            _acceptFailures++;
            if (_acceptFailure is null)
            {
                _acceptFailingSince = Environment.TickCount64;
            }

            _acceptFailure = problem;
            UpdateRefusing();
        }
    }

    /// <summary>An accept worked; if accepts were failing before, how long they did and how many failed.</summary>
    public (TimeSpan For, long Failures)? AcceptSucceeded()
    {
        lock (_lock)
        {
            if (_acceptFailure is null)
            {
                return null;
            }

            var recovered = (TimeSpan.FromMilliseconds(Environment.TickCount64 - _acceptFailingSince), _acceptFailures);
            _acceptFailure = null;
            _acceptFailures = 0;
            UpdateRefusing();
            return recovered;
        }
    }

    public ConnectionStatus Snapshot(long timedOut)
    {
        lock (_lock)
        {
            return new ConnectionStatus(
                _open,
                _handshaking,
                MaxConnections,
                MaxConnectionsPerAddress,
                MaxPendingHandshakes,
                _accepted,
                _refusedAtLimit,
                _refusedPerAddress,
                _refusedHandshakes,
                _acceptErrors,
                timedOut,
                _refusing);
        }
    }

    /// <summary>Whether a new connection would be refused whatever its address; called under the lock after every change.</summary>
    private void UpdateRefusing()
    {
        string? reason = _acceptFailure is not null ? $"accepting connections fails: {_acceptFailure}"
            : _open >= MaxConnections ? $"at its limit of {MaxConnections} connections"
            : _handshaking >= MaxPendingHandshakes ? $"{MaxPendingHandshakes} handshakes in progress, its limit"
            : null;
        _refusing = reason is null ? null : new RefusalStatus(reason, _refusing?.Since ?? DateTimeOffset.UtcNow);
    }

    private readonly record struct Share(int Open, int Handshaking);
}
