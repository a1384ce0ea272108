namespace OmniStore.Transport.Rudp.Internal;

/// <summary>Packet numbers <see cref="Smallest"/> to <see cref="Largest"/>, both included, acknowledged together.</summary>
internal readonly record struct AckRange(long Smallest, long Largest);
