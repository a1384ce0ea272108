using OmniStore.Content;
using OmniStore.Storage.Internal;

namespace OmniStore.Storage;

/// <summary>
/// The journal of a pinned store: small Puts and Deletes made durable by one record each, with one
/// <c>fdatasync</c> per group, and replayed at the next open after a crash (docs/storage.md, "The journal").
/// </summary>
internal sealed partial class ContentStore
{
    /// <summary>Bytes of journal after which a commit is started in the background, so that the journal (and a replay) stays short.</summary>
    internal const long JournalCommitBytes = 64L << 20;

    private WriteJournal? _journal;
    private int _journalCommitRunning;
    private long _journaled;

    /// <summary>Writes made durable by the journal since the store was opened.</summary>
    public long JournaledWrites => Interlocked.Read(ref _journaled);

    /// <summary>The journal's <c>fdatasync</c> calls since the store was opened (each covers a group of writes).</summary>
    public long JournalSyncs => _journal?.Syncs ?? 0;

    /// <summary>
    /// Makes a binding just written durable: through the journal when the store has one and the
    /// object is at most <see cref="ContentStoreOptions.JournalLimit"/> bytes (or it is a tombstone),
    /// else by a commit. The caller holds a pin on <paramref name="manifest"/> (its chunks are read
    /// back for the record).
    /// </summary>
    public Task MakeDurableAsync(string name, Binding binding, Manifest? manifest, CancellationToken cancellationToken = default) =>
        MakeDurableAsync(name, binding, manifest, null, sequence: 0, cancellationToken);

    /// <summary>
    /// As <see cref="MakeDurableAsync(string, Binding, Manifest?, CancellationToken)"/>, with the
    /// object's bytes when the caller has them (<paramref name="chunk"/> gives chunk i's), so they
    /// need not be read back from the store; <paramref name="sequence"/> is the change's number
    /// (<see cref="BindChangeAsync"/>), kept in the journal record so a replay numbers it alike.
    /// </summary>
    public async Task MakeDurableAsync(string name, Binding binding, Manifest? manifest, Func<int, ReadOnlyMemory<byte>>? chunk, long sequence, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (_journal is not { } journal
            || (manifest is not null && manifest.Layout.Length > _options.JournalLimit)
            || EncodeJournalRecord(name, binding, manifest, chunk, sequence) is not { } payload)
        {
            await CommitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        Task written;
        try
        {
            written = journal.AppendAsync(payload);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The journal of the store in '{Directory}' could not be written: {ex.Message}", ex);
        }

        if (journal.Length >= JournalCommitBytes && Interlocked.Exchange(ref _journalCommitRunning, 1) == 0)
        {
            _ = CommitForJournalAsync();
        }

        await written.WaitAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _journaled);
    }

    private async Task CommitForJournalAsync()
    {
        try
        {
            await CommitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (OmniStoreException ex)
        {
            StoreLog.JournalCommitFailed(_logger, ex, Directory);
        }
        finally
        {
            Volatile.Write(ref _journalCommitRunning, 0);
        }
    }

    /// <summary>The record for a binding, with the object's distinct chunks read back; null if one cannot be read (then a commit does it).</summary>
    private byte[]? EncodeJournalRecord(string name, Binding binding, Manifest? manifest, Func<int, ReadOnlyMemory<byte>>? chunk, long sequence)
    {
        var chunks = new List<ReadOnlyMemory<byte>>();
        if (manifest is not null)
        {
            var seen = new HashSet<ChunkId>();
            for (int i = 0; i < manifest.Chunks.Count; i++)
            {
                if (!seen.Add(manifest.Chunks[i]))
                {
                    continue;
                }

                if (chunk is not null)
                {
                    chunks.Add(chunk(i));
                    continue;
                }

                var bytes = new byte[manifest.Layout.LengthOf(i)];
                if (ReadChunk(manifest.Chunks[i], bytes).Status != ChunkReadStatus.Found)
                {
                    return null;
                }

                chunks.Add(bytes);
            }
        }

        return new JournalRecord(name, binding, manifest, chunks, sequence).Encode();
    }

    /// <summary>
    /// Replays the journal files a crash left (every record, in order: chunks, manifest, and the
    /// binding unless the name holds a newer one), commits what they held, and starts a new file.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Corrupt"/> for a damaged journal file.</exception>
    private void OpenJournal()
    {
        var files = WriteJournal.ListFiles(Directory);
        int replayed = 0;
        foreach (var (_, path) in files)
        {
            if (new FileInfo(path).Length > 2 * JournalCommitBytes + _options.JournalLimit + (1 << 20))
            {
                throw new OmniStoreException(OmniStoreError.Corrupt, $"journal file {Path.GetFileName(path)} is larger than this store ever writes one");
            }

            int maxPayload = checked((int)_options.MaxChunkSize + (int)Math.Max(_options.JournalLimit, ChunkLayout.MaxChunkSize) + (2 << 20));
            foreach (var payload in WriteJournal.ReadRecords(path, maxPayload))
            {
                var record = JournalRecord.Decode(payload, _options.MaxChunkSize);
                foreach (var chunk in record.Chunks)
                {
                    WriteChunk(ChunkId.Compute(chunk.Span), chunk.Span);
                }

                if (record.Manifest is { } manifest)
                {
                    WriteManifest(manifest);
                }

                RestoreBindingAsync(record.Name, record.Binding, record.Sequence).AsTask().GetAwaiter().GetResult();
                replayed++;
            }
        }

        _journal = new WriteJournal(Directory);
        if (replayed > 0)
        {
            StoreLog.JournalReplayed(_logger, Directory, replayed, files.Count);
            CommitAsync(CancellationToken.None).GetAwaiter().GetResult(); // drops the replayed files
        }
        else
        {
            _journal.DropBefore(_journal.Generation);
        }
    }
}
