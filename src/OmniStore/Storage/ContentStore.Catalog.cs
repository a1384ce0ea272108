using System.Collections.Concurrent;
using System.Text;
using OmniStore.Content;
using OmniStore.Storage.Internal;

namespace OmniStore.Storage;

/// <summary>The catalog: manifests and name bindings, in their own FASTER table (<c>catalog/</c>).</summary>
internal sealed partial class ContentStore
{
    private const byte ManifestTag = (byte)'M';
    private const byte NameTag = (byte)'N';
    private const int ManifestPartSize = 1 << 20;
    private readonly SemaphoreSlim[] _nameLocks = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    // A cache's catalog is a cache too: names (by a hash of their key) resolved and manifests read
    // since the previous pass survive the next one, the rest is dropped (see CatalogPolicy), as
    // chunks are. Unused in a pinned store.
    private ConcurrentDictionary<ulong, byte> _recentNames = new();
    private ConcurrentDictionary<ManifestId, byte> _recentManifests = new();

    // ---- manifests ----

    /// <summary>Stores a manifest, split into parts of at most 1 MiB so that catalog pages stay small.</summary>
    public void WriteManifest(Manifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ThrowIfDisposed();
        var encoded = manifest.ToBytes();
        EnsureRoom(encoded.Length);
        Span<byte> key = stackalloc byte[1 + ManifestId.Size + 4];
        for (int part = 0, offset = 0; offset < encoded.Length || part == 0; part++, offset += ManifestPartSize)
        {
            WriteManifestKey(key, manifest.Id, part);
            _catalog.Upsert(key, encoded.AsSpan(offset, Math.Min(ManifestPartSize, encoded.Length - offset)));
        }

        NoteWritten();
    }

    /// <summary>Reads and verifies a manifest; null if the store does not hold it.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Corrupt"/> if it does not verify.</exception>
    public ValueTask<Manifest?> ReadManifestAsync(ManifestId id, CancellationToken cancellationToken = default) =>
        ReadManifestAsync(id, noteUse: true, cancellationToken);

