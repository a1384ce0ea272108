namespace OmniStore.Node.Internal;

/// <summary>Why <see cref="ConnectionAdmission.TryAdmit"/> refused a connection; the label of its metric.</summary>
internal enum RefusalKind
{
    /// <summary>The node holds <see cref="ConnectionAdmission.MaxConnections"/>.</summary>
    AtLimit,

    /// <summary>The address holds its share of connections or of handshakes.</summary>
    PerAddress,

    /// <summary>The node holds <see cref="ConnectionAdmission.MaxPendingHandshakes"/> handshakes in progress.</summary>
    Handshakes,
}
