using OmniStore.Protocol;
using OmniStore.Security;

namespace OmniStore.Node;

/// <summary>
/// What a client on a TLS link serves its node: REVOCATIONS only (docs/tls.md, "Revocation"). A
/// list the tree CA signed and newer than the client's replaces it; the client then drops a
/// connection to a node the list revokes, and its next request goes to the next address (a
/// revoked node is refused at the TLS handshake from then on). Any other request is refused.
/// </summary>
internal sealed class ClientRevocations(TlsCredentials credentials) : IRequestHandler
{
    public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        using (request)
        {
            if (request.Type != FrameType.Revocations || connection.PeerSide != TreeSide.Parent)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"A client serves no {request.Type} request.");
            }

            credentials.TryReplaceRevocations(RevocationList.Parse(request.Payload, credentials.Ca, "the revocation list from the node"));
        }

        await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
    }
}
