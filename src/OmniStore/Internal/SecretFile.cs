namespace OmniStore.Internal;

/// <summary>
/// Reads the shared secret of a tree from a file (the relay's and the CLI's <c>--secret-file</c>,
/// the library's <c>$OMNISTORE_SECRET_FILE</c>). The secret is the file's bytes without trailing
/// whitespace, so <c>echo secret &gt; file</c> and an editor's final newline give the same secret
/// as <c>printf secret</c>. An empty secret is refused: it would look like protection and be none;
/// so is one shorter than <see cref="MinLength"/> bytes, which falls to guessing.
/// </summary>
internal static class SecretFile
{
    /// <summary>The environment variable naming the secret file of a client that reads its settings from the environment.</summary>
    public const string Variable = "OMNISTORE_SECRET_FILE";

    /// <summary>
    /// The shortest secret taken: 16 bytes. A shorter one (a word, a PIN) falls to guessing online,
    /// a handshake per guess; <c>omnistore secret new</c> writes 32 random bytes.
    /// </summary>
    public const int MinLength = 16;

    /// <summary>Why <paramref name="secret"/> is refused as <paramref name="what"/>, or null.</summary>
    public static string? Problem(ReadOnlySpan<byte> secret, string what) => secret.Length switch
    {
        0 => $"An empty {what} would look like protection and be none",
        < MinLength => $"The {what} is {secret.Length} bytes; a secret is at least {MinLength} bytes (a short one can be guessed): make one with 'omnistore secret new FILE' or 'head -c 32 /dev/urandom | base64'",
        _ => null,
    };

    /// <summary>Secrets are read whole into memory; a bigger file is a mistake (a wrong path), not a key.</summary>
    private const long MaxLength = 64 * 1024;

    /// <summary>Group and other permission bits that let someone else read the file.</summary>
    private const UnixFileMode ReadableByOthers = UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>
    /// Reads the secret in <paramref name="path"/>. Calls <paramref name="warn"/> when group or
    /// others may read the file (Unix), because anyone who can read it can join the tree.
    /// </summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>: the file is empty (or only whitespace) or too large.</exception>
    public static byte[] Read(string path, Action<string>? warn = null)
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

        if (warn is not null && !OperatingSystem.IsWindows() && (info.UnixFileMode & ReadableByOthers) != 0)
        {
            warn($"the secret file '{path}' can be read by other users (mode {Convert.ToString((int)info.UnixFileMode, 8)}); chmod 600 it");
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

        if (length < MinLength)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The secret file '{path}' holds a {length}-byte secret; a secret is at least {MinLength} bytes (a short one can be guessed): write a new one with: omnistore secret new {path} --force");
        }

        return bytes.AsSpan(0, length).ToArray();
    }

    /// <summary>
    /// The secret in the file <c>$OMNISTORE_SECRET_FILE</c> names, or null when it is unset. An
    /// unreadable file is an <see cref="OmniStoreError.InvalidArgument"/>: a client told to use a
    /// secret must not quietly connect without one.
    /// </summary>
    public static byte[]? FromEnvironment(Func<string, string?>? getVariable = null)
    {
        string? path = (getVariable ?? Environment.GetEnvironmentVariable)(Variable);
        if (string.IsNullOrWhiteSpace(path))
        {
            return null;
        }

        try
        {
            return Read(path.Trim());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"${Variable} names '{path}', which cannot be read: {ex.Message}", ex);
        }
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';
}
