using System.Diagnostics.CodeAnalysis;
using OmniStore.Transport.Internal;

namespace OmniStore.Transport;

/// <summary>
/// Where a node is reached or listens: <c>SCHEME://HOST:PORT</c>, for example
/// <c>tcp://relay.example.org:7070</c> or <c>tcp://[2001:db8::1]:7070</c>. The host is a DNS
/// name, an IPv4 address, or an IPv6 address in brackets; port 0 lets a listener pick one. A
/// scheme that names a host only (the in-memory <c>mem://NAME</c>) may leave the port out, which
/// reads as port 0. Parsed once, up front, so a bad address fails before anything connects; the
/// grammar is in docs/architecture.md, "Addresses".
/// </summary>
/// <remarks>
/// A parsed address is canonical: scheme and host in lower case, an IPv6 host compressed and
/// without brackets. So two spellings of one address are equal, and
/// <c>Parse(address.ToString())</c> equals <c>address</c>. To name a node by its id as well, use
/// <see cref="PeerAddress"/>.
/// </remarks>
/// <param name="Scheme">The transport, in lower case: <c>tcp</c>.</param>
/// <param name="Host">A host name, an IPv4 address, or an IPv6 address (without brackets).</param>
/// <param name="Port">The port, 0..65535.</param>
internal sealed record NodeAddress(string Scheme, string Host, int Port)
{
    /// <summary>The schemes this build can connect to and listen on.</summary>
    public static IReadOnlyList<string> SupportedSchemes => TransportRegistry.Default.Schemes;

    /// <summary>Parses <paramref name="text"/> (whitespace around it ignored).</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>, saying what is wrong, if it is not a node address.</exception>
    public static NodeAddress Parse(string text) =>
        AddressGrammar.TryParseEndpoint(text, AddressSchemes.Default, out var address) is { } error
            ? throw AddressGrammar.InvalidArgument(error)
            : address!;

    /// <summary>
    /// Parses <paramref name="text"/> (whitespace around it ignored); when it is not a node address,
    /// <paramref name="error"/> quotes it and says what is wrong, in the words <see cref="Parse"/> throws.
    /// </summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out NodeAddress? address, [NotNullWhen(false)] out string? error)
    {
        error = AddressGrammar.TryParseEndpoint(text, AddressSchemes.Default, out address);
        return error is null;
    }

    /// <summary>The address as it parses back: <c>tcp://host:7070</c>, <c>tcp://[::1]:7070</c>.</summary>
    public override string ToString() => AddressGrammar.Format(this, AddressSchemes.Default);
}
