namespace OmniStore.Tests.Infrastructure;

/// <summary>Damages a store on disk as a failing disk would: one byte of a chunk, where it sits in the chunk log's files.</summary>
internal static class StoreDamage
{
    /// <summary>Flips one byte of <paramref name="data"/> in the chunk log of the store in <paramref name="storeDirectory"/>.</summary>
    public static void FlipByteOf(string storeDirectory, byte[] data)
    {
        var marker = data.AsSpan(1000, 64).ToArray();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(storeDirectory, "data"), "log.*"))
        {
            var bytes = File.ReadAllBytes(file);
            int at = bytes.AsSpan().IndexOf(marker);
            if (at >= 0)
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                stream.Position = at + 10;
                stream.WriteByte((byte)~bytes[at + 10]);
                return;
            }
        }

        Assert.Fail("the chunk's bytes were not found in the log files");
    }
}
