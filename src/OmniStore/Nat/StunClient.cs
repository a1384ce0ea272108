using System.Net;
using System.Net.Sockets;

namespace OmniStore.Nat;

/// <summary>
/// STUN's Binding transaction over UDP (RFC 8489 sections 6.2.1 and 7.3): asks a server what
/// address it sees this socket's datagrams come from (docs/nat.md, "STUN").
/// </summary>
internal static class StunClient
{
    /// <summary>RFC 8489's schedule: RTO 500 ms doubling, 7 requests, the last waited for 16 x RTO (39.5 s in all).</summary>
    public static readonly StunSchedule DefaultSchedule = new(TimeSpan.FromMilliseconds(500), 7, 16);

    /// <summary>
    /// Sends Binding requests from <paramref name="socket"/> to <paramref name="server"/> until the
    /// success response with their transaction id arrives from that server, and returns the mapped
    /// address it names. Datagrams from elsewhere, for another transaction, or that are not STUN
    /// are ignored (the socket should be one this transaction has to itself).
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unavailable"/> when no answer came within the schedule; <see cref="OmniStoreError.ProtocolError"/> for an error response or a success without an address.</exception>
    public static async Task<IPEndPoint> BindingAsync(Socket socket, IPEndPoint server, StunSchedule? schedule = null, CancellationToken cancellationToken = default)
    {
        schedule ??= DefaultSchedule;
        var transaction = StunMessage.NewTransactionId();
        var request = new StunMessage(StunType.BindingRequest, transaction) { Software = "OmniStore" }.Encode();
        var buffer = new byte[1500];
        var rto = schedule.InitialRto;
        for (int sent = 1; sent <= schedule.Requests; sent++)
        {
            await socket.SendToAsync(request, SocketFlags.None, server, cancellationToken).ConfigureAwait(false);
            var wait = sent == schedule.Requests ? schedule.InitialRto * schedule.LastWaitFactor : rto;

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(wait);
            try
            {
                while (true)
                {
                    var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(server.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0), timeout.Token).ConfigureAwait(false);
                    if (!SameEndPoint(received.RemoteEndPoint, server) || StunMessage.TryParse(buffer.AsSpan(0, received.ReceivedBytes)) is not { } answer || !answer.TransactionId.AsSpan().SequenceEqual(transaction))
                    {
                        continue;
                    }

                    return answer switch
                    {
                        { Type: StunType.BindingSuccess, Mapped: { } mapped } => mapped,
                        { Type: StunType.BindingError, Error: { } error } => throw new OmniStoreException(OmniStoreError.ProtocolError, $"The STUN server {server} answered error {error.Code}: {error.Reason}."),
                        _ => throw new OmniStoreException(OmniStoreError.ProtocolError, $"The STUN server {server} answered a {answer.Type} without a mapped address."),
                    };
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                rto *= schedule.Backoff; // no answer in time: send again
            }
        }

        throw new OmniStoreException(OmniStoreError.Unavailable, $"The STUN server {server} did not answer {schedule.Requests} Binding requests within {schedule.Total.TotalSeconds:0.#} s.");
    }

    private static bool SameEndPoint(EndPoint received, IPEndPoint server) =>
        received is IPEndPoint from && from.Port == server.Port &&
        (from.Address.IsIPv4MappedToIPv6 ? from.Address.MapToIPv4() : from.Address).Equals(server.Address.IsIPv4MappedToIPv6 ? server.Address.MapToIPv4() : server.Address);
}

/// <summary>A STUN retransmission schedule (RFC 8489 section 6.2.1): the first RTO, how many requests, and the last one's wait in RTOs.</summary>
/// <param name="InitialRto">The wait after the first request.</param>
/// <param name="Requests">How many requests are sent.</param>
/// <param name="LastWaitFactor">The wait after the last request, in initial RTOs.</param>
/// <param name="Backoff">What each RTO is multiplied by for the next (RFC 8489: 2; connectivity checks: 1, a steady pace).</param>
internal sealed record StunSchedule(TimeSpan InitialRto, int Requests, int LastWaitFactor, double Backoff = 2)
{
    /// <summary>How long the transaction takes when nothing answers.</summary>
    public TimeSpan Total
    {
        get
        {
            var total = TimeSpan.Zero;
            var rto = InitialRto;
            for (int i = 1; i < Requests; i++)
            {
                total += rto;
                rto *= Backoff;
            }

            return total + (InitialRto * LastWaitFactor);
        }
    }
}
