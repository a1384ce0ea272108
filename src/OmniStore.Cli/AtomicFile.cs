namespace OmniStore.Cli;

/// <summary>
/// Writes a file through a temporary file in the same directory, renamed over the target only when
/// everything was written and flushed: a failed or interrupted write never leaves a partial file.
/// </summary>
internal static class AtomicFile
{
    public static async Task WriteAsync(string path, Func<Stream, Task> write)
    {
        string fullPath = Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
        {
            throw new IOException($"'{path}' is a directory.");
        }

        // A device, a FIFO or a socket (/dev/null, a named pipe) is written in place: renaming a
        // temporary file over it would replace the device node itself.
        if (File.Exists(fullPath) && !UnixFileType.IsRegular(fullPath))
        {
            var direct = new FileStream(fullPath, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Write, Share = FileShare.ReadWrite, BufferSize = 0 });
            await using (direct)
            {
                await write(direct);
            }

            return;
        }

        string directory = Path.GetDirectoryName(fullPath) ?? ".";
        string temporary = Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var stream = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0 });
            await using (stream)
            {
                await write(stream);

                // Durable before the rename, so that after a crash the name holds old or new content, not a hole.
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
