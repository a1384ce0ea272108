using System.Buffers.Binary;
using System.Text;
using OmniStore.Content;

namespace OmniStore.Protocol;

/// <summary>A WATCH request (protocol version 8; docs/watch.md, "Watch").</summary>
/// <param name="From">The changes after this sequence number are wanted; <see cref="ListMessages.FromNow"/> for those after the watch starts.</param>
/// <param name="Prefix">The names watched start with it; empty for every name.</param>
internal readonly record struct WatchRequest(long From, string Prefix);

/// <summary>What a CHANGE says: the kinds of <see cref="ObjectChangeKind"/>, and the watch's position.</summary>
internal enum ChangeKind : byte
{
    Reset = 0,
    Bound = 1,
    Rebound = 2,
    Deleted = 3,

    /// <summary>
    /// No change under the prefix, only the sequence the watch has reached (after a replay, at the
    /// start of a watch from now, and after many changes elsewhere), so a watcher resumes from there.
    /// </summary>
    Position = 4,
}

/// <summary>One CHANGE: its sequence, its kind, and for a change of a name the entry (a deletion's: the tombstone's version, no manifest, zero sizes).</summary>
internal sealed record ChangeMessage(long Sequence, ChangeKind Kind, ObjectInfo? Entry)
{
    public static ChangeMessage Deleted(long sequence, string name, long version) =>
        new(sequence, ChangeKind.Deleted, new ObjectInfo(name, 0, 0, 0, version, default));
}

/// <summary>WATCH and CHANGE (protocol version 8; docs/watch.md, "Watch").</summary>
internal static partial class ListMessages
{
    /// <summary>WATCH's <c>from</c> for the changes after the watch starts.</summary>
    public const long FromNow = -1;

    /// <summary>The most WATCHes one connection may have open at a node.</summary>
    public const int MaxWatchesPerConnection = 16;

    /// <summary>The most changes queued for one watcher before it is ended as too slow.</summary>
    public const int MaxQueuedChanges = 4096;

    /// <summary>A CHANGE's bytes before its entry: sequence and kind.</summary>
    private const int ChangeHeaderSize = 8 + 1;

    public static byte[] EncodeWatch(WatchRequest request)
    {
        var prefix = Encoding.UTF8.GetBytes(request.Prefix);
        var bytes = new byte[8 + 2 + prefix.Length];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, request.From);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)prefix.Length);
        prefix.CopyTo(bytes, 10);
        return bytes;
    }

    /// <summary>Reads a WATCH: <c>from</c> is -1 or a sequence, the prefix as LIST's.</summary>
    public static WatchRequest DecodeWatch(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        long from = reader.Int64();
        if (from < FromNow)
        {
            throw HelloMessage.Malformed($"a WATCH from sequence {from}");
        }

        string prefix = DecodePrefix(ref reader, "prefix");
        reader.End();
        return new WatchRequest(from, prefix);
    }

    public static byte[] EncodeChange(ChangeMessage change)
    {
        if (change.Entry is not { } entry)
        {
            var head = new byte[ChangeHeaderSize];
            WriteChangeHeader(head, change);
            return head;
        }

        int nameLength = Encoding.UTF8.GetByteCount(entry.Name);
        var bytes = new byte[ChangeHeaderSize + EntryFixedSize + nameLength];
        WriteChangeHeader(bytes, change);
        WriteEntry(bytes.AsSpan(ChangeHeaderSize), entry, nameLength);
        return bytes;
    }

    private static void WriteChangeHeader(Span<byte> bytes, ChangeMessage change)
    {
        BinaryPrimitives.WriteInt64LittleEndian(bytes, change.Sequence);
        bytes[8] = (byte)change.Kind;
    }

    /// <summary>
    /// Reads the CHANGEs of one WATCH, in order, each checked against the watch and the one before:
    /// a known kind, a name under the prefix, a sequence above the one before (a position or reset
    /// not below it), a deletion with no manifest, nothing trailing.
    /// </summary>
    internal sealed class ChangeReader(WatchRequest asked)
    {
        /// <summary>The sequence of the last CHANGE read (the request's <c>from</c> before the first).</summary>
        public long Last { get; private set; } = asked.From;

        public ChangeMessage Read(ReadOnlySpan<byte> payload)
        {
            var reader = new PayloadReader(payload);
            long sequence = reader.Int64();
            byte kind = reader.Byte();
            if (kind > (byte)ChangeKind.Position)
            {
                throw HelloMessage.Malformed($"a CHANGE of unknown kind {kind}");
            }

            ObjectInfo? entry = null;
            if (kind is (byte)ChangeKind.Reset or (byte)ChangeKind.Position)
            {
                if (sequence < 0 || (kind == (byte)ChangeKind.Position && sequence < Last))
                {
                    throw HelloMessage.Malformed($"a CHANGE at sequence {sequence} after {Last}");
                }
            }
            else
            {
                if (sequence <= Last || sequence <= 0)
                {
                    throw HelloMessage.Malformed($"a CHANGE at sequence {sequence} after {Last}: sequences must grow");
                }

                entry = ReadEntry(ref reader, "CHANGE", asked.Prefix);
                if (kind == (byte)ChangeKind.Deleted && (entry.ManifestId != default || entry.Length != 0 || entry.ChunkSize != 0 || entry.ChunkCount != 0))
                {
                    throw HelloMessage.Malformed("a CHANGE that deletes a name and names an object");
                }
            }

            reader.End();
            Last = sequence;
            return new ChangeMessage(sequence, (ChangeKind)kind, entry);
        }
    }
}
