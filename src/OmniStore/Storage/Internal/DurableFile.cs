using System.Runtime.InteropServices;

namespace OmniStore.Storage.Internal;

/// <summary>Small files replaced atomically: a temporary file renamed over the target, so a reader sees the old content or the new, never a mix.</summary>
internal static partial class DurableFile
{
    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="bytes"/>. When <paramref name="durable"/>,
    /// the content reaches the disk before the rename and the rename before the call returns (the
    /// directory is fsynced too), so a machine crash leaves the old file or the new one.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes, bool durable)
    {
        string temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: durable);
        }

        File.Move(temporary, path, overwrite: true);
        if (durable)
        {
            SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        }
    }

    /// <summary>
    /// Overwrites <paramref name="path"/> in place with <paramref name="bytes"/> (for files written in
    /// turn, whose readers tell a write cut short by its checksum); when <paramref name="durable"/>, on
    /// disk before the call returns. Only a new file needs its directory fsynced too.
    /// </summary>
    public static void Overwrite(string path, ReadOnlySpan<byte> bytes, bool durable)
    {
        bool existed = File.Exists(path);
        using (var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None))
        {
            file.Write(bytes);
            file.SetLength(bytes.Length);
            file.Flush(flushToDisk: durable);
        }

        if (durable && !existed)
        {
            SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        }
    }

    /// <summary>Fsyncs a directory, making the creations, renames and deletions in it durable (Linux; a no-op elsewhere).</summary>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // O_RDONLY opens a directory too (O_DIRECTORY's value differs between architectures).
        const int ReadOnly = 0, CloseOnExec = 0x80000;
        int fd = Open(directory, ReadOnly | CloseOnExec);
        if (fd < 0)
        {
            return; // best effort: the file itself is already on disk
        }

        _ = Fsync(fd);
        _ = Close(fd);
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
