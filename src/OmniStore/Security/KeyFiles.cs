namespace OmniStore.Security;

/// <summary>Private key files: only their owner may read them, as ssh insists for its keys.</summary>
internal static class KeyFiles
{
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

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
