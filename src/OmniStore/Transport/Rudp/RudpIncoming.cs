using System.Net;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Transport.Rudp;

/// <summary>
/// A handshake whose cookie came back (the client proved its address), not yet admitted: it holds
/// the two ids, the address and the client's parameters, and no buffers. Its Accept went when the
/// cookie came back; opening it makes the connection (with the few packets the client sent
/// meanwhile); refusing it sends the farewell as the whole stream and CONNECTION_CLOSE, keeping nothing.
/// </summary>
internal sealed class RudpIncoming(RudpEndpoint endpoint, ConnectionId serverId, ConnectionId clientId, SocketAddress address, IPEndPoint remote, RudpParameters parameters) : IncomingConnection
{
    private const int MaxHeld = 16;

    private readonly Lock _gate = new();
    private readonly List<(byte[] Datagram, SocketAddress From)> _held = [];
    private int _settled;
    private long _acceptSentAt = long.MinValue / 2;

    public ConnectionId ServerId => serverId;

    public ConnectionId ClientId => clientId;

    public SocketAddress Address => address;

    public RudpParameters Parameters => parameters;

    public override IPEndPoint? RemoteEndPoint => remote;

    /// <summary>Sends the Accept (again, at most every 100 ms, when the client repeats its Initial).</summary>
    internal void SendAccept(long now)
    {
        lock (_gate)
        {
            if (now - _acceptSentAt < 100_000)
            {
                return;
            }

            _acceptSentAt = now;
        }

        var accept = new byte[PacketHeader.LongHeaderLength + RudpParameters.MaxSize];
        int at = PacketHeader.WriteLong(accept, PacketType.Accept, PacketHeader.Version1, clientId, serverId);
        at += Own(endpoint.Settings).Write(accept.AsSpan(at));
        endpoint.SendStateless(accept[..at], address);
    }

    internal static RudpParameters Own(RudpSettings settings) =>
        new((long)settings.IdleTimeout.TotalMilliseconds, settings.MaxAckDelay, settings.InitialWindow, Math.Max(settings.MaxProbedDatagram, settings.BaseDatagram));

    /// <summary>Keeps a packet the client sent before the node opened the connection (a few, copied), to hand it over at <see cref="Open"/>.</summary>
    internal void Hold(ReadOnlySpan<byte> datagram, SocketAddress from)
    {
        lock (_gate)
        {
            if (_held.Count < MaxHeld && _settled == 0)
            {
                _held.Add((datagram.ToArray(), RudpConnectionCore.CopyOf(from)));
            }
        }
    }

    public override TransportConnection? Open(LinkCounters counters)
    {
        if (Interlocked.Exchange(ref _settled, 1) != 0)
        {
            return null;
        }

        try
        {
            List<(byte[] Datagram, SocketAddress From)> held;
            lock (_gate)
            {
                held = [.. _held];
                _held.Clear();
            }

            return RudpConnection.Accept(endpoint, this, counters, held);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
        {
            return null;
        }
        finally
        {
            endpoint.Settle(this);
        }
    }

    public override void Refuse(ReadOnlySpan<byte> farewell)
    {
        if (Interlocked.Exchange(ref _settled, 1) != 0)
        {
            return;
        }

        endpoint.Settle(this);
        var settings = endpoint.Settings;

        // Packet 0: the farewell as the whole stream (FIN), then CONNECTION_CLOSE with no error. If it
        // is lost the client sees its handshake time out instead: a refusal is never retransmitted.
        var packet = new byte[settings.BaseDatagram];
        int size = PacketHeader.WriteShort(packet, clientId, 0, 1);
        size += FrameWriter.WriteStream(packet.AsSpan(size), 0, farewell[..Math.Min(farewell.Length, settings.BaseDatagram - 300)], fin: true, out _);
        size += FrameWriter.WriteClose(packet.AsSpan(size), RudpConnectionCore.NoError, "refused");
        endpoint.SendStateless(packet[..size], address);
    }
}
