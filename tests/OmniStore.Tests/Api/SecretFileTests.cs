using OmniStore.Internal;
using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Tree;

namespace OmniStore.Tests.Api;

/// <summary>The shared secret a client reads from the file <c>$OMNISTORE_SECRET_FILE</c> names.</summary>
public sealed class SecretFileTests : IDisposable
{
    private readonly TempDirectory _dir = new("omnistore-secret");

    public void Dispose() => _dir.Dispose();

    private string Write(string name, string content)
    {
        string path = Path.Combine(_dir.Path, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static Func<string, string?> Variables(string? secretFile) =>
        name => name == SecretFile.Variable ? secretFile : null;

    [Fact]
    public void Unset_MeansNoSecret()
    {
        Assert.Null(SecretFile.FromEnvironment(Variables(null)));
        Assert.Null(SecretFile.FromEnvironment(Variables("  ")));
    }

    [Fact]
    public void ASecretFile_GivesItsBytesWithoutTrailingWhitespace()
    {
        Assert.Equal("sixteen bytes s3cret"u8.ToArray(), SecretFile.FromEnvironment(Variables(Write("a", "sixteen bytes s3cret\n"))));
    }

    /// <summary>A secret of a few bytes falls to guessing: refused, and the message says how to make a good one.</summary>
    [Fact]
    public void AShortSecret_IsRefused_SayingHowToMakeOne()
    {
        string path = Write("short", "s3cret-fifteen!\n"); // 15 bytes
        var error = Assert.Throws<OmniStoreException>(() => SecretFile.Read(path));
        Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
        Assert.Contains("holds a 15-byte secret; a secret is at least 16 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("omnistore secret new", error.Message, StringComparison.Ordinal);
        Assert.Equal(16, SecretFile.Read(Write("sixteen", "s3cret-sixteen!!")).Length);
    }

    [Fact]
    public void AShortSecret_InTheOptions_IsRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => new OmniStoreOptions { SharedSecret = "s3cret"u8.ToArray() }.Validate());
        Assert.Contains("The SharedSecret is 6 bytes; a secret is at least 16 bytes", error.Message, StringComparison.Ordinal);
        var node = Assert.Throws<ArgumentException>(() => new OmniStore.Node.TreeNodeOptions { Listen = [new OmniStore.Transport.NodeAddress("tcp", "127.0.0.1", 0)], DataDirectory = _dir.Path, Secret = "s3cret"u8.ToArray() }.Validate("options"));
        Assert.Contains("The Secret is 6 bytes", node.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("empty")]
    public void AMissingOrEmptyFile_IsAnInvalidArgument_NotAConnectionWithoutSecret(string kind)
    {
        string path = kind == "missing" ? Path.Combine(_dir.Path, "nowhere") : Write("empty", " \n");
        var error = Assert.Throws<OmniStoreException>(() => SecretFile.FromEnvironment(Variables(path)));
        Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSecretFromTheFile_JoinsATreeThatUsesIt()
    {
        var ct = TestContext.Current.CancellationToken;
        byte[] secret = "correct horse battery staple"u8.ToArray();
        await using var cluster = await TreeCluster.StartAsync(relays: 0, secret: secret);
        string uri = cluster.Root.Address.ToString();
        var fromFile = SecretFile.FromEnvironment(Variables(Write("tree.secret", "correct horse battery staple\n")));
        await using var client = await OmniStoreClient.ConnectAsync(uri, new OmniStoreOptions { SharedSecret = fromFile }, ct);
        await client.PutAsync("x", new byte[] { 1, 2 }, ct);
        Assert.Equal([1, 2], await client.GetAsync("x", ct));
    }
}
