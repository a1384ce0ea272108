using System.Buffers.Binary;
using OmniStore.Protocol;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// Mutations of a frame stream that keep (most of) it parseable, so that mutated payloads reach
/// the message decoders and the connection's assembly logic instead of failing at the first frame
/// header: change one frame's type, flags, stream or payload (its length field follows), duplicate,
/// drop, swap or split frames, change a chunk message's declared length, add control frames, or
/// end the stream inside a frame.
/// </summary>
internal static class FrameMutations
{
    private static readonly FrameType[] Types = Enum.GetValues<FrameType>();

    private sealed record RawFrame(byte Type, byte Flags, ushort Reserved, uint Stream, byte[] Payload);

    public static byte[] Mutate(Mutator mutator, byte[] input, Func<byte[]> other)
    {
        var random = mutator.Random;
        var (frames, tail) = Split(input);
        if (frames.Count == 0)
        {
            frames.Add(new RawFrame((byte)FrameType.Resolve, (byte)FrameFlags.End, 0, 1, "a/b"u8.ToArray()));
        }

        int i = random.Next(frames.Count);
        var frame = frames[i];
        switch (random.Next(12))
        {
            case 0:
            case 1:
                {
                    var payload = new List<byte>(frame.Payload);
                    for (int n = random.Next(1, 4); n > 0; n--)
                    {
                        mutator.MutateOnce(payload, other);
                    }

                    frames[i] = frame with { Payload = payload.Count > ProtocolLimits.MaxFramePayload ? [.. payload.GetRange(0, ProtocolLimits.MaxFramePayload)] : [.. payload] };
                    break;
                }

            case 2:
                frames[i] = frame with { Type = random.Next(8) == 0 ? (byte)random.Next(256) : (byte)Types[random.Next(Types.Length)] };
                break;
            case 3:
                frames[i] = frame with { Flags = random.Next(8) == 0 ? (byte)random.Next(256) : (byte)(frame.Flags ^ (byte)FrameFlags.End) };
                break;
            case 4:
                frames[i] = frame with
                {
                    Stream = random.Next(6) switch
                    {
                        0 => 0,
                        1 => (uint)random.Next(1, 5),
                        2 => frames[random.Next(frames.Count)].Stream,
                        3 => uint.MaxValue - (uint)random.Next(2),
                        4 => frame.Stream + 2,
                        _ => (uint)random.NextInt64(uint.MaxValue + 1L),
                    },
                };
                break;
            case 5:
                {
                    // Copies of a frame, often as new requests (the next stream ids of the same
                    // parity): enough of them to go past the limit of requests in flight.
                    int copies = random.Next(3) == 0 ? random.Next(2, 300) : 1;
                    bool newStreams = random.Next(2) == 0;
                    for (int c = 1; c <= copies; c++)
                    {
                        frames.Insert(i + c, frame with { Stream = newStreams ? frame.Stream + (uint)(2 * c) : frame.Stream });
                    }

                    break;
                }

            case 6:
                frames.RemoveAt(i);
                break;
            case 7:
                {
                    int j = random.Next(frames.Count);
                    (frames[i], frames[j]) = (frames[j], frames[i]);
                    break;
                }

            case 8:
                {
                    // Split the payload into two frames of the same message: only the second one ends it.
                    int cut = random.Next(frame.Payload.Length + 1);
                    frames[i] = frame with { Flags = (byte)(frame.Flags & ~(byte)FrameFlags.End), Payload = frame.Payload[..cut] };
                    frames.Insert(i + 1, frame with { Payload = frame.Payload[cut..] });
                    break;
                }

            case 9:
                {
                    var (donated, _) = Split(other());
                    if (donated.Count > 0)
                    {
                        int from = random.Next(donated.Count);
                        frames.InsertRange(random.Next(frames.Count + 1), donated.GetRange(from, random.Next(1, donated.Count - from + 1)));
                    }

                    break;
                }

            case 10 when frame.Payload.Length >= ChunkMessage.HeaderSize:
                {
                    // The declared length of a chunk message (CHUNK, PUT_CHUNK, PUSH_CHUNK).
                    var payload = (byte[])frame.Payload.Clone();
                    BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(16), (int)mutator.InterestingInteger(payload.Length - ChunkMessage.HeaderSize));
                    frames[i] = frame with { Payload = payload };
                    break;
                }

            default:
                frames.Insert(random.Next(frames.Count + 1), ControlFrame(mutator, frame.Stream));
                break;
        }

        if (random.Next(16) == 0)
        {
            // End the stream inside a frame: a header announcing more than follows.
            var header = new byte[ProtocolLimits.HeaderSize];
            var last = frames.Count > 0 ? frames[^1] : new RawFrame((byte)FrameType.PutChunk, 0, 0, 1, []);
            new FrameHeader((FrameType)last.Type, FrameFlags.None, last.Stream, random.Next(1, ProtocolLimits.MaxFramePayload + 1)).Write(header);
            tail = [.. header, .. mutator.RandomBytes(random.Next(0, 64))];
        }

        return Join(frames, tail);
    }

    private static RawFrame ControlFrame(Mutator mutator, uint stream)
    {
        var random = mutator.Random;
        return random.Next(5) switch
        {
            0 => new RawFrame((byte)FrameType.Ping, (byte)FrameFlags.End, 0, 0, mutator.RandomBytes(8)),
            1 => new RawFrame((byte)FrameType.Pong, (byte)FrameFlags.End, 0, 0, mutator.RandomBytes(8)),
            2 => new RawFrame((byte)FrameType.GoAway, (byte)FrameFlags.End, 0, 0, []),
            3 => new RawFrame((byte)FrameType.Cancel, (byte)FrameFlags.End, 0, stream, []),
            _ => new RawFrame((byte)FrameType.Error, (byte)FrameFlags.End, 0, random.Next(2) == 0 ? 0 : stream, ErrorMessage.Encode((OmniStoreError)random.Next(0, 16), "fuzz")),
        };
    }

    /// <summary>The whole frames at the start of <paramref name="input"/> (whatever their header says otherwise) and the bytes after them.</summary>
    private static (List<RawFrame> Frames, byte[] Tail) Split(byte[] input)
    {
        var frames = new List<RawFrame>();
        int at = 0;
        while (input.Length - at >= ProtocolLimits.HeaderSize)
        {
            var span = input.AsSpan(at);
            int length = BinaryPrimitives.ReadInt32LittleEndian(span);
            if (length < 8 || length - 8 > span.Length - ProtocolLimits.HeaderSize)
            {
                break;
            }

            frames.Add(new RawFrame(span[4], span[5], BinaryPrimitives.ReadUInt16LittleEndian(span[6..]), BinaryPrimitives.ReadUInt32LittleEndian(span[8..]), span.Slice(ProtocolLimits.HeaderSize, length - 8).ToArray()));
            at += 4 + length;
        }

        return (frames, input[at..]);
    }

    private static byte[] Join(List<RawFrame> frames, byte[] tail)
    {
        var bytes = new List<byte>();
        Span<byte> header = stackalloc byte[ProtocolLimits.HeaderSize];
        foreach (var frame in frames)
        {
            BinaryPrimitives.WriteInt32LittleEndian(header, frame.Payload.Length + 8);
            header[4] = frame.Type;
            header[5] = frame.Flags;
            BinaryPrimitives.WriteUInt16LittleEndian(header[6..], frame.Reserved);
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], frame.Stream);
            bytes.AddRange(header);
            bytes.AddRange(frame.Payload);
        }

        bytes.AddRange(tail);
        return [.. bytes];
    }
}
