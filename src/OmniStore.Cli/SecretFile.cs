namespace OmniStore.Cli;

/// <summary>Reads a <c>--secret-file</c> (see <see cref="OmniStore.Internal.SecretFile"/>), warning on stderr when others may read it.</summary>
internal static class SecretFile
{
    /// <inheritdoc cref="OmniStore.Internal.SecretFile.Read"/>
    public static byte[] Read(string path) => OmniStore.Internal.SecretFile.Read(path, CommandFailure.Warn);
}