    /// <summary>Reads and verifies a manifest; <paramref name="noteUse"/> says whether a cache counts it as used (a pass reading them all does not).</summary>
    private async ValueTask<Manifest?> ReadManifestAsync(ManifestId id, bool noteUse, CancellationToken cancellationToken)
    {
        var key = new byte[1 + ManifestId.Size + 4];
        WriteManifestKey(key, id, 0);
        var (found, first, _) = await _catalog.ReadAsync(key, new ReadInput { Mode = ReadMode.Allocate }, cancellationToken).ConfigureAwait(false);
        if (!found)
        {
            return null;
        }

        if (noteUse)
        {
            NoteManifestUsed(id);
        }

        if (!Manifest.TryReadEncodedLength(first.Allocated, out int total))
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"Manifest {id} in {Directory} has a malformed header.");
        }

        var encoded = new byte[total];
        int filled = Math.Min(total, first.Allocated!.Length);
        first.Allocated.AsSpan(0, filled).CopyTo(encoded);
        for (int part = 1; filled < total; part++)
        {
            WriteManifestKey(key, id, part);
            var (partFound, output, _) = await _catalog.ReadAsync(key, new ReadInput { Mode = ReadMode.CopyToDestination, Destination = encoded.AsMemory(filled) }, cancellationToken).ConfigureAwait(false);
            if (!partFound || !output.Copied || output.Length == 0)
            {
                return null; // a part was reclaimed: the manifest is gone, not corrupt
            }

            filled += output.Length;
        }

        return Manifest.Parse(encoded, id);
    }

    private static void WriteManifestKey(Span<byte> key, ManifestId id, int part)
    {
        key[0] = ManifestTag;
        id.Write(key[1..]);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(key[(1 + ManifestId.Size)..], part);
    }

    // ---- bindings ----

    /// <summary>The current binding of <paramref name="name"/>, or null if it was never bound. Tombstones are returned (check <see cref="Binding.IsBound"/>).</summary>
    public async ValueTask<Binding?> ResolveAsync(string name, CancellationToken cancellationToken = default)
    {
        var key = NameKey(name);
        var binding = await ReadBindingAsync(key, cancellationToken).ConfigureAwait(false);
        if (binding is not null)
        {
            NoteNameUsed(key);
        }

        return binding;
    }

    private async ValueTask<Binding?> ReadBindingAsync(byte[] nameKey, CancellationToken cancellationToken)
    {
        var (found, output, _) = await _catalog.ReadAsync(nameKey, new ReadInput { Mode = ReadMode.Allocate }, cancellationToken).ConfigureAwait(false);
        return found ? Binding.Read(output.Allocated) : null;
    }

    /// <summary>
    /// Counts <paramref name="name"/> as resolved now, as <see cref="ResolveAsync"/> does: a cache
    /// keeps the bindings resolved since its previous pass (for a caller that answered from a copy
    /// of its own).
    /// </summary>
    public void NoteNameUsed(string name)
    {
        if (Mode == StoreMode.Cache)
        {
            NoteNameUsed(NameKey(name));
        }
    }

    private void NoteNameUsed(ReadOnlySpan<byte> nameKey)
    {
        if (Mode == StoreMode.Cache)
        {
            _recentNames.TryAdd(XxHash3.Hash64(nameKey), 0);
        }
    }

    private void NoteManifestUsed(ManifestId id)
    {
        if (Mode == StoreMode.Cache)
        {
            _recentManifests.TryAdd(id, 0);
        }
    }

    /// <summary>Binds <paramref name="name"/> to <paramref name="manifestId"/> with the next version.</summary>
    public async ValueTask<Binding> BindAsync(string name, ManifestId manifestId, CancellationToken cancellationToken = default) =>
        (await BindChangeAsync(name, manifestId, cancellationToken).ConfigureAwait(false)).Binding;

    /// <summary>As <see cref="BindAsync(string, ManifestId, CancellationToken)"/>, with the change's number (0 in a store that numbers none).</summary>
    public ValueTask<(Binding Binding, long Sequence)> BindChangeAsync(string name, ManifestId manifestId, CancellationToken cancellationToken = default) =>
        RebindAsync(name, previous => new Binding(manifestId, (previous?.Version ?? 0) + 1, IsBound: true), restored: 0, cancellationToken);

    /// <summary>
    /// Binds <paramref name="name"/> to <paramref name="manifestId"/> with the next version, expiring
    /// at <paramref name="expiresUnixMs"/> (0: never), if <paramref name="conditions"/> hold for its
    /// current binding (checked under the name's lock, with the write: of two binds that require the
    /// same version, one wins). <c>Changed</c> is false when <see cref="BindConditions.IfChanged"/>
    /// kept the current binding, which is returned.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Conflict"/> when a condition does not hold; nothing is written.</exception>
    public async ValueTask<(Binding Binding, bool Changed, long Sequence)> BindAsync(string name, ManifestId manifestId, BindConditions conditions, long expiresUnixMs, long nowUnixMs, CancellationToken cancellationToken = default)
    {
        bool changed = true;
        var (binding, sequence) = await RebindAsync(
            name,
            previous =>
            {
                var next = conditions.Next(name, previous, manifestId, expiresUnixMs, nowUnixMs);
                changed = next != previous;
                return next;
            },
            restored: 0,
            cancellationToken).ConfigureAwait(false);
        return (binding, changed, sequence);
    }

    /// <summary>
    /// Unbinds <paramref name="name"/> as <see cref="RemoveAsync"/> does, if it is still bound at
    /// <paramref name="version"/> with an expiry at or before <paramref name="nowUnixMs"/>; returns the
    /// tombstone and the change's number, or null when it was rebound or removed meanwhile.
    /// </summary>
    public async ValueTask<(Binding Binding, long Sequence)?> ExpireAsync(string name, long version, long nowUnixMs, CancellationToken cancellationToken = default)
    {
        bool expired = false;
        var tombstone = await RebindAsync(
            name,
            previous =>
            {
                expired = previous is { IsBound: true, Expires: true } p && p.Version == version && p.ExpiresUnixMs <= nowUnixMs;
                return expired ? new Binding(default, previous!.Value.Version + 1, IsBound: false) : previous ?? default;
            },
            restored: 0,
            cancellationToken).ConfigureAwait(false);
        return expired ? tombstone : null;
    }

    /// <summary>Binds <paramref name="name"/> to the given binding if its version is newer than the current one (a relay caching its parent's bindings).</summary>
    public async ValueTask<Binding> BindIfNewerAsync(string name, Binding binding, CancellationToken cancellationToken = default) =>
        (await RebindAsync(name, previous => previous is { } p && p.Version >= binding.Version ? p : binding, restored: 0, cancellationToken).ConfigureAwait(false)).Binding;

    /// <summary>Unbinds <paramref name="name"/>, leaving a tombstone; returns whether it was bound.</summary>
    public async ValueTask<bool> UnbindAsync(string name, CancellationToken cancellationToken = default) =>
        await RemoveAsync(name, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>Unbinds <paramref name="name"/>, leaving a tombstone; returns the tombstone, or null if the name was not bound.</summary>
    public async ValueTask<Binding?> RemoveAsync(string name, CancellationToken cancellationToken = default) =>
        (await RemoveChangeAsync(name, cancellationToken).ConfigureAwait(false))?.Binding;

    /// <summary>As <see cref="RemoveAsync"/>, with the change's number (0 in a store that numbers none).</summary>
    public async ValueTask<(Binding Binding, long Sequence)?> RemoveChangeAsync(string name, CancellationToken cancellationToken = default)
    {
        bool wasBound = false;
        var tombstone = await RebindAsync(
            name,
            previous =>
            {
                wasBound = previous is { IsBound: true };
                return wasBound ? new Binding(default, previous!.Value.Version + 1, IsBound: false) : previous ?? default;
            },
            restored: 0,
            cancellationToken).ConfigureAwait(false);
        return wasBound ? tombstone : null;
    }

    /// <summary>All current bindings (tombstones included), read from the catalog.</summary>
    public List<(string Name, Binding Binding)> ListBindings()
    {
        var result = new List<(string, Binding)>();
        foreach (var (key, value) in _catalog.ReadLatest(NameTag))
        {
            result.Add((Encoding.UTF8.GetString(key.AsSpan(1)), Binding.Read(value)));
        }

        return result;
    }

    /// <summary>
    /// Journal replay: binds <paramref name="name"/> as <paramref name="binding"/> if newer, and
    /// keeps the change under the number it had (<paramref name="sequence"/>; 0 for a record of a
    /// build that numbered none, which is numbered now).
    /// </summary>
    private ValueTask<(Binding Binding, long Sequence)> RestoreBindingAsync(string name, Binding binding, long sequence) =>
        RebindAsync(name, previous => previous is { } p && p.Version >= binding.Version ? p : binding, sequence, CancellationToken.None);

    /// <summary>
    /// Writes the binding <paramref name="next"/> makes of the current one, under the name's lock;
    /// a pinned store numbers the change (<paramref name="restored"/>: the number it had, in a replay).
    /// Returns the binding and the change's number (0 when nothing changed or nothing is numbered).
    /// </summary>
    private async ValueTask<(Binding Binding, long Sequence)> RebindAsync(string name, Func<Binding?, Binding> next, long restored, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var gate = _nameLocks[(int)((uint)StringComparer.Ordinal.GetHashCode(name) % (uint)_nameLocks.Length)];
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        ManifestId? unbound = null;
        long sequence = 0;
        try
        {
            var key = NameKey(name);
            var previous = await ReadBindingAsync(key, cancellationToken).ConfigureAwait(false);
            var binding = next(previous);
            if (binding != previous && binding.Version > 0)
            {
                if (binding.IsBound && Mode == StoreMode.Pinned)
                {
                    await WaitForCommitToBindAsync(cancellationToken).ConfigureAwait(false);
                }

                if (previous is { IsBound: true } replaced && (!binding.IsBound || replaced.ManifestId != binding.ManifestId))
                {
                    unbound = replaced.ManifestId;
                    Interlocked.Increment(ref _unboundSinceReclaim);
                }

                var value = binding.ToBytes();
                if (unbound is { } old && Mode == StoreMode.Pinned)
                {
                    // Until a catalog checkpoint holds this write, a crash recovers the name bound to
                    // the old manifest: passes keep it. Listed as being unbound before the write (a
                    // pass that reads the new binding finds it listed), then tagged with the catalog
                    // checkpoints started, read after the write (a later one holds the write).
                    _unbinding.AddOrUpdate(old, 1, static (_, count) => count + 1);
                    try
                    {
                        _catalog.Upsert(key, value);
                        _unboundNotDurable[old] = Interlocked.Read(ref _catalogCheckpointsStarted);
                    }
                    finally
                    {
                        Release(_unbinding, old);
                    }
                }
                else
                {
                    _catalog.Upsert(key, value);
                }

                NoteBindingWritten(name, binding.IsBound);
                if (NumbersChanges)
                {
                    sequence = NumberChange(name, previous, binding, restored);
                }
            }
            else if (restored > 0 && NumbersChanges)
            {
                // Replayed over a binding as new or newer: the number stays used all the same.
                RestoreSequence(restored);
            }

            return (binding, sequence);
        }
        finally
        {
            gate.Release();
            if (unbound is { } m)
            {
                await NoteUnboundAsync(m).ConfigureAwait(false);
            }
        }
    }

    private static byte[] NameKey(string name)
    {
        var key = new byte[1 + Encoding.UTF8.GetByteCount(name)];
        key[0] = NameTag;
        Encoding.UTF8.GetBytes(name, key.AsSpan(1));
        return key;
    }
}
