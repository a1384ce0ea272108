namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// What a sender remembers of a packet in flight: when it left, its size, whether it asks for an
/// ack, the stream range it carried (re-queued if it is lost) and the delivery state a rate sample
/// needs (docs/rudp.md, "Congestion control and pacing").
/// </summary>
internal readonly record struct SentPacket(
    long Number,
    long SentAt,
    int Size,
    bool AckEliciting,
    long StreamOffset,
    int StreamLength,
    bool Fin,
    long DeliveredAtSend,
    long DeliveredTimeAtSend,
    bool AppLimited,
    long FirstSentTimeAtSend = 0);
