namespace OmniStore.Cli.Demo;

/// <summary>
/// Bytes a store occupies in its directory (the sum of its files' lengths). The demo reads it
/// around each Put to show what the store really wrote, without relying on the store's internals.
/// </summary>
internal static class StoreFootprint
{
    public static long Measure(string directory)
    {
        long total = 0;
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 }))
        {
            total += file.Length;
        }

        return total;
    }
}
