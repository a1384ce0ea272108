using OmniStore.Content;

namespace OmniStore.Cli.Demo;

/// <summary>One object of the demo's data set: its name, bytes, and the chunk ids its bytes hash to.</summary>
internal sealed record DemoObject(string Name, byte[] Data, IReadOnlyList<ChunkId> ChunkIds, UInt128 Hash);
