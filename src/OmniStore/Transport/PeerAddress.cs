using System.Diagnostics.CodeAnalysis;
using OmniStore.Transport.Internal;

namespace OmniStore.Transport;

/// <summary>
/// A node to connect to: where it is (<c>tcp://relay:7070</c>), optionally which node it must be
/// (<c>tcp://relay:7070#NODE-ID</c>), or only which node (<c>node:NODE-ID</c>), for a transport that
/// finds a node by its id. Clients take these, alone or as a comma-separated list tried in order
/// (<c>tcp://relay:7070,tcp://root:7070</c>); the grammar is in docs/architecture.md, "Addresses".
/// </summary>
/// <remarks>
/// A node id is kept as an opaque token: <see cref="MinNodeIdLength"/> to <see cref="MaxNodeIdLength"/>
/// hex digits, an even number of them, in lower case.
/// </remarks>
internal sealed record PeerAddress
{
    /// <summary>The fewest hex digits of a node id.</summary>
    public const int MinNodeIdLength = AddressGrammar.MinNodeIdDigits;

    /// <summary>The most hex digits of a node id.</summary>
    public const int MaxNodeIdLength = AddressGrammar.MaxNodeIdDigits;

    /// <summary>The most addresses one list may hold.</summary>
    public const int MaxListCount = AddressGrammar.MaxListCount;

    /// <summary>Names a node by where it is and, when <paramref name="nodeId"/> is not null, which node it must be.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> if both are null or <paramref name="nodeId"/> is not a node id.</exception>
    public PeerAddress(NodeAddress? endpoint, string? nodeId = null)
    {
        if (endpoint is null && nodeId is null)
        {
            throw AddressGrammar.InvalidArgument("a peer address names an endpoint, a node id, or both");
        }

        if (nodeId is not null && AddressGrammar.CheckNodeId(nodeId) is { } problem)
        {
            throw AddressGrammar.InvalidArgument($"'{AddressGrammar.Quote(nodeId)}' is not a node id: {problem}");
        }

        Endpoint = endpoint;
        NodeId = nodeId?.ToLowerInvariant();
    }

    /// <summary>Where the node is; null when it is named by its id alone (<c>node:ID</c>).</summary>
    public NodeAddress? Endpoint { get; }

    /// <summary>The id the node must have (lower-case hex), or null for whichever node answers at <see cref="Endpoint"/>.</summary>
    public string? NodeId { get; }

    /// <summary>Parses one peer address (whitespace around it ignored).</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>, saying what is wrong, if it is not one.</exception>
    public static PeerAddress Parse(string text) =>
        AddressGrammar.TryParsePeer(text, AddressSchemes.Default, out var address) is { } error
            ? throw AddressGrammar.InvalidArgument(error)
            : address!;

    /// <summary>Parses one peer address; when it is not one, <paramref name="error"/> quotes it and says what is wrong.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out PeerAddress? address, [NotNullWhen(false)] out string? error)
    {
        error = AddressGrammar.TryParsePeer(text, AddressSchemes.Default, out address);
        return error is null;
    }

    /// <summary>
    /// Parses a comma-separated list of peer addresses, in order. Whitespace around each is ignored;
    /// an empty element, an address given twice, or more than <see cref="MaxListCount"/> addresses
    /// are refused.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>, naming the element and what is wrong with it.</exception>
    public static IReadOnlyList<PeerAddress> ParseList(string text) =>
        TryParseList(text, out var addresses, out string? error) ? addresses : throw AddressGrammar.InvalidArgument(error);

    /// <summary>Parses a comma-separated list of peer addresses; when it is not one, <paramref name="error"/> names the element and what is wrong.</summary>
    public static bool TryParseList([NotNullWhen(true)] string? text, [NotNullWhen(true)] out IReadOnlyList<PeerAddress>? addresses, [NotNullWhen(false)] out string? error)
    {
        error = AddressGrammar.TryParseList([(null, text)], AddressSchemes.Default, out var list);
        addresses = error is null ? list : null;
        return error is null;
    }

    /// <summary>The address as it parses back: <c>tcp://relay:7070</c>, <c>tcp://relay:7070#ID</c> or <c>node:ID</c>.</summary>
    public override string ToString() => (Endpoint, NodeId) switch
    {
        (null, _) => AddressGrammar.NodeIdPrefix + NodeId,
        (_, null) => Endpoint.ToString(),
        _ => $"{Endpoint}#{NodeId}",
    };
}
