namespace OmniStore.Tests.Infrastructure;

/// <summary>A store's files copied while it is open: what a kill at that moment leaves on the disk.</summary>
internal static class StoreCopy
{
    /// <summary>Copies every file of <paramref name="from"/> to <paramref name="to"/>, but the lock file the open store holds.</summary>
    public static void AsAKillLeavesIt(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var directory in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, directory)));
        }

        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != "lock"))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)), overwrite: true);
        }
    }
}
