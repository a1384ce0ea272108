namespace OmniStore.Cli;

/// <summary>
/// Reads the shared secret of a tree from a file (<c>--secret-file</c>). The secret is the file's
/// bytes without trailing whitespace, so <c>echo secret &gt; file</c> and an editor's final newline
/// give the same secret as <c>printf secret</c>. An empty secret is refused: it would look like
/// protection and be none.
/// </summary>
internal static class SecretFile
{
    /// <summary>Secrets are read whole into memory; a bigger file is a mistake (a wrong path), not a key.</summary>
    private const long MaxLength = 64 * 1024;

    /// <summary>Group and other permission bits that let someone else read the file.</summary>
    private const UnixFileMode ReadableByOthers = UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>
    /// Reads the secret in <paramref name="path"/>. Warns on stderr when group or others may read the
    /// file (Unix), because anyone who can read it can join the tree.
    /// </summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>: the file is empty (or only whitespace) or too large.</exception>
    public static byte[] Read(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new IOException($"The secret file '{path}' does not exist.");
        }

        if (info.Length > MaxLength)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The secret file '{path}' holds {info.Length} bytes; a secret is at most {MaxLength}. Is it the right file?");
        }

        if (!OperatingSystem.IsWindows() && (info.UnixFileMode & ReadableByOthers) != 0)
        {
            CommandFailure.Warn($"the secret file '{path}' can be read by other users (mode {Convert.ToString((int)info.UnixFileMode, 8)}); chmod 600 it");
        }

        var bytes = File.ReadAllBytes(path);
        int length = bytes.Length;
        while (length > 0 && IsWhitespace(bytes[length - 1]))
        {
            length--;
        }

        if (length == 0)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The secret file '{path}' is empty: put a secret in it, for example with: head -c 32 /dev/urandom | base64 > {path}");
        }

        return bytes.AsSpan(0, length).ToArray();
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';
}
