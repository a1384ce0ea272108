using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace OmniStore.Nat.PortMapping;

/// <summary>
/// Keeps a local UDP port (a rudp listener's) reachable from outside through the gateway
/// (docs/nat-port-mapping.md): asks with NAT-PMP, PCP and UPnP-IGD in parallel, keeps the first
/// mapping granted, renews it at half its lifetime, and removes it when disposed. Nothing starts
/// one by itself: the node creates one when port mapping is turned on.
/// </summary>
internal sealed class PortMapper : IAsyncDisposable
{
    private readonly IPortMappingProtocol _protocol;
    private readonly IReadOnlyList<(IPortMappingProtocol Protocol, PortMappingLease Lease)> _alsoHeld;
    private readonly ILogger _logger;
    private readonly TimeSpan _requestedLifetime;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewals;
    private PortMappingLease _lease;
    private volatile bool _lost;
    private int _renewalCount;
    private int _disposed;

    private PortMapper(IPortMappingProtocol protocol, PortMappingLease lease, IReadOnlyList<(IPortMappingProtocol, PortMappingLease)> alsoHeld, TimeSpan requestedLifetime, ILogger logger)
    {
        _protocol = protocol;
        _alsoHeld = alsoHeld;
        _lease = lease;
        _requestedLifetime = requestedLifetime;
        _logger = logger;
        _renewals = Task.Run(() => RenewLoopAsync(_stop.Token));
    }

    /// <summary>The local UDP port forwarded.</summary>
    public int LocalPort => _lease.InternalPort;

    /// <summary>The protocol that granted the mapping (one flag).</summary>
    public PortMappingMethods Method => _lease.Method;

    /// <summary>The protocol's name: <c>nat-pmp</c>, <c>pcp</c> or <c>upnp</c>.</summary>
    public string MethodName => _lease.Method.Name();

    /// <summary>The gateway's external address and port that reach <see cref="LocalPort"/>; null once the mapping expired without renewal (until a later renewal succeeds).</summary>
    public IPEndPoint? PublicEndPoint => _lost ? null : Volatile.Read(ref _lease).PublicEndPoint;

    /// <summary>The current mapping as the gateway last granted it.</summary>
    public PortMappingLease Lease => Volatile.Read(ref _lease);

    /// <summary>How many renewals succeeded.</summary>
    public int RenewalCount => Volatile.Read(ref _renewalCount);

