namespace OmniStore;

/// <summary>
/// The reason an <see cref="OmniStoreException"/> was raised. The numeric values are stable: they
/// travel on the wire and are returned (negated) by the C API.
/// </summary>
public enum OmniStoreError
{
    /// <summary>An error that fits no other code.</summary>
    Unknown = 1,

    /// <summary>No object is bound to the name (or the object's data was evicted from a cache).</summary>
    NotFound = 2,

    /// <summary>The name is empty, longer than 1024 UTF-8 bytes, or holds a control character.</summary>
    InvalidName = 3,

    /// <summary>The destination buffer is smaller than the object.</summary>
    TooSmall = 4,

    /// <summary>A pinned store has no room left for new data.</summary>
    StoreFull = 5,

    /// <summary>Stored or received data does not match its content id.</summary>
    Corrupt = 6,

    /// <summary>The node or the peer that holds the data cannot be reached.</summary>
    Unavailable = 7,

    /// <summary>The peer refused the shared secret.</summary>
    Unauthorized = 8,

    /// <summary>The peer sent something the protocol does not allow.</summary>
    ProtocolError = 9,

    /// <summary>An argument or option is out of range (for example an object larger than the store allows).</summary>
    InvalidArgument = 10,

    /// <summary>The operation was cancelled.</summary>
    Cancelled = 11,

    /// <summary>The client or store was disposed.</summary>
    Disposed = 12,

    /// <summary>
    /// A conditional Put found the name moved on: bound at another version than
    /// <see cref="PutOptions.IfVersion"/> asked, or bound at all under <see cref="PutOptions.IfNotExists"/>.
    /// Nothing was bound; read the name again and decide.
    /// </summary>
    Conflict = 13,
}
