using System.Buffers.Binary;
using System.Runtime.InteropServices;
using OmniStore.Content;

namespace OmniStore.Cli.Demo;

/// <summary>
/// The demo's data set, deterministic for a given size and chunk size (so a second run on the same
/// store finds everything already there). Duplicates are whole chunks, aligned on chunk
/// boundaries, because that is the granularity at which the store deduplicates:
/// <list type="bullet">
/// <item>the original: a first half of distinct chunks, then a second half in which every other
/// chunk repeats one of the first half;</item>
/// <item>a variant half as long: every other chunk copied from the original, the rest new.</item>
/// </list>
/// The demo does not trust this description: it measures what the store actually kept.
/// </summary>
internal static class DemoDataSet
{
    public const string OriginalName = "demo/original";
    public const string VariantName = "demo/variant";

    private const ulong OriginalSeeds = 1UL << 32;
    private const ulong VariantSeeds = 2UL << 32;

    public static IReadOnlyList<DemoObject> Create(long size, int chunkSize)
    {
        var original = new byte[size];
        var layout = new ChunkLayout(size, chunkSize);
        int firstHalf = (layout.ChunkCount + 1) / 2;
        for (int i = 0; i < layout.ChunkCount; i++)
        {
            var chunk = Slice(original, layout, i);
            int k = i - firstHalf;
            if (k >= 0 && k % 2 == 1)
            {
                CopyChunk(original, layout, k, chunk);
            }
            else
            {
                FillPseudoRandom(chunk, OriginalSeeds + (ulong)i);
            }
        }

        var variant = new byte[size / 2];
        var variantLayout = new ChunkLayout(variant.Length, chunkSize);
        for (int j = 0; j < variantLayout.ChunkCount; j++)
        {
            var chunk = Slice(variant, variantLayout, j);
            if (j % 2 == 0)
            {
                CopyChunk(original, layout, j, chunk);
            }
            else
            {
                FillPseudoRandom(chunk, VariantSeeds + (ulong)j);
            }
        }

        return [Describe(OriginalName, original, layout), Describe(VariantName, variant, variantLayout)];
    }

    private static DemoObject Describe(string name, byte[] data, ChunkLayout layout)
    {
        var ids = new ChunkId[layout.ChunkCount];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = ChunkId.Compute(Slice(data, layout, i));
        }

        return new DemoObject(name, data, ids, XxHash3.Hash128(data));
    }

    private static Span<byte> Slice(byte[] data, ChunkLayout layout, int index) =>
        data.AsSpan((int)layout.OffsetOf(index), layout.LengthOf(index));

    private static void CopyChunk(byte[] source, ChunkLayout sourceLayout, int sourceIndex, Span<byte> destination)
    {
        var from = Slice(source, sourceLayout, sourceIndex);
        from[..Math.Min(from.Length, destination.Length)].CopyTo(destination);
    }

    /// <summary>SplitMix64: fast, deterministic, and incompressible enough that no chunk repeats by chance.</summary>
    internal static void FillPseudoRandom(Span<byte> destination, ulong seed)
    {
        ulong state = seed;
        var words = MemoryMarshal.Cast<byte, ulong>(destination);
        for (int i = 0; i < words.Length; i++)
        {
            words[i] = Next(ref state);
        }

        var tail = destination[(words.Length * sizeof(ulong))..];
        if (!tail.IsEmpty)
        {
            Span<byte> last = stackalloc byte[sizeof(ulong)];
            BinaryPrimitives.WriteUInt64LittleEndian(last, Next(ref state));
            last[..tail.Length].CopyTo(tail);
        }
    }

    private static ulong Next(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
