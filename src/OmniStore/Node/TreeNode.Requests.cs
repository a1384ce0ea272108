using System.Buffers;
using OmniStore.Content;
using OmniStore.Node.Requests;
using OmniStore.Internal;
using OmniStore.Protocol;
using OmniStore.Security;
using OmniStore.Storage;

namespace OmniStore.Node;

/// <summary>
/// The request handlers, one per request type and the same at the root and at a relay: each
/// answers from the store what it holds and asks the node's upstream for the rest
/// (docs/architecture.md, "One upstream, one handler table").
/// </summary>
internal sealed partial class TreeNode
{
    private RequestTable CreateRequestTable()
    {
        var table = new RequestTable();
        table.Add(FrameType.Resolve, TreeSide.Child, ServeResolveAsync);
        table.Add(FrameType.GetManifest, TreeSide.Child, ServeManifestAsync);
        table.Add(FrameType.GetChunk, TreeSide.Child, ServeChunkAsync);
        table.Add(FrameType.PutChunk, TreeSide.Child, AcceptChunkAsync);
        table.Add(FrameType.PutManifest, TreeSide.Child, AcceptManifestAsync);
        table.Add(FrameType.Bind, TreeSide.Child, ServeBindAsync);
        table.Add(FrameType.Delete, TreeSide.Child, ServeDeleteAsync);
        table.Add(FrameType.Prefetch, TreeSide.Child, ServePrefetchAsync);
        table.Add(FrameType.Update, TreeSide.Parent, ApplyUpdateAsync);
        table.Add(FrameType.PushChunk, TreeSide.Parent, AcceptPushAsync);
        table.Add(FrameType.GetCopy, TreeSide.Parent, ServeCopyAsync);
        table.Add(FrameType.Verify, TreeSide.Child, ServeVerifyAsync);
        table.Add(FrameType.GetObject, TreeSide.Child, ServeObjectAsync, since: ProtocolLimits.ObjectVersion);
        table.Add(FrameType.PutObject, TreeSide.Child, ServePutObjectAsync, since: ProtocolLimits.PutObjectVersion);
        table.Add(FrameType.Revocations, TreeSide.Parent, ApplyRevocationsAsync, since: ProtocolLimits.RevocationsVersion);
        table.Add(FrameType.List, TreeSide.Child, ServeListAsync, since: ProtocolLimits.ListingVersion);
        table.Add(FrameType.Wait, TreeSide.Child, ServeWaitAsync, since: ProtocolLimits.ListingVersion);
        table.Add(FrameType.TreeReport, TreeSide.Child, ServeTreeReportAsync, since: ProtocolLimits.TreeReportVersion);
        table.Add(FrameType.Watch, TreeSide.Child, ServeWatchAsync, since: ProtocolLimits.WatchVersion);
        foreach (var module in _options.Modules)
        {
            module.AddRequests(table);
        }

        table.Seal();
        return table;
    }

    /// <summary>
    /// Refuses a request for <paramref name="name"/> the peer's certificate does not grant (docs/tls.md,
    /// "Rights"): <see cref="OmniStoreError.Unauthorized"/> naming the name and the right missing,
    /// logged with the peer's identity. A relay checks its children here too, before anything goes
    /// to its parent, so a client cannot reach through a relay what the root would refuse it.
    /// </summary>
    private void Authorize(PeerConnection connection, string name, bool write)
    {
        if (connection.PeerRights is not { } rights || (write ? rights.MayWrite(name) : rights.MayRead(name)))
        {
            return;
        }

        var prefixes = write ? rights.Write : rights.Read;
        string reason = $"certificate '{connection.PeerCertificateName}' may not {(write ? "write" : "read")} '{UntrustedText.Escape(name, 200)}' (it {(write ? "writes" : "reads")} {UntrustedText.Escape(NodeRights.Describe(prefixes), 400)})";
        NodeLog.Unauthorized(_logger, connection.Describe(), reason);
        throw new OmniStoreException(OmniStoreError.Unauthorized, char.ToUpperInvariant(reason[0]) + reason[1..] + ".");
    }

