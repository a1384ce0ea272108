using System.Buffers;
using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Protocol;
using static OmniStore.Tests.Fuzzing.FuzzInvariantException;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// Parses an input with <see cref="FrameParser.TryRead"/> as one segment, as one segment per byte
/// and in ragged segments, and checks that all three give the same frames, that every call keeps
/// the parser's contract (a frame is exactly its header's length, nothing is consumed otherwise),
/// and that no call allocates more than a problem description.
/// </summary>
internal static class FrameParserHarness
{
    private const long MaxAllocationPerCall = 1024;

    public static string Run(byte[] input)
    {
        var whole = Parse(new ReadOnlySequence<byte>(input), input);
        var bytes = Parse(FrameStreams.Segments(input, static _ => 1), input);
        var ragged = new Random((int)XxHash3.Hash64(input));
        var pieces = Parse(FrameStreams.Segments(input, _ => ragged.Next(1, 40)), input);
        Check(whole.SequenceEqual(bytes), $"one segment and one-byte segments parse differently: [{string.Join(' ', whole)}] vs [{string.Join(' ', bytes)}]");
        Check(whole.SequenceEqual(pieces), $"one segment and ragged segments parse differently: [{string.Join(' ', whole)}] vs [{string.Join(' ', pieces)}]");

        // The features: how the parse ended, how many frames came before, and their kinds.
        var kinds = whole.Take(whole.Count - 1).Select(f => string.Join('/', f.Split('/')[..2])).Distinct();
        return string.Join('|', kinds.Prepend($"frames:{DecoderTargets.Bucket(whole.Count - 1)}").Prepend(Fuzzer.Shape(whole[^1])));
    }

    private static List<string> Parse(ReadOnlySequence<byte> buffer, byte[] input)
    {
        var results = new List<string>();
        long offset = 0;
        Span<byte> written = stackalloc byte[ProtocolLimits.HeaderSize];
        for (int calls = 0; calls <= (input.Length / ProtocolLimits.HeaderSize) + 1; calls++)
        {
            var before = buffer;
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            var status = FrameParser.TryRead(ref buffer, out var header, out var payload, out string? problem);
            long cost = GC.GetAllocatedBytesForCurrentThread() - allocated;
            Check(cost <= MaxAllocationPerCall, $"TryRead allocated {cost} bytes in one call ({status})");
            switch (status)
            {
                case FrameParseStatus.Frame:
                    long total = ProtocolLimits.HeaderSize + (long)header.PayloadLength;
                    Check(header.PayloadLength is >= 0 and <= ProtocolLimits.MaxFramePayload, $"a frame of {header.PayloadLength} bytes");
                    Check(payload.Length == header.PayloadLength, "the payload has the header's length");
                    Check(buffer.Length == before.Length - total && buffer.Start.Equals(before.GetPosition(total)), "a frame is consumed exactly");
                    Check(payload.ToArray().AsSpan().SequenceEqual(input.AsSpan((int)offset + ProtocolLimits.HeaderSize, header.PayloadLength)), "the payload is the frame's bytes");
                    header.Write(written);
                    Check(written.SequenceEqual(input.AsSpan((int)offset, ProtocolLimits.HeaderSize)), "a frame's header re-encodes to its bytes");
                    results.Add($"{header.Type}/{header.Flags}/{header.Stream}/{header.PayloadLength}");
                    offset += total;
                    continue;
                case FrameParseStatus.NeedMoreData:
                    Check(buffer.Length == before.Length && buffer.Start.Equals(before.Start), "nothing is consumed when more data is needed");
                    if (before.Length >= ProtocolLimits.HeaderSize)
                    {
                        // The header of the arriving frame is there, and valid: only its payload is missing.
                        Check(Enum.IsDefined(header.Type) && header.PayloadLength is >= 0 and <= ProtocolLimits.MaxFramePayload, "a partial frame's header is reported");
                        Check(before.Length < ProtocolLimits.HeaderSize + (long)header.PayloadLength, "more data is needed only while the payload is incomplete");
                        Check(BinaryPrimitives.ReadInt32LittleEndian(input.AsSpan((int)offset)) == header.PayloadLength + 8, "the reported header is the arriving frame's");
                    }
                    else
                    {
                        Check(header == default, "no header before 12 bytes have arrived");
                    }

                    results.Add(before.Length >= ProtocolLimits.HeaderSize ? "partial" : "need");
                    return results;
                case FrameParseStatus.Malformed:
                    Check(problem is { Length: > 0 }, "a malformed frame says why");
                    Check(buffer.Length == before.Length && buffer.Start.Equals(before.Start), "nothing is consumed when a frame is malformed");
                    results.Add($"malformed: {problem}");
                    return results;
                default:
                    Check(false, $"unknown status {status}");
                    break;
            }
        }

        Check(false, "the parser went on after consuming the whole input");
        return results;
    }
}
