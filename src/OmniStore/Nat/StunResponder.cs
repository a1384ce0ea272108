using System.Net;

namespace OmniStore.Nat;

/// <summary>
/// What a rudp listener answers to STUN (docs/nat.md, "Every node answers STUN"): a Binding
/// request gets a success response naming the address it came from; nothing is kept. A request
/// with an unknown comprehension-required attribute gets 420; anything else gets nothing.
/// </summary>
internal static class StunResponder
{
    /// <summary>
    /// A rudp socket's <c>DatagramResponder</c>: false when <paramref name="datagram"/> is no STUN
    /// message; else true, with <paramref name="answer"/> the answer to a Binding request (null for
    /// any other STUN message: nothing here waits for one).
    /// </summary>
    public static bool Respond(ReadOnlySpan<byte> datagram, IPEndPoint from, out byte[]? answer)
    {
        answer = Answer(datagram, from);
        return answer is not null || StunMessage.TryParse(datagram) is not null;
    }

    /// <summary>The answer to <paramref name="datagram"/> from <paramref name="from"/>, or null when there is none to give.</summary>
    public static byte[]? Answer(ReadOnlySpan<byte> datagram, IPEndPoint from)
    {
        if (datagram.Length > 548 || StunMessage.TryParse(datagram) is not { Type: StunType.BindingRequest } request)
        {
            return null; // not a Binding request, or larger than any a client sends: no answer
        }

        if (request.Unknown.Count > 0)
        {
            return new StunMessage(StunType.BindingError, request.TransactionId) { Error = (420, "Unknown Attribute"), Unknown = request.Unknown }.Encode();
        }

        return new StunMessage(StunType.BindingSuccess, request.TransactionId) { Mapped = from }.Encode();
    }
}
