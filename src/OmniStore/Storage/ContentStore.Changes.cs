using System.Buffers.Binary;
using System.Text;
using OmniStore.Storage.Internal;

namespace OmniStore.Storage;

/// <summary>One numbered change of a binding, as the change history holds it (docs/watch.md, "Watch").</summary>
internal readonly record struct StoredChange(long Sequence, ObjectChangeKind Kind, string Name, Binding Binding);

/// <summary>
/// The change sequence of a pinned store (the root's; docs/watch.md, "Sequence" and "History"):
/// every change of a binding gets the next number, under the name's lock, in the same catalog as
/// the binding; the last <see cref="ContentStoreOptions.ChangeHistory"/> changes stay, keyed by
/// number, and the last number is kept under a key of its own. A journal record carries its
/// change's number, so a replay after a crash numbers nothing twice.
/// </summary>
internal sealed partial class ContentStore
{
    private const byte ChangeTag = (byte)'Q';
    private static readonly byte[] LastSequenceKey = "S"u8.ToArray();
    private readonly Lock _sequenceGate = new();
    private long _lastSequence = -1; // read from the catalog at the first use

    /// <summary>Whether this store numbers its changes: a pinned store with a history.</summary>
    public bool NumbersChanges => Mode == StoreMode.Pinned && _options.ChangeHistory > 0;

    /// <summary>The number of the last change (0 before the first).</summary>
    public long LastSequence
    {
        get
        {
            lock (_sequenceGate)
            {
                return LoadLastSequence();
            }
        }
    }

    /// <summary>The first number the history may still hold: a watch from before it has missed changes.</summary>
    public long OldestSequence => Math.Max(1, LastSequence - _options.ChangeHistory + 1);

    /// <summary>
    /// The changes numbered after <paramref name="after"/>, up to <paramref name="until"/> and at
    /// most <paramref name="max"/> of them, in order; a number with no change (the history dropped
    /// it, or a crash lost the change before it was durable) is skipped.
    /// </summary>
    public List<StoredChange> ReadChanges(long after, long until, int max)
    {
        ThrowIfDisposed();
        var changes = new List<StoredChange>(Math.Min(max, 256));
        Span<byte> key = stackalloc byte[9];
        for (long sequence = Math.Max(after + 1, OldestSequence); sequence <= until && changes.Count < max; sequence++)
        {
            WriteChangeKey(key, sequence);
            var (found, output, _) = _catalog.Read(key, new ReadInput { Mode = ReadMode.Allocate });
            if (found && DecodeChange(sequence, output.Allocated) is { } change)
            {
                changes.Add(change);
            }
        }

        return changes;
    }

    /// <summary>Called under the name's lock when a binding changes: numbers the change and keeps it in the history.</summary>
    private long NumberChange(string name, Binding? previous, Binding binding, long restored)
    {
        var kind = !binding.IsBound ? ObjectChangeKind.Deleted : previous is { IsBound: true } ? ObjectChangeKind.Rebound : ObjectChangeKind.Bound;
        var value = EncodeChange(kind, name, binding);
        Span<byte> key = stackalloc byte[9];
        Span<byte> last = stackalloc byte[8];
        lock (_sequenceGate)
        {
            long current = LoadLastSequence();
            long sequence = restored > 0 ? restored : current + 1;
            WriteChangeKey(key, sequence);
            _catalog.Upsert(key, value);
            if (sequence > current)
            {
                _lastSequence = sequence;
                BinaryPrimitives.WriteInt64LittleEndian(last, sequence);
                _catalog.Upsert(LastSequenceKey, last);

                // The history keeps the last ChangeHistory numbers: the one that falls out goes now,
                // so it never grows past them.
                long dropped = sequence - _options.ChangeHistory;
                if (dropped >= 1)
                {
                    WriteChangeKey(key, dropped);
                    _catalog.Delete(key);
                }
            }

            return sequence;
        }
    }

    /// <summary>A replayed change's number, whose binding is already there: the counter is not left below it.</summary>
    private void RestoreSequence(long sequence)
    {
        Span<byte> last = stackalloc byte[8];
        lock (_sequenceGate)
        {
            if (sequence > LoadLastSequence())
            {
                _lastSequence = sequence;
                BinaryPrimitives.WriteInt64LittleEndian(last, sequence);
                _catalog.Upsert(LastSequenceKey, last);
            }
        }
    }

    private long LoadLastSequence()
    {
        if (_lastSequence < 0)
        {
            var (found, output, _) = _catalog.Read(LastSequenceKey, new ReadInput { Mode = ReadMode.Allocate });
            _lastSequence = found && output.Allocated is { Length: 8 } bytes ? Math.Max(0, BinaryPrimitives.ReadInt64LittleEndian(bytes)) : 0;
        }

        return _lastSequence;
    }

    private static void WriteChangeKey(Span<byte> key, long sequence)
    {
        key[0] = ChangeTag;
        BinaryPrimitives.WriteInt64BigEndian(key[1..], sequence);
    }

    // A change record: kind (1 byte; bit 7 set when the binding carries its expiry), the binding
    // (Binding.EncodedSize bytes, or EncodedSizeWithExpiry with bit 7), then the UTF-8 name.
    private const byte WithExpiry = 0x80;

    private static byte[] EncodeChange(ObjectChangeKind kind, string name, Binding binding)
    {
        int bindingLength = binding.EncodedLength;
        var value = new byte[1 + bindingLength + Encoding.UTF8.GetByteCount(name)];
        value[0] = (byte)((byte)kind | (binding.Expires ? WithExpiry : 0));
        binding.Write(value.AsSpan(1, bindingLength));
        Encoding.UTF8.GetBytes(name, value.AsSpan(1 + bindingLength));
        return value;
    }

    private static StoredChange? DecodeChange(long sequence, byte[]? value)
    {
        int bindingLength = value is { Length: > 0 } && (value[0] & WithExpiry) != 0 ? Binding.EncodedSizeWithExpiry : Binding.EncodedSize;
        int kind = value is { Length: > 0 } ? value[0] & ~WithExpiry : -1;
        if (value is null || value.Length <= 1 + bindingLength || kind is < (byte)ObjectChangeKind.Bound or > (byte)ObjectChangeKind.Deleted)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"Malformed change record {sequence}.");
        }

        return new StoredChange(sequence, (ObjectChangeKind)kind, Encoding.UTF8.GetString(value.AsSpan(1 + bindingLength)), Binding.Read(value.AsSpan(1, bindingLength)));
    }
}
