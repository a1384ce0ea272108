using OmniStore.Protocol;

namespace OmniStore.Node.Requests;

/// <summary>
/// Serves one request: answers it once (a response, or an ERROR by throwing
/// <see cref="OmniStoreException"/>). The table's caller owns and disposes the request.
/// </summary>
internal delegate Task RequestHandler(PeerConnection connection, Message request, CancellationToken cancellationToken);

/// <summary>
/// The requests a node serves: per frame type, the side of the tree it may come from and its
/// handler (docs/architecture.md, "One upstream, one handler table"). Filled when the node starts,
/// by the node and then by its modules; read without locks afterwards.
/// </summary>
internal sealed class RequestTable
{
    private readonly Entry?[] _entries = new Entry?[256];
    private bool _sealed;

    /// <summary>One request type: who may send it and what serves it.</summary>
    internal sealed record Entry(FrameType Type, TreeSide From, RequestHandler Handler, ushort Since);

    /// <summary>
    /// Registers <paramref name="handler"/> for requests of <paramref name="type"/> from the peers on
    /// <paramref name="from"/>, on connections of protocol version <paramref name="since"/> or later.
    /// </summary>
    /// <exception cref="InvalidOperationException">The type is registered already, or the node has started.</exception>
    public void Add(FrameType type, TreeSide from, RequestHandler handler, ushort since = ProtocolLimits.MinVersion)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (_sealed)
        {
            throw new InvalidOperationException($"The request table is fixed once the node has started; {type} comes too late.");
        }

        if (type is FrameType.Hello or FrameType.Auth or FrameType.Ready or FrameType.Error or FrameType.Ping or FrameType.Pong or FrameType.Cancel or FrameType.GoAway or FrameType.Trace)
        {
            throw new ArgumentException($"{type} belongs to the connection itself, not to a request.", nameof(type));
        }

        if (_entries[(byte)type] is { } existing)
        {
            throw new InvalidOperationException($"{type} is served already (a request type has one handler); it cannot be registered twice.");
        }

        _entries[(byte)type] = new Entry(type, from, handler, since);
    }

    /// <summary>No more entries: the node has started.</summary>
    public void Seal() => _sealed = true;

    /// <summary>The entry for <paramref name="type"/>, or null when this node serves no such request.</summary>
    public Entry? Find(FrameType type) => _entries[(byte)type];

    /// <summary>The types that peers on <paramref name="side"/> may send, in frame-type order.</summary>
    public IEnumerable<FrameType> From(TreeSide side) =>
        _entries.Where(e => e is not null && e.From == side).Select(e => e!.Type);

    /// <summary>
    /// Finds the entry for <paramref name="type"/> sent by a peer on <paramref name="side"/> over a
    /// connection of protocol <paramref name="version"/>; a type this node does not serve, one from
    /// the wrong side, or one the connection's version does not have, is a <see cref="OmniStoreError.ProtocolError"/>.
    /// </summary>
    public Entry Route(FrameType type, TreeSide side, ushort version)
    {
        var entry = Find(type) ?? throw new OmniStoreException(OmniStoreError.ProtocolError, $"{type} is not a request.");
        if (version < entry.Since)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"{Names(type)} is a request of protocol version {entry.Since}; this connection speaks {version}.");
        }

        if (entry.From != side)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, side == TreeSide.Parent
                ? $"{type} is a child's request; a parent may only send {Join(TreeSide.Parent)}."
                : $"{type} is a parent's request; a child may not send it.");
        }

        return entry;
    }

    private string Join(TreeSide side) => string.Join(", ", From(side).Select(Names));

    /// <summary>A type as docs/protocol.md writes it: UPDATE, PUSH_CHUNK.</summary>
    private static string Names(FrameType type) =>
        string.Concat(type.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : char.ToUpperInvariant(c).ToString()));
}
