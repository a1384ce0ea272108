using System.Runtime.InteropServices;

namespace OmniStore.Storage.Internal;

/// <summary>
/// How much disk a store's files take: the blocks the file system allocated to them (<c>statx</c>),
/// not their lengths. A log segment's length says how far FASTER may address it; its blocks say
/// what it holds, since space is reserved ahead of writes and released below the log's begin
/// address by punching holes that keep the length (docs/storage.md, "Reclaiming space").
/// Elsewhere than on Linux, the files' lengths.
/// </summary>
internal static partial class StoreDiskUsage
{
    /// <summary>Bytes allocated to every file under <paramref name="directory"/> (0 if it does not exist).</summary>
    public static long AllocatedBytes(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return 0;
        }

        long total = 0;
        foreach (string path in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            total += AllocatedBytesOf(path);
        }

        return total;
    }

    /// <summary>Bytes allocated to one file; 0 if it vanished (a segment removed meanwhile).</summary>
    public static long AllocatedBytesOf(string path)
    {
        if (OperatingSystem.IsLinux())
        {
            Span<byte> buffer = stackalloc byte[StatxSize];
            if (Statx(AtCurrentDirectory, path, AtSymlinkNoFollow, StatxBlocks, ref MemoryMarshal.GetReference(buffer)) == 0)
            {
                // struct statx is the same on every architecture: stx_blocks (512-byte units) at offset 48.
                return (long)BitConverter.ToUInt64(buffer[StatxBlocksOffset..]) * 512;
            }

            return 0;
        }

        try
        {
            return new FileInfo(path).Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private const int AtCurrentDirectory = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBlocks = 0x400;
    private const int StatxSize = 256;
    private const int StatxBlocksOffset = 48;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int directoryFd, string path, int flags, uint mask, ref byte buffer);
}
