namespace OmniStore.Security;

/// <summary>Private key files: only their owner may read them, as ssh insists for its keys.</summary>
internal static class KeyFiles
{
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Owner read and write: a private key's mode.</summary>
    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Owner read and write, everyone read: a certificate's mode.</summary>
    public const UnixFileMode Public = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>
    /// Writes <paramref name="text"/> (ASCII: PEM) to a new file created with <paramref name="mode"/>,
    /// so a key is never readable by others, not even for a moment.
    /// </summary>
    /// <exception cref="IOException">The file exists (it is never replaced), or cannot be written.</exception>
    public static void WriteNew(string path, string text, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }

        using var stream = new FileStream(path, options);
        stream.Write(System.Text.Encoding.ASCII.GetBytes(text));
    }

    /// <summary>Refuses <paramref name="path"/> when group or others may read or change it (Unix).</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>, naming the file and its mode.</exception>
    public static void CheckPrivate(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var mode = File.GetUnixFileMode(path);
        if ((mode & GroupOrOther) != 0)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The private key '{path}' may be read or changed by other users (mode {Convert.ToString((int)mode, 8)}): chmod 600 it, and make a new key if others could read it.");
        }
    }
}
