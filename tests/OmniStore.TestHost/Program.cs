using System.Globalization;
using OmniStore;
using OmniStore.Content;

// crash-writer DIR SEED: puts, re-puts and deletes objects in the store at DIR until killed.
// After each operation returns it prints one line, so the parent knows what was acknowledged:
//   PUT <name> <xxh3-128 of content> <version>      DEL <name> <version-or-0>
// Before each operation it prints "BEGIN <name> <hash>" so in-flight content is known too.
if (args is not ["crash-writer", var directory, var seedText])
{
    Console.Error.WriteLine("usage: OmniStore.TestHost crash-writer DIR SEED");
    return 2;
}

var random = new Random(int.Parse(seedText, CultureInfo.InvariantCulture));
using var client = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = directory, ChunkSize = ChunkLayout.MinChunkSize });
Console.Out.WriteLine("READY");
Console.Out.Flush();
for (int i = 0; i < 100_000; i++)
{
    string name = $"obj-{random.Next(12)}";
    if (random.Next(8) == 0)
    {
        Console.Out.WriteLine($"BEGINDEL {name}");
        Console.Out.Flush();
        bool removed = await client.DeleteAsync(name);
        Console.Out.WriteLine($"DEL {name} {(removed ? 1 : 0)}");
        Console.Out.Flush();
        continue;
    }

    // Sizes around chunk boundaries, sometimes reusing chunks of a shared prefix (dedup paths).
    // Objects up to 1 MiB are made durable by the journal, larger ones by a commit: both paths.
    int size = random.Next(8) switch
    {
        0 or 1 => random.Next(0, 100),
        2 or 3 => ChunkLayout.MinChunkSize * random.Next(1, 4),
        4 => random.Next(17, 24) * ChunkLayout.MinChunkSize,
        _ => random.Next(1, 6 * ChunkLayout.MinChunkSize),
    };
    var data = new byte[size];
    random.NextBytes(data);
    if (random.Next(3) == 0 && size > ChunkLayout.MinChunkSize)
    {
        data.AsSpan(0, ChunkLayout.MinChunkSize).Fill(0x5A);
    }

    string hash = XxHash3.Hash128(data).ToString("x32", CultureInfo.InvariantCulture);
    Console.Out.WriteLine($"BEGIN {name} {hash}");
    Console.Out.Flush();
    await client.PutAsync(name, data);
    var info = await client.StatAsync(name);
    Console.Out.WriteLine($"PUT {name} {hash} {info?.Version}");
    Console.Out.Flush();
}

return 0;
