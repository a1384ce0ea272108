namespace OmniStore.Cli;

/// <summary>
/// The directory a command keeps a store in: the one its option names, else the default
/// (<c>$OMNISTORE_DATA</c>, else <c>omnistore</c> in the user's local data folder). The default is
/// worked out only when a command opens a store, never to build the help or to parse, so that every
/// command's help and usage errors work with any HOME; and the directory is created then, so that a
/// HOME that cannot hold it (a service account, a container, nobody) fails the command in one line
/// that names the directory and the option that chooses another.
/// </summary>
internal static class StoreDirectory
{
    /// <summary>Where the default is, for option descriptions.</summary>
    public const string DefaultDescription = "$OMNISTORE_DATA, else \"omnistore\" in the user's local data folder";

    /// <summary>
    /// <paramref name="given"/>, else the default with <paramref name="underDefault"/> appended (if
    /// any); creates nothing.
    /// </summary>
    /// <exception cref="IOException">There is no default: no <c>$OMNISTORE_DATA</c> and no home directory.</exception>
    public static string Resolve(string? given, string option, string? underDefault = null)
    {
        if (given is not null)
        {
            return given;
        }

        string directory = OmniStoreOptions.FindDefaultDataDirectory()
            ?? throw new IOException($"there is no default store directory: $OMNISTORE_DATA is not set and the user has no home directory; choose one with {option} DIR.");
        return underDefault is null ? directory : Path.Combine(directory, underDefault);
    }

    /// <summary>
    /// Creates <paramref name="directory"/> (and its parents) unless it exists.
    /// <paramref name="isDefault"/> says whether <paramref name="option"/> was left out.
    /// </summary>
    /// <exception cref="IOException">It cannot be created; one line naming it and <paramref name="option"/>.</exception>
    public static void Create(string directory, string option, bool isDefault)
    {
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            string reason = ex switch
            {
                UnauthorizedAccessException => "permission denied",
                DirectoryNotFoundException => "a part of its path is not a directory",
                _ => ex.Message.TrimEnd('.'),
            };
            throw new IOException(
                isDefault
                    ? $"cannot create the default store directory {directory}: {reason}; choose another with {option} DIR (or $OMNISTORE_DATA)."
                    : $"cannot create the store directory {directory} ({option}): {reason}.",
                ex);
        }
    }
}