    /// <summary>Chunks and manifests come only from a peer that may write some name: a reader's certificate uploads nothing.</summary>
    private void AuthorizeUpload(PeerConnection connection)
    {
        if (connection.PeerRights is { } rights && rights.Role == CertificateRole.Client && rights.Write.Count == 0)
        {
            string reason = $"certificate '{connection.PeerCertificateName}' may not write (it writes no name), so it uploads no chunk or manifest";
            NodeLog.Unauthorized(_logger, connection.Describe(), reason);
            throw new OmniStoreException(OmniStoreError.Unauthorized, char.ToUpperInvariant(reason[0]) + reason[1..] + ".");
        }
    }

    private async Task ServeResolveAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        string name = Names.Decode(request.Payload);
        Authorize(connection, name, write: false);
        var binding = await ResolveAsync(name, connection, cancellationToken).ConfigureAwait(false);
        _transfers.Resolved(connection, name, binding.ManifestId);
        _transfers.Named(name, binding.ManifestId);
        await connection.RespondAsync(request.Stream, FrameType.Binding, binding.Encode(connection.Version)).ConfigureAwait(false);
    }

    /// <summary>The current binding of a bound name; <see cref="OmniStoreError.NotFound"/> otherwise.</summary>
    internal Task<BindingMessage> ResolveAsync(string name, CancellationToken cancellationToken) => ResolveAsync(name, child: null, cancellationToken);

    /// <summary>As <see cref="ResolveAsync(string, CancellationToken)"/>, for a request of <paramref name="child"/> (whose upstream budget applies).</summary>
    internal async Task<BindingMessage> ResolveAsync(string name, PeerConnection? child, CancellationToken cancellationToken)
    {
        var binding = await _upstream.ResolveAsync(name, child, cancellationToken).ConfigureAwait(false);
        if (!binding.IsBound)
        {
            throw ThrowHelper.NotFound(name);
        }

        return binding;
    }

    private async Task ServeManifestAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        if (request.Length != ManifestId.Size)
        {
            throw HelloMessage.Malformed("GET_MANIFEST carries a 16-byte id");
        }

        var manifest = await GetManifestAsync(ManifestId.Read(request.Payload), connection, cancellationToken).ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.Manifest, manifest.ToBytes()).ConfigureAwait(false);
        _transfers.Started(connection, manifest, name: null);
    }

    internal Task<Manifest> GetManifestAsync(ManifestId id, CancellationToken cancellationToken) => GetManifestAsync(id, child: null, cancellationToken);

    /// <summary>A manifest from the store or from the upstream, for a request of <paramref name="child"/> (whose upstream budget applies).</summary>
    internal async Task<Manifest> GetManifestAsync(ManifestId id, PeerConnection? child, CancellationToken cancellationToken) =>
        await _store.ReadManifestAsync(id, cancellationToken).ConfigureAwait(false)
        ?? await _upstream.FetchManifestAsync(id, child, cancellationToken).ConfigureAwait(false);

    private async Task ServeChunkAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var (id, length) = ChunkRequests.Read(request.Payload);

        // A chunk still arriving from the parent streams on to a child that can read an abandoned
        // answer; an older child gets it once checked.
        Func<IArrivingBody, Task>? stream = connection.Version >= ProtocolLimits.AbandonVersion
            ? body => connection.RespondArrivingAsync(request.Stream, FrameType.Chunk, ChunkMessage.Head(id, length), body, cancellationToken)
            : null;
        await AnswerWithChunkAsync(
            connection,
            id,
            length,
            data => connection.RespondAsync(request.Stream, FrameType.Chunk, ChunkMessage.Head(id, data.Length), data),
            stream,
            cancellationToken).ConfigureAwait(false);
        _transfers.ChunkServed(connection, id, length);
    }

    /// <summary>
    /// GET_OBJECT: the binding, the manifest and, for a one-chunk object no longer than asked, its
    /// bytes, in one answer; found as RESOLVE, GET_MANIFEST and GET_CHUNK find them (from the store,
    /// or fetched once from upstream). What the answer leaves out, the asker fetches as before.
    /// </summary>
    private async Task ServeObjectAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var (name, inline) = ObjectMessages.ReadRequest(request.Payload);
        Authorize(connection, name, write: false);
        var binding = await ResolveAsync(name, connection, cancellationToken).ConfigureAwait(false);
        var manifest = await GetManifestAsync(binding.ManifestId, connection, cancellationToken).ConfigureAwait(false);
        var manifestBytes = manifest.ToBytes();
        _transfers.Started(connection, manifest, name);
        if (manifestBytes.Length > ObjectMessages.MaxInlineManifest)
        {
            await connection.RespondAsync(request.Stream, FrameType.Object, ObjectMessages.EncodeHead(binding, manifest: null, withChunk: false, connection.Version)).ConfigureAwait(false);
            return;
        }

        if (manifest.Layout.ChunkCount != 1 || manifest.Length > inline)
        {
            await connection.RespondAsync(request.Stream, FrameType.Object, ObjectMessages.EncodeHead(binding, manifestBytes, withChunk: false, connection.Version)).ConfigureAwait(false);
            return;
        }

        var head = ObjectMessages.EncodeHead(binding, manifestBytes, withChunk: true, connection.Version);
        await AnswerWithChunkAsync(
            connection,
            manifest.Chunks[0],
            (int)manifest.Length,
            data => connection.RespondAsync(request.Stream, FrameType.Object, head, data),
            stream: null,
            cancellationToken).ConfigureAwait(false);
        _transfers.ChunkServed(connection, manifest.Chunks[0], (int)manifest.Length);
    }

    /// <summary>
    /// Finds the <paramref name="length"/> bytes of chunk <paramref name="id"/> (the store, else one
    /// upstream fetch shared by every request that missed) and answers with them: with
    /// <paramref name="answer"/> once they are all there and checked (the bytes are valid until it
    /// completes), or, for a fetch, with <paramref name="stream"/> while they arrive, when given.
    /// </summary>
    private async Task AnswerWithChunkAsync(PeerConnection connection, ChunkId id, int length, Func<ReadOnlyMemory<byte>, ValueTask> answer, Func<IArrivingBody, Task>? stream, CancellationToken cancellationToken)
    {
        // The asked length is the peer's word: the buffer is reserved against this connection's
        // send limit, so a peer that asks for large chunks and reads nothing waits for its own
        // answers instead of holding a buffer per request.
        using var reservation = await connection.ReserveSendAsync(length, cancellationToken).ConfigureAwait(false);
        for (int attempt = 0; ; attempt++)
        {
            ChunkReadStatus status;
            using (var rented = RentAnswerBuffer(length))
            {
                var buffer = rented.Buffer;
                var result = await _store.ReadChunkAsync(id, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                if (result.Status == ChunkReadStatus.Found)
                {
                    // Only the bytes the store wrote go out: the rest of a rented buffer is someone
                    // else's old data.
                    ChunkRequests.CheckLength(id, length, result.Length);
                    await answer(buffer.AsMemory(0, result.Length)).ConfigureAwait(false);
                    return;
                }

                status = result.Status;
            }

            // One upstream fetch for every request that missed: each streams from its one buffer
            // (or, when the chunk is in the store by now, reads it there like a hit).
            var fetched = await _upstream.FetchChunkAsync(id, length, status, connection, cancellationToken).ConfigureAwait(false);
            if (fetched.Reader is { } reader)
            {
                using (reader)
                {
                    if (stream is not null)
                    {
                        await stream(reader).ConfigureAwait(false);
                    }
                    else
                    {
                        await reader.WaitCheckedAsync(cancellationToken).ConfigureAwait(false);
                        await answer(reader.Memory).ConfigureAwait(false);
                    }
                }

                return;
            }

            if (attempt == 2)
            {
                throw new OmniStoreException(OmniStoreError.Unavailable, $"Chunk {id} keeps being evicted from this relay's cache before it can be served; the cache is too small for the load.");
            }
        }
    }

    /// <summary>Rents a buffer to answer a chunk request from, counted in <see cref="AnswerBufferBytes"/> until disposed.</summary>
    private AnswerBuffer RentAnswerBuffer(int length)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        Interlocked.Add(ref _answerBufferBytes, buffer.Length);
        return new AnswerBuffer(this, buffer);
    }

    private readonly struct AnswerBuffer(TreeNode node, byte[] buffer) : IDisposable
    {
        public byte[] Buffer => buffer;

        public void Dispose()
        {
            Interlocked.Add(ref node._answerBufferBytes, -buffer.Length);
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task ServePrefetchAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        string name = Names.Decode(request.Payload);
        Authorize(connection, name, write: false);
        var binding = await ResolveAsync(name, connection, cancellationToken).ConfigureAwait(false);
        var manifest = await GetManifestAsync(binding.ManifestId, connection, cancellationToken).ConfigureAwait(false);
        await _upstream.WarmAsync(manifest, connection, cancellationToken).ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
    }

    private async Task AcceptChunkAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        AuthorizeUpload(connection);
        var (id, data) = ChunkMessage.Read(request);
        await _upstream.WriteChunkAsync(connection, request, id, data, cancellationToken).ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
    }

    private async Task AcceptManifestAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        AuthorizeUpload(connection);
        await _upstream.WriteManifestAsync(request, Manifest.Parse(request.Payload), cancellationToken).ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
    }

    private async Task ServeBindAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var bind = BindMessage.Decode(request.Payload);
        Authorize(connection, bind.Name, write: true);
        var binding = await _upstream.BindAsync(connection, request, bind, cancellationToken).ConfigureAwait(false);
        _transfers.Named(bind.Name, binding.ManifestId);
        await connection.RespondAsync(request.Stream, FrameType.Binding, binding.Encode(connection.Version)).ConfigureAwait(false);
    }

    private async Task ServePutObjectAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var put = PutObjectMessage.Decode(request.PayloadMemory);
        Authorize(connection, put.Name, write: true);
        var binding = await _upstream.PutObjectAsync(connection, request, put, cancellationToken).ConfigureAwait(false);
        _transfers.Named(put.Name, binding.ManifestId);
        await connection.RespondAsync(request.Stream, FrameType.Binding, binding.Encode(connection.Version)).ConfigureAwait(false);
    }

    private async Task ServeDeleteAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        string name = Names.Decode(request.Payload);
        Authorize(connection, name, write: true);
        var binding = await _upstream.DeleteAsync(request, name, cancellationToken).ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.Binding, binding.Encode(connection.Version)).ConfigureAwait(false);
    }

    /// <summary>A binding pushed down by the parent: applied here, then pushed further down before the ack.</summary>
    private async Task ApplyUpdateAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        await _upstream.ApplyUpdateAsync(BindingMessage.Decode(request.Payload), cancellationToken).ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
    }

    /// <summary>A chunk pushed down by the parent (a broadcast): kept here and pushed further down before the ack.</summary>
    private async Task AcceptPushAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var (id, data) = ChunkMessage.Read(request);
        await _upstream.AcceptPushAsync(request, id, data, cancellationToken).ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
    }

    /// <summary>
    /// The parent's ask for this node's own copy of a chunk, to repair its damaged one: answered from
    /// the store, or from the relays below (which are asked in turn), never from the parent.
    /// </summary>
    private async Task ServeCopyAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var (id, length) = ChunkRequests.Read(request.Payload);
        using var reservation = await connection.ReserveSendAsync(length, cancellationToken).ConfigureAwait(false);
        using var answer = RentAnswerBuffer(length);
        var result = await _store.ReadChunkAsync(id, answer.Buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        if (result.Status != ChunkReadStatus.Found && await RepairFromBelowAsync(id, length, cancellationToken).ConfigureAwait(false))
        {
            result = await _store.ReadChunkAsync(id, answer.Buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }

        if (result.Status != ChunkReadStatus.Found)
        {
            throw new OmniStoreException(OmniStoreError.NotFound, $"This node holds no verified copy of chunk {id}.");
        }

        ChunkRequests.CheckLength(id, length, result.Length);
        await connection.RespondAsync(request.Stream, FrameType.Chunk, ChunkMessage.Head(id, result.Length), answer.Buffer.AsMemory(0, result.Length)).ConfigureAwait(false);
    }
}
