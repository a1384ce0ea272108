using System.Text;
using OmniStore.Protocol;
using OmniStore.Storage.Internal;

namespace OmniStore.Node;

/// <summary>
/// A root's or relay's key, kept in <c>node.key</c> in its data directory so that its node id
/// survives restarts (docs/protocol.md, "Node identity"). The first start writes it; every later
/// start reads it, and a file that cannot be read or is damaged stops the node: a new key would be
/// a new id, which the node's peers would refuse or not recognise.
/// </summary>
internal static class NodeIdentityFile
{
    /// <summary>The file's name in the data directory.</summary>
    public const string FileName = "node.key";

    /// <summary>Group and other permission bits: none of them is set on a key this writes.</summary>
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// The key in <paramref name="directory"/>, made and written first if there is none. Calls
    /// <paramref name="warn"/> when others than the owner may read or change the file (Unix).
    /// </summary>
    /// <exception cref="OmniStoreException">
    /// <see cref="OmniStoreError.Corrupt"/>: the file is damaged (not a key file, a key of another
    /// kind, a key that does not match its id line); <see cref="OmniStoreError.Unavailable"/>: it
    /// cannot be read or written.
    /// </exception>
    public static NodeIdentity LoadOrCreate(string directory, Action<string>? warn = null)
    {
        string path = Path.Combine(directory, FileName);
        try
        {
            return File.Exists(path) ? Load(path, warn) : Create(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The node key '{path}' cannot be read or written: {ex.Message}", ex);
        }
    }

    private static NodeIdentity Load(string path, Action<string>? warn)
    {
        string text;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            // Bounded before anything is read: a wrong file (a store segment, say) is not read whole.
            if (file.Length > NodeIdentity.MaxTextLength)
            {
                throw Damaged(path, $"it holds {file.Length} bytes; a key file has at most {NodeIdentity.MaxTextLength}");
            }

            var bytes = new byte[file.Length];
            file.ReadExactly(bytes);
            try
            {
                text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw Damaged(path, "it is not text");
            }
        }

        if (!NodeIdentity.TryReadKeyFile(text, out var identity, out string? problem))
        {
            throw Damaged(path, problem);
        }

        if (warn is not null && !OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & GroupOrOther) != 0)
        {
            warn($"the node key '{path}' can be read or changed by other users (mode {Convert.ToString((int)File.GetUnixFileMode(path), 8)}): whoever reads it can answer to this node's id; chmod 600 it");
        }

        return identity;
    }

    /// <summary>
    /// Makes a key and writes it durably, readable by its owner only: to a temporary file, fsynced,
    /// renamed into place without replacing anything, and the directory fsynced. Two processes
    /// that race here (the store's lock normally prevents it) end with the one key that won.
    /// </summary>
    private static NodeIdentity Create(string path)
    {
        var identity = NodeIdentity.Create();
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            File.Delete(temporary); // left by a crash: created anew, so with the mode below
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var file = new FileStream(temporary, options))
            {
                file.Write(Encoding.UTF8.GetBytes(identity.ToKeyFileText()));
                file.Flush(flushToDisk: true);
            }

            try
            {
                File.Move(temporary, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                identity.Dispose();
                return Load(path, warn: null);
            }

            DurableFile.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            return identity;
        }
        catch
        {
            identity.Dispose();
            throw;
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static OmniStoreException Damaged(string path, string problem) =>
        new(OmniStoreError.Corrupt, $"The node key '{path}' is damaged and was not loaded: {problem}. Restore it from a backup to keep this node's id, or delete it to give the node a new id (peers that expect the old one will refuse it).");
}
