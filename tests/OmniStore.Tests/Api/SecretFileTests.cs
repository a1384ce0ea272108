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
        Assert.Equal("s3cret"u8.ToArray(), SecretFile.FromEnvironment(Variables(Write("a", "s3cret\n"))));
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