    /// <summary>
    /// Maps <paramref name="localPort"/> with every method in <paramref name="options"/> at once and
    /// returns a mapper holding the first mapping granted; the others are cancelled after
    /// <see cref="PortMapperOptions.LoserGrace"/>, and a mapping one of them made anyway is removed
    /// at once unless it is the same forwarding (same public endpoint: one gateway speaking two
    /// protocols). Such a method is kept to remove it with too on dispose: a gateway may let a
    /// protocol remove only what it last wrote (miniupnpd's NAT-PMP removes only rules it labelled).
    /// </summary>
    /// <param name="localPort">The local UDP port to forward (the rudp listener's).</param>
    /// <param name="lifetime">The lifetime asked for; the gateway may grant another. Renewed at half what it granted.</param>
    /// <param name="options">How to find and speak to the gateway. Defaults to all methods, the default gateway and SSDP multicast.</param>
    /// <param name="logger">Where to log. Defaults to none.</param>
    /// <param name="cancellationToken">Stops the attempt.</param>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unavailable"/> when no method mapped the port; the message names each method's reason.</exception>
    public static async Task<PortMapper> StartAsync(int localPort, TimeSpan lifetime, PortMapperOptions? options = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(localPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(localPort, 65535);
        if (lifetime < TimeSpan.FromSeconds(2) || lifetime > TimeSpan.FromDays(7))
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), lifetime, "The lifetime must be 2 s to 7 days.");
        }

        options ??= new PortMapperOptions();
        options.Validate(nameof(options));
        logger ??= NullLogger.Instance;
        int suggested = options.SuggestedExternalPort ?? localPort;
        var gateway = (options.Methods & (PortMappingMethods.NatPmp | PortMappingMethods.Pcp)) != 0 ? options.FindGateway() : null;

        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tries = new List<(PortMappingMethods Method, Task<(IPortMappingProtocol Protocol, PortMappingLease Lease)> Task)>();
        foreach (var method in (PortMappingMethods[])[PortMappingMethods.NatPmp, PortMappingMethods.Pcp, PortMappingMethods.Upnp])
        {
            if ((options.Methods & method) != 0)
            {
                tries.Add((method, Task.Run(() => TryAsync(method, gateway, localPort, suggested, lifetime, options, attempt.Token))));
            }
        }

        var pending = tries.Select(t => t.Task).ToList();
        (IPortMappingProtocol Protocol, PortMappingLease Lease)? winner = null;
        while (pending.Count > 0 && winner is null)
        {
            var done = await Task.WhenAny(pending).ConfigureAwait(false);
            pending.Remove(done);
            if (done.IsCompletedSuccessfully)
            {
                winner = done.Result;
            }
        }

        if (winner is null)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var reasons = string.Join("; ", tries.Select(t => $"{t.Method.Name()}: {Reason(t.Task.Exception?.InnerException)}"));
            PortMappingLog.NothingMapped(logger, localPort, reasons);
            throw new OmniStoreException(OmniStoreError.Unavailable, $"No gateway mapped UDP port {localPort} ({reasons}).");
        }

        var (protocol, lease) = winner.Value;
        var alsoHeld = await SettleLosersAsync(pending, lease, options.LoserGrace, attempt, logger).ConfigureAwait(false);
        foreach (var (method, task) in tries)
        {
            if (task.IsFaulted && task.Exception?.InnerException is { } failure)
            {
                PortMappingLog.MethodFailed(logger, method.Name(), Reason(failure));
            }
        }

        PortMappingLog.Mapped(logger, localPort, lease.PublicEndPoint.ToString(), lease.Method.Name(), lease.Lifetime.TotalSeconds);
        if (IsPrivate(lease.PublicEndPoint.Address))
        {
            PortMappingLog.PrivateExternalAddress(logger, lease.PublicEndPoint.Address.ToString());
        }

        return new PortMapper(protocol, lease, alsoHeld, lifetime, logger);
    }

    /// <summary>Stops renewing and removes the mapping from the gateway (best effort, at most a few seconds).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _renewals.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        var lease = Lease;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _protocol.UnmapAsync(lease, timeout.Token).ConfigureAwait(false);
            PortMappingLog.Removed(_logger, lease.InternalPort, lease.PublicEndPoint.ToString(), lease.Method.Name());
        }
        catch (Exception e) when (e is OmniStoreException or OperationCanceledException or SocketException)
        {
            PortMappingLog.RemoveFailed(_logger, lease.InternalPort, lease.PublicEndPoint.ToString(), lease.Method.Name(), Reason(e));
        }

        foreach (var (other, otherLease) in _alsoHeld)
        {
            using var otherTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await other.UnmapAsync(otherLease with { PublicEndPoint = lease.PublicEndPoint }, otherTimeout.Token).ConfigureAwait(false);
                PortMappingLog.AlsoRemoved(_logger, lease.InternalPort, other.Method.Name(), "removed");
            }
            catch (Exception e) when (e is OmniStoreException or OperationCanceledException or SocketException)
            {
                PortMappingLog.AlsoRemoved(_logger, lease.InternalPort, other.Method.Name(), Reason(e)); // most likely already gone
            }

            await other.DisposeAsync().ConfigureAwait(false);
        }

        await _protocol.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>Renews at half the granted lifetime; after a failure tries again at half the time left, and keeps trying after the mapping lapsed.</summary>
    private async Task RenewLoopAsync(CancellationToken cancellationToken)
    {
        var grantedAt = DateTime.UtcNow;
        var delay = Half(Lease.Lifetime);
        while (true)
        {
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            var current = Lease;
            try
            {
                var renewed = await _protocol.MapAsync(current.InternalPort, current.PublicEndPoint.Port, _requestedLifetime, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _lease, renewed);
                Interlocked.Increment(ref _renewalCount);
                grantedAt = DateTime.UtcNow;
                if (_lost)
                {
                    _lost = false;
                    PortMappingLog.Mapped(_logger, renewed.InternalPort, renewed.PublicEndPoint.ToString(), renewed.Method.Name(), renewed.Lifetime.TotalSeconds);
                }
                else if (!renewed.PublicEndPoint.Equals(current.PublicEndPoint))
                {
                    PortMappingLog.Moved(_logger, renewed.InternalPort, current.PublicEndPoint.ToString(), renewed.PublicEndPoint.ToString(), renewed.Method.Name());
                }
                else
                {
                    PortMappingLog.Renewed(_logger, renewed.InternalPort, renewed.PublicEndPoint.ToString(), renewed.Method.Name(), renewed.Lifetime.TotalSeconds);
                }

                if (_protocol is NatPmpClient { GatewayRestarted: true } or PcpClient { GatewayRestarted: true })
                {
                    PortMappingLog.GatewayRestarted(_logger, renewed.InternalPort, renewed.Method.Name());
                }

                delay = Half(renewed.Lifetime);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Any failure, expected (a refusal, no answer) or not: the loop must outlive it, or the mapping lapses unnoticed.
                var left = grantedAt + current.Lifetime - DateTime.UtcNow;
                if (left <= TimeSpan.Zero && !_lost)
                {
                    _lost = true;
                    PortMappingLog.Lost(_logger, current.InternalPort, current.Method.Name());
                }

                delay = left > TimeSpan.FromSeconds(2) ? Half(left) : Half(current.Lifetime);
                PortMappingLog.RenewFailed(_logger, current.InternalPort, current.Method.Name(), Reason(e), delay.TotalSeconds);
            }
        }
    }

    private static async Task<(IPortMappingProtocol, PortMappingLease)> TryAsync(PortMappingMethods method, IPAddress? gateway, int localPort, int suggested, TimeSpan lifetime, PortMapperOptions options, CancellationToken cancellationToken)
    {
        IPortMappingProtocol? protocol = null;
        try
        {
            switch (method)
            {
                case PortMappingMethods.NatPmp or PortMappingMethods.Pcp:
                    if (gateway is null)
                    {
                        throw new OmniStoreException(OmniStoreError.Unavailable, "no IPv4 default gateway to ask");
                    }

                    var socket = options.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                    protocol = method == PortMappingMethods.NatPmp
                        ? new NatPmpClient(socket, gateway, options.Schedule, options.GatewayPort)
                        : new PcpClient(socket, gateway, options.Schedule, options.GatewayPort);
                    break;
                default:
                    protocol = await UpnpIgdClient.DiscoverAsync(options.CreateSocket, options.SsdpTarget, options.DiscoveryTimeout, options.HttpTimeout, cancellationToken).ConfigureAwait(false);
                    break;
            }

            var lease = await protocol.MapAsync(localPort, suggested, lifetime, cancellationToken).ConfigureAwait(false);
            return (protocol, lease);
        }
        catch
        {
            if (protocol is not null)
            {
                await protocol.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>
    /// Gives the methods still running a grace period, then cancels them; removes what they mapped
    /// elsewhere and releases them; returns those that granted the kept forwarding itself.
    /// </summary>
    private static async Task<IReadOnlyList<(IPortMappingProtocol, PortMappingLease)>> SettleLosersAsync(List<Task<(IPortMappingProtocol Protocol, PortMappingLease Lease)>> pending, PortMappingLease kept, TimeSpan grace, CancellationTokenSource attempt, ILogger logger)
    {
        var same = new List<(IPortMappingProtocol, PortMappingLease)>();
        if (pending.Count > 0)
        {
            await Task.WhenAny(Task.WhenAll(pending), Task.Delay(grace)).ConfigureAwait(false);
            await attempt.CancelAsync().ConfigureAwait(false);
        }

        foreach (var task in pending)
        {
            try
            {
                var (protocol, lease) = await task.ConfigureAwait(false);
                if (lease.PublicEndPoint.Equals(kept.PublicEndPoint))
                {
                    same.Add((protocol, lease));
                    continue;
                }

                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await protocol.UnmapAsync(lease, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OmniStoreException or OperationCanceledException or SocketException)
                {
                    PortMappingLog.RemoveFailed(logger, lease.InternalPort, lease.PublicEndPoint.ToString(), lease.Method.Name(), Reason(e));
                }

                await protocol.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is OmniStoreException or OperationCanceledException or SocketException)
            {
                // A method that lost the race and failed or was cancelled: nothing to undo.
            }
        }

        return same;
    }

    private static TimeSpan Half(TimeSpan lifetime) => TimeSpan.FromTicks(Math.Max(lifetime.Ticks / 2, TimeSpan.FromSeconds(1).Ticks));

    private static string Reason(Exception? e) => e switch
    {
        null => "cancelled",
        OmniStoreException or SocketException => e.Message,
        OperationCanceledException => "cancelled",
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    /// <summary>Private, shared (RFC 6598) or benchmarking addresses: a mapping there is not reachable from the internet.</summary>
    private static bool IsPrivate(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            return false;
        }

        var b = address.GetAddressBytes();
        return b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168) ||
            (b[0] == 100 && (b[1] & 0xC0) == 64) || (b[0] == 198 && (b[1] & 0xFE) == 18);
    }
}
