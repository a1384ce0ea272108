using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Protocol;

namespace OmniStore.Node.Requests;

/// <summary>GET_CHUNK's payload: a chunk id and the length the asker expects (docs/protocol.md, "GET_CHUNK").</summary>
internal static class ChunkRequests
{
    public static byte[] Encode(ChunkId id, int length)
    {
        var payload = new byte[ChunkId.Size + 4];
        id.Write(payload);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(ChunkId.Size), length);
        return payload;
    }

    public static (ChunkId Id, int Length) Read(ReadOnlySpan<byte> payload)
    {
        if (payload.Length != ChunkId.Size + 4)
        {
            throw HelloMessage.Malformed("GET_CHUNK carries a 16-byte id and a length");
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(payload[ChunkId.Size..]);
        if (length is < 0 or > ChunkLayout.MaxChunkSize)
        {
            throw HelloMessage.Malformed($"chunk length {length} is out of range");
        }

        return (ChunkId.Read(payload), length);
    }

    /// <summary>
    /// A chunk request names the chunk's length (so that the answer's buffer is sized once); a
    /// request whose length is not the stored chunk's is refused, never answered with more or fewer
    /// bytes than the chunk has.
    /// </summary>
    public static void CheckLength(ChunkId id, int requested, int actual)
    {
        if (requested != actual)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Chunk {id} has {actual} bytes; the request asked for {requested}.");
        }
    }
}
