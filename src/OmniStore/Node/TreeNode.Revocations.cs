using OmniStore.Protocol;
using OmniStore.Security;

namespace OmniStore.Node;

/// <summary>
/// The tree CA's revocation list on a node with TLS links (docs/tls.md, "Revocation"): read from
/// <c>--tls-crl</c> at start and whenever that file changes, and from the copy a relay keeps in its
/// data directory; taken from the parent's REVOCATIONS when the CA signed it and it is newer than
/// the one held. A newer list closes every connection whose certificate it lists and goes on to
/// every child on a TLS link (relays and clients), so a revoked node is refused by its parent and
/// by the clients below within one push.
/// </summary>
internal sealed partial class TreeNode
{
    /// <summary>The copy of the newest list a node took, in its data directory (DER): it outlives a restart.</summary>
    internal const string RevocationsFile = "revocations.crl";

    /// <summary>How long a child has to take a pushed list before it is left to get it on reconnecting.</summary>
    private static readonly TimeSpan RevocationPushTimeout = TimeSpan.FromSeconds(10);

    private Task? _revocationWatch;
    private (DateTime Written, long Length) _revocationFileSeen;

    /// <summary>
    /// At start, on a node with TLS: the kept copy if it is newer than <c>--tls-crl</c>'s, then
    /// watching that file, and reacting to every newer list from here on.
    /// </summary>
    private void StartRevocations()
    {
        if (_tls is not { } tls)
        {
            return;
        }

        string kept = Path.Combine(_options.DataDirectory, RevocationsFile);
        if (File.Exists(kept))
        {
            try
            {
                tls.TryReplaceRevocations(RevocationList.Load(kept, tls.Ca));
            }
            catch (OmniStoreException ex)
            {
                NodeLog.RevocationsRefused(_logger, kept, ex.Message);
            }
        }

        tls.RevocationsChanged += list => _ = Task.Run(() => OnRevocationsAsync(list), CancellationToken.None);
        if (_options.Tls?.RevocationListFile is { } path)
        {
            _revocationFileSeen = FileStamp(path);
            _revocationWatch = Task.Run(() => WatchRevocationFileAsync(path), CancellationToken.None);
        }
    }

    private static (DateTime, long) FileStamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : default;
    }

    /// <summary>Reads <paramref name="path"/> again whenever its time or length changes; a list that does not check is logged and the held one kept.</summary>
    private async Task WatchRevocationFileAsync(string path)
    {
        using var timer = new PeriodicTimer(_options.RevocationPollInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                var stamp = FileStamp(path);
                if (stamp == _revocationFileSeen || stamp == default)
                {
                    continue;
                }

                _revocationFileSeen = stamp;
                try
                {
                    _tls!.TryReplaceRevocations(RevocationList.Load(path, _tls.Ca));
                }
                catch (Exception ex) when (ex is OmniStoreException or IOException or UnauthorizedAccessException)
                {
                    NodeLog.RevocationsRefused(_logger, path, ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // the node is stopping
        }
    }

    /// <summary>A newer list: kept, every connection it revokes closed, and sent on to every child on a TLS link.</summary>
    private async Task OnRevocationsAsync(RevocationList list)
    {
        NodeLog.RevocationsTaken(_logger, list.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), list.Count);
        KeepRevocations(list);

        var revoked = _children.Keys.Where(c => IsRevoked(c, list)).ToList();
        if (Parent?.Current is { } parent && IsRevoked(parent, list))
        {
            revoked.Add(parent);
        }

        foreach (var connection in revoked)
        {
            NodeLog.RevokedPeerClosed(_logger, connection.Describe(), connection.PeerCertificateName ?? "?");
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(_children.Keys.Where(c => c.IsOpen).Select(c => PushRevocationsAsync(c, list))).ConfigureAwait(false);
    }

    private static bool IsRevoked(PeerConnection connection, RevocationList list) =>
        connection.PeerCertificateSerial is { } serial && list.IsRevoked(serial);

    /// <summary>Writes <paramref name="list"/> to the data directory (replacing the file whole), so a restart starts from it.</summary>
    private void KeepRevocations(RevocationList list)
    {
        string path = Path.Combine(_options.DataDirectory, RevocationsFile);
        string temporary = path + ".new";
        try
        {
            File.WriteAllBytes(temporary, list.Der);
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            NodeLog.RevocationsRefused(_logger, path, $"cannot be written: {ex.Message}");
        }
    }

    /// <summary>
    /// Sends the list held to <paramref name="child"/> when it is on a TLS link and speaks
    /// REVOCATIONS; a child that does not take it in time gets it when it reconnects.
    /// </summary>
    private async Task PushRevocationsAsync(PeerConnection child, RevocationList? list = null)
    {
        list ??= _tls?.Revocations;
        if (list is null || child.PeerCertificateSerial is null || child.Version < ProtocolLimits.RevocationsVersion)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(RevocationPushTimeout);
        try
        {
            using var _ = await child.RequestAsync(FrameType.Revocations, list.Der, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException or ObjectDisposedException)
        {
            NodeLog.RevocationsNotSent(_logger, child.Describe(), ex is OperationCanceledException ? $"no answer within {RevocationPushTimeout.TotalSeconds} s" : ex.Message);
        }
    }

    /// <summary>REVOCATIONS from the parent: taken when the tree CA signed it and it is newer than the list held.</summary>
    private Task ApplyRevocationsAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        if (_tls is not { } tls)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, "This node has no TLS credentials: it holds no revocation list.");
        }

        var list = RevocationList.Parse(request.Payload, tls.Ca, "the revocation list from the parent");
        tls.TryReplaceRevocations(list); // an older or the same list changes nothing

        return connection.RespondAsync(request.Stream, FrameType.Ok, default).AsTask();
    }
}
