using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Protocol;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// Byte-level mutations of one input, all drawn from one seeded <see cref="Random"/> so that a seed
/// replays the same inputs. A mutation stacks 1 to 8 operations (bit flips, interesting bytes and
/// integers, lengths near the input's own size and the protocol's limits, range insert, delete,
/// duplicate and overwrite, splices with other inputs, dictionary tokens, truncation); inputs that
/// are frame streams also get frame-aware operations (see <see cref="FrameMutations"/>).
/// </summary>
internal sealed class Mutator
{
    private static readonly byte[] InterestingBytes = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x7e, 0x81, 0x20, 0x0a, 0x2f, 0xc0, 0xed];

    private static readonly long[] InterestingIntegers =
    [
        0, 1, -1, 2, 7, 8, 12, 16, 20, 24, 32, 64, 127, 128, 255, 256, 1023, 1024, 1025, 4096,
        short.MaxValue, short.MinValue, ushort.MaxValue, ushort.MaxValue + 1,
        int.MaxValue, int.MinValue, int.MaxValue - 1, int.MaxValue - 7, int.MaxValue - 8, uint.MaxValue,
        long.MaxValue, long.MinValue, 1L << 32, 1L << 40,
        ChunkLayout.MinChunkSize - 1, ChunkLayout.MinChunkSize, ChunkLayout.MinChunkSize + 1,
        ChunkLayout.MaxChunkSize - 1, ChunkLayout.MaxChunkSize, ChunkLayout.MaxChunkSize + 1, ChunkLayout.MaxChunkSize + ChunkMessage.HeaderSize,
        ChunkLayout.MaxChunkCount - 1, ChunkLayout.MaxChunkCount, ChunkLayout.MaxChunkCount + 1,
        ProtocolLimits.MaxFramePayload - 1, ProtocolLimits.MaxFramePayload, ProtocolLimits.MaxFramePayload + 1,
        ProtocolLimits.MaxFramePayload + 8, ProtocolLimits.MaxFramePayload + 9,
        ProtocolLimits.MaxMessage - 1, ProtocolLimits.MaxMessage, ProtocolLimits.MaxMessage + 1,
        ChunkLayout.MaxLength(ChunkLayout.MinChunkSize), ChunkLayout.MaxLength(ChunkLayout.MaxChunkSize), ChunkLayout.MaxLength(ChunkLayout.MaxChunkSize) + 1,
        ObjectName.MaxByteLength, ObjectName.MaxByteLength + 1,
    ];

    private readonly Random _random;
    private readonly IReadOnlyList<byte[]> _dictionary;
    private readonly int _maxLength;
    private readonly bool _frameAware;

    public Mutator(Random random, IReadOnlyList<byte[]> dictionary, int maxLength, bool frameAware)
    {
        _random = random;
        _dictionary = dictionary;
        _maxLength = maxLength;
        _frameAware = frameAware;
    }

    public Random Random => _random;

    /// <summary>A mutated copy of <paramref name="input"/>; <paramref name="other"/> supplies a second input for splices.</summary>
    public byte[] Mutate(byte[] input, Func<byte[]> other)
    {
        var bytes = new List<byte>(input);
        int operations = 1 << _random.Next(4); // 1, 2, 4 or 8 stacked operations: mostly small steps, sometimes a leap
        for (int i = 0; i < operations; i++)
        {
            if (_frameAware && _random.Next(2) == 0)
            {
                bytes = new List<byte>(FrameMutations.Mutate(this, [.. bytes], other));
            }
            else
            {
                MutateOnce(bytes, other);
            }

            if (bytes.Count > _maxLength)
            {
                bytes.RemoveRange(_maxLength, bytes.Count - _maxLength);
            }
        }

        return [.. bytes];
    }

    /// <summary>One byte-level operation, applied in place.</summary>
    public void MutateOnce(List<byte> bytes, Func<byte[]> other)
    {
        switch (_random.Next(16))
        {
            case 0 when bytes.Count > 0:
                bytes[At(bytes)] ^= (byte)(1 << _random.Next(8));
                break;
            case 1 when bytes.Count > 0:
                bytes[At(bytes)] = InterestingBytes[_random.Next(InterestingBytes.Length)];
                break;
            case 2 when bytes.Count > 0:
                bytes[At(bytes)] = (byte)_random.Next(256);
                break;
            case 3 or 4 when bytes.Count > 0:
                WriteInteger(bytes, At(bytes), InterestingInteger(bytes.Count));
                break;
            case 5 when bytes.Count > 0:
                // A length that points just before, at or just past the end of the input.
                int at = At(bytes);
                WriteInteger(bytes, at, bytes.Count - at + _random.Next(-16, 17));
                break;
            case 6 when bytes.Count > 0:
                AddToInteger(bytes, At(bytes), _random.Next(-35, 36));
                break;
            case 7:
                bytes.InsertRange(At(bytes, inclusiveEnd: true), RandomBytes(SmallLength()));
                break;
            case 8 when bytes.Count > 0:
                {
                    int start = At(bytes);
                    bytes.RemoveRange(start, Math.Min(SmallLength(), bytes.Count - start));
                    break;
                }

            case 9 when bytes.Count > 0:
                {
                    // Duplicate a range, sometimes many times (repeated fields, repeated frames).
                    int start = At(bytes);
                    int length = Math.Min(SmallLength(), bytes.Count - start);
                    var range = bytes.GetRange(start, length);
                    int copies = _random.Next(4) == 0 ? _random.Next(2, 64) : 1;
                    int to = At(bytes, inclusiveEnd: true);
                    for (int c = 0; c < copies && bytes.Count < _maxLength; c++)
                    {
                        bytes.InsertRange(to, range);
                    }

                    break;
                }

            case 10 when bytes.Count > 1:
                {
                    // Overwrite a range with a copy of another range of the same input.
                    int from = At(bytes);
                    int length = Math.Min(SmallLength(), bytes.Count - from);
                    int to = _random.Next(bytes.Count - length + 1);
                    var range = bytes.GetRange(from, length);
                    for (int i = 0; i < length; i++)
                    {
                        bytes[to + i] = range[i];
                    }

                    break;
                }

            case 11:
                {
                    // Splice: a prefix of this input and a suffix of another one.
                    var donor = other();
                    int keep = At(bytes, inclusiveEnd: true);
                    int from = donor.Length == 0 ? 0 : _random.Next(donor.Length + 1);
                    bytes.RemoveRange(keep, bytes.Count - keep);
                    bytes.AddRange(donor.AsSpan(from).ToArray());
                    break;
                }

            case 12:
                // Append or insert a whole other input (for streams: more frames).
                bytes.InsertRange(_random.Next(2) == 0 ? bytes.Count : At(bytes, inclusiveEnd: true), other());
                break;
            case 13 when _dictionary.Count > 0:
                {
                    var token = _dictionary[_random.Next(_dictionary.Count)];
                    int to = At(bytes, inclusiveEnd: true);
                    if (_random.Next(2) == 0 && to + token.Length <= bytes.Count)
                    {
                        for (int i = 0; i < token.Length; i++)
                        {
                            bytes[to + i] = token[i];
                        }
                    }
                    else
                    {
                        bytes.InsertRange(to, token);
                    }

                    break;
                }

            case 14 when bytes.Count > 0:
                {
                    int cut = At(bytes);
                    bytes.RemoveRange(cut, bytes.Count - cut);
                    break;
                }

            default:
                if (bytes.Count > 0)
                {
                    bytes[At(bytes)] ^= 0xff;
                }
                else
                {
                    bytes.AddRange(RandomBytes(SmallLength()));
                }

                break;
        }
    }

    public long InterestingInteger(int inputLength) => _random.Next(8) switch
    {
        0 => inputLength + _random.Next(-24, 25),
        1 => _random.NextInt64(),
        _ => InterestingIntegers[_random.Next(InterestingIntegers.Length)],
    };

    /// <summary>Writes <paramref name="value"/> as a 1, 2, 4 or 8-byte integer, little-endian (sometimes big-endian), clipped to the input.</summary>
    public void WriteInteger(List<byte> bytes, int at, long value)
    {
        int size = 1 << _random.Next(4);
        Span<byte> encoded = stackalloc byte[8];
        if (_random.Next(8) == 0)
        {
            BinaryPrimitives.WriteInt64BigEndian(encoded, value << (64 - (8 * size)));
        }
        else
        {
            BinaryPrimitives.WriteInt64LittleEndian(encoded, value);
        }

        for (int i = 0; i < size && at + i < bytes.Count; i++)
        {
            bytes[at + i] = encoded[i];
        }
    }

    private void AddToInteger(List<byte> bytes, int at, int delta)
    {
        if (at + 4 <= bytes.Count && _random.Next(2) == 0)
        {
            Span<byte> word = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            BinaryPrimitives.WriteInt32LittleEndian(word, BinaryPrimitives.ReadInt32LittleEndian(word) + delta);
            for (int i = 0; i < 4; i++)
            {
                bytes[at + i] = word[i];
            }
        }
        else
        {
            bytes[at] = (byte)(bytes[at] + delta);
        }
    }

    public byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        if (_random.Next(3) == 0)
        {
            Array.Fill(bytes, InterestingBytes[_random.Next(InterestingBytes.Length)]);
        }
        else
        {
            _random.NextBytes(bytes);
        }

        return bytes;
    }

    /// <summary>Mostly a few bytes, sometimes up to a few KiB.</summary>
    public int SmallLength() => _random.Next(8) == 0 ? _random.Next(1, 4097) : _random.Next(1, 33);

    private int At(List<byte> bytes, bool inclusiveEnd = false) => _random.Next(bytes.Count + (inclusiveEnd ? 1 : 0));
}
