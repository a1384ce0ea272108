using System.Buffers.Binary;
using System.Text;
using OmniStore.Content;

namespace OmniStore.Protocol;

/// <summary>
/// The VERIFY exchange (docs/protocol.md, "VERIFY"): the request's flags, the interim
/// VERIFY_PROGRESS answers and the final VERIFY_RESULT. A result is read as hostile: every count is
/// checked against the bytes that carry it before anything is allocated for it.
/// </summary>
internal static class VerifyMessages
{
    /// <summary>VERIFY's flag: repair what a verified copy exists of.</summary>
    public const byte RepairFlag = 1;

    /// <summary>VERIFY_PROGRESS's payload: chunks, bytes, damaged, 8 bytes each.</summary>
    public const int ProgressSize = 24;

    private const int FixedResultSize = (5 * 8) + (3 * 4);

    /// <summary>The longest VERIFY_RESULT: the fixed fields, two full id lists and a full list of the longest names.</summary>
    public const int MaxResultSize = FixedResultSize + (2 * VerifyResult.MaxListed * ChunkId.Size) + (VerifyResult.MaxListed * (2 + ObjectName.MaxByteLength));

    public static byte[] EncodeRequest(bool repair) => [repair ? RepairFlag : (byte)0];

    /// <summary>Whether the VERIFY asks for a repair; anything but one byte with known flags is malformed.</summary>
    public static bool DecodeRequest(ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 1 || (payload[0] & ~RepairFlag) != 0)
        {
            throw HelloMessage.Malformed("VERIFY carries one flags byte (bit 0: repair)");
        }

        return payload[0] == RepairFlag;
    }

    public static byte[] EncodeProgress(VerifyProgress progress)
    {
        var payload = new byte[ProgressSize];
        BinaryPrimitives.WriteInt64LittleEndian(payload, progress.Chunks);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(8), progress.Bytes);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(16), progress.Damaged);
        return payload;
    }

    public static VerifyProgress DecodeProgress(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var progress = new VerifyProgress(Count(ref reader, "chunks"), Count(ref reader, "bytes"), Count(ref reader, "damaged chunks"));
        reader.End();
        return progress;
    }

    /// <summary>The result as sent: each list cut to <see cref="VerifyResult.MaxListed"/>, the counts whole.</summary>
    public static byte[] EncodeResult(VerifyResult result)
    {
        var damaged = result.DamagedChunks.Take(VerifyResult.MaxListed).ToList();
        var repaired = result.RepairedChunks.Take(VerifyResult.MaxListed).ToList();
        var names = result.DamagedObjects.Take(VerifyResult.MaxListed).Select(Encoding.UTF8.GetBytes).ToList();
        var payload = new byte[FixedResultSize + ((damaged.Count + repaired.Count) * ChunkId.Size) + names.Sum(n => 2 + n.Length)];
        var span = payload.AsSpan();
        foreach (long value in (ReadOnlySpan<long>)[result.VerifiedChunks, result.Bytes, result.DamagedChunkCount, result.RepairedChunkCount, result.DamagedObjectCount])
        {
            BinaryPrimitives.WriteInt64LittleEndian(span, value);
            span = span[8..];
        }

        foreach (var ids in (ReadOnlySpan<List<ChunkId>>)[damaged, repaired])
        {
            BinaryPrimitives.WriteInt32LittleEndian(span, ids.Count);
            span = span[4..];
            foreach (var id in ids)
            {
                id.Write(span);
                span = span[ChunkId.Size..];
            }
        }

        BinaryPrimitives.WriteInt32LittleEndian(span, names.Count);
        span = span[4..];
        foreach (var name in names)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)name.Length);
            name.CopyTo(span[2..]);
            span = span[(2 + name.Length)..];
        }

        return payload;
    }

    public static VerifyResult DecodeResult(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        long verified = Count(ref reader, "verified chunks");
        long bytes = Count(ref reader, "bytes");
        long damagedCount = Count(ref reader, "damaged chunks");
        long repairedCount = Count(ref reader, "repaired chunks");
        long objectCount = Count(ref reader, "damaged objects");
        var damaged = ReadIds(ref reader, damagedCount, "damaged chunks");
        var repaired = ReadIds(ref reader, repairedCount, "repaired chunks");
        int listed = Listed(ref reader, objectCount, 2, "damaged objects");
        var names = new List<string>(listed);
        for (int i = 0; i < listed; i++)
        {
            int length = reader.UInt16();
            if (length is 0 or > ObjectName.MaxByteLength)
            {
                throw HelloMessage.Malformed($"a damaged object's name of {length} bytes in VERIFY_RESULT");
            }

            try
            {
                names.Add(Names.Decode(reader.Bytes(length)));
            }
            catch (OmniStoreException ex) when (ex.Error == OmniStoreError.InvalidName)
            {
                throw HelloMessage.Malformed($"a damaged object's name that is none in VERIFY_RESULT ({ex.Message.TrimEnd('.')})");
            }
        }

        reader.End();
        return new VerifyResult(verified, bytes, damaged, names, repaired)
        {
            DamagedChunkCount = damagedCount,
            RepairedChunkCount = repairedCount,
            DamagedObjectCount = objectCount,
        };
    }

    private static List<ChunkId> ReadIds(ref PayloadReader reader, long total, string what)
    {
        int listed = Listed(ref reader, total, ChunkId.Size, what);
        var ids = new List<ChunkId>(listed);
        for (int i = 0; i < listed; i++)
        {
            ids.Add(ChunkId.Read(reader.Bytes(ChunkId.Size)));
        }

        return ids;
    }

    /// <summary>
    /// A list's length, checked before anything is allocated for it: at most the list's cap and its
    /// total, and no more entries than the bytes left could hold at <paramref name="minEntrySize"/> each.
    /// </summary>
    private static int Listed(ref PayloadReader reader, long total, int minEntrySize, string what)
    {
        int listed = reader.Int32();
        if (listed < 0 || listed > VerifyResult.MaxListed || listed > total)
        {
            throw HelloMessage.Malformed($"{listed} {what} listed in VERIFY_RESULT (at most {Math.Min(VerifyResult.MaxListed, total)})");
        }

        if ((long)listed * minEntrySize > reader.Remaining)
        {
            throw HelloMessage.Malformed($"{listed} {what} listed in VERIFY_RESULT, which has {reader.Remaining} bytes left");
        }

        return listed;
    }

    private static long Count(ref PayloadReader reader, string what)
    {
        long value = reader.Int64();
        if (value < 0)
        {
            throw HelloMessage.Malformed($"a count of {what} out of range in a VERIFY answer");
        }

        return value;
    }
}
