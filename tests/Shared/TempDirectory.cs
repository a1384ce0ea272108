namespace OmniStore.Testing;

/// <summary>A fresh directory under the system temp folder, deleted on dispose. Shared by the test projects.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "omnistore-test")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
