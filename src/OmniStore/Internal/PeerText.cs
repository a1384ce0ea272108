namespace OmniStore.Internal;

/// <summary>
/// A log argument that holds text a peer chose: it is formatted escaped (<see cref="UntrustedText.Escape"/>),
/// only when the message is actually written. Log methods declare such arguments with this type,
/// so no call site can forget the escaping; a string converts to it implicitly.
/// </summary>
internal readonly struct PeerText(string? raw)
{
    /// <summary>The text as received.</summary>
    public string? Raw { get; } = raw;

    public static implicit operator PeerText(string? raw) => new(raw);

    /// <summary>The text escaped and cut to <see cref="UntrustedText.DefaultMaxLength"/>.</summary>
    public override string ToString() => UntrustedText.Escape(Raw);
}
