using System.Collections.Concurrent;
using System.Net;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Nat;

/// <summary>
/// The NAT layer's use of one rudp socket (docs/nat.md, "Layers"): it answers STUN Binding requests
/// as every rudp socket does, tells <see cref="RequestArrived"/> who sent one (a peer's opening
/// datagram or connectivity check), routes Binding answers to the transaction waiting for them by
/// transaction id, and sends STUN datagrams, with a lowered TTL when asked. The rudp connections
/// on the socket are not touched.
/// </summary>
internal sealed class NatSocket
{
    private readonly ConcurrentDictionary<TransactionKey, TaskCompletionSource<(StunMessage Answer, IPEndPoint From)>> _waiting = new();

    /// <summary>Takes over the STUN datagrams of <paramref name="endpoint"/>.</summary>
    public NatSocket(RudpEndpoint endpoint)
    {
        Endpoint = endpoint;
        endpoint.Responder = Respond;
    }

    /// <summary>The rudp socket.</summary>
    public RudpEndpoint Endpoint { get; }

    /// <summary>A Binding request arrived from an address (answered already); called on the socket's receive thread: be quick.</summary>
    public event Action<IPEndPoint, StunMessage>? RequestArrived;

    /// <summary>
    /// Sends <paramref name="request"/> to <paramref name="to"/> on <paramref name="schedule"/>
    /// (RFC 8489's retransmissions) until an answer with its transaction id arrives, from any
    /// address (a relay or a NAT may answer from elsewhere than asked), and returns it with where it came from.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unavailable"/> when nothing answered within the schedule.</exception>
    public async Task<(StunMessage Answer, IPEndPoint From)> TransactAsync(IPEndPoint to, StunMessage request, StunSchedule schedule, CancellationToken cancellationToken)
    {
        var key = new TransactionKey(request.TransactionId);
        var answered = new TaskCompletionSource<(StunMessage, IPEndPoint)>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_waiting.TryAdd(key, answered))
        {
            throw new InvalidOperationException("A transaction id in use.");
        }

        try
        {
            byte[] datagram = request.Encode();
            var rto = schedule.InitialRto;
            for (int sent = 1; sent <= schedule.Requests; sent++)
            {
                Endpoint.SendDatagram(datagram, to);
                var wait = sent == schedule.Requests ? schedule.InitialRto * schedule.LastWaitFactor : rto;
                try
                {
                    return await answered.Task.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    rto *= schedule.Backoff;
                }
            }

            throw new OmniStoreException(OmniStoreError.Unavailable, $"{to} did not answer {schedule.Requests} STUN Binding requests within {schedule.Total.TotalSeconds:0.#} s.");
        }
        finally
        {
            _waiting.TryRemove(key, out _);
        }
    }

    /// <summary>Sends a STUN datagram that crosses at most <paramref name="ttl"/> hops (null: the normal TTL).</summary>
    public void Send(StunMessage message, IPEndPoint to, int? ttl = null)
    {
        byte[] datagram = message.Encode();
        if (ttl is { } hops)
        {
            Endpoint.SendWithTtl(datagram, to, hops);
        }
        else
        {
            Endpoint.SendDatagram(datagram, to);
        }
    }

    private bool Respond(ReadOnlySpan<byte> datagram, IPEndPoint from, out byte[]? answer)
    {
        answer = null;
        if (StunMessage.TryParse(datagram) is not { } message)
        {
            return false;
        }

        switch (message.Type)
        {
            case StunType.BindingRequest:
                answer = StunResponder.Answer(datagram, from);
                if (message.Unknown.Count == 0)
                {
                    RequestArrived?.Invoke(from, message);
                }

                break;
            case StunType.BindingSuccess or StunType.BindingError:
                if (_waiting.TryGetValue(new TransactionKey(message.TransactionId), out var waiter))
                {
                    waiter.TrySetResult((message, from));
                }

                break;
        }

        return true;
    }

    /// <summary>A transaction id as a dictionary key.</summary>
    private readonly record struct TransactionKey(long High, int Low)
    {
        public TransactionKey(byte[] id)
            : this(BitConverter.ToInt64(id, 0), BitConverter.ToInt32(id, 8))
        {
        }
    }
}
