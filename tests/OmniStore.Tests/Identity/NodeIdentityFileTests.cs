using System.Security.Cryptography;
using System.Text;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Testing;
using OmniStore.Transport;

namespace OmniStore.Tests.Identity;

/// <summary>
/// A node's id is its key's, and its key lives in its data directory (docs/protocol.md, "Node
/// identity"): the same id at every start, another for another directory, and a damaged key file
/// stops the node rather than give it a new id without a word.
/// </summary>
public sealed class NodeIdentityFileTests : IDisposable
{
    private readonly TempDirectory _dir = new("omnistore-identity");

    [Fact]
    public async Task ANodeRestartedOnTheSameDataDirectory_KeepsItsId()
    {
        string directory = _dir.Sub("root");
        NodeId first;
        await using (var node = await StartAsync(directory))
        {
            first = node.NodeId;
            Assert.Equal(first.ToString(), node.GetStatus().NodeId);
        }

        await using (var again = await StartAsync(directory))
        {
            Assert.Equal(first, again.NodeId);
        }

        // And it is the id its key gives, as every peer computes it.
        Assert.True(NodeIdentity.TryReadKeyFile(File.ReadAllText(KeyPath(directory)), out var key, out string? problem), problem);
        using (key)
        {
            Assert.Equal(first, key.Id);
            Assert.Equal(first, NodeId.FromPublicKey(key.PublicKey));
        }
    }

    [Fact]
    public async Task NodesOnDifferentDataDirectories_HaveDifferentIds()
    {
        await using var a = await StartAsync(_dir.Sub("a"));
        await using var b = await StartAsync(_dir.Sub("b"));
        Assert.NotEqual(a.NodeId, b.NodeId);
    }

    [Fact]
    public async Task TheKeyFile_IsReadableByItsOwnerOnly_AndNamesTheId()
    {
        string directory = _dir.Sub("root");
        await using var node = await StartAsync(directory);
        string text = await File.ReadAllTextAsync(KeyPath(directory), TestContext.Current.CancellationToken);
        Assert.StartsWith($"{NodeIdentity.IdLinePrefix}{node.NodeId}\n", text, StringComparison.Ordinal);
        Assert.Contains("-----BEGIN PRIVATE KEY-----", text, StringComparison.Ordinal);
        Assert.DoesNotContain(Directory.GetFiles(directory), f => Path.GetFileName(f).StartsWith("node.key.", StringComparison.Ordinal)); // no temporary file left
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KeyPath(directory)));
        }
    }

    public static TheoryData<string> Damages() =>
    [
        "empty", "truncated", "flipped-key-byte", "flipped-id", "no-id-line", "garbage", "public-key", "p384-key", "text-after-key", "too-large", "binary",
    ];

    [Theory]
    [MemberData(nameof(Damages))]
    public async Task ADamagedKeyFile_StopsTheNodeWithCorrupt_AndIsNotReplaced(string damage)
    {
        string directory = _dir.Sub("root");
        NodeId id;
        await using (var node = await StartAsync(directory))
        {
            id = node.NodeId;
        }

        string path = KeyPath(directory);
        var original = File.ReadAllBytes(path);
        var damaged = Damage(original, damage);
        File.WriteAllBytes(path, damaged);

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => StartAsync(directory));
        Assert.Equal(OmniStoreError.Corrupt, error.Error);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("damaged", error.Message, StringComparison.Ordinal);
        Assert.Equal(damaged, File.ReadAllBytes(path)); // left as it was, for its owner to look at

        // The store was released: with its key restored, the node starts with its old id.
        File.WriteAllBytes(path, original);
        await using (var restored = await StartAsync(directory))
        {
            Assert.Equal(id, restored.NodeId);
        }

        // Deleting the key is how a node gets a new id on purpose.
        File.Delete(path);
        await using var fresh = await StartAsync(directory);
        Assert.NotEqual(id, fresh.NodeId);
    }

    [Fact]
    public async Task AKeyPathThatCannotBeWritten_StopsTheNode_WithoutAnId()
    {
        string directory = _dir.Sub("root");
        Directory.CreateDirectory(Path.Combine(directory, NodeIdentityFile.FileName)); // a directory where the key goes
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => StartAsync(directory));
        Assert.Equal(OmniStoreError.Unavailable, error.Error);
        Assert.Contains(NodeIdentityFile.FileName, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AKeyReadableByOthers_IsLoadedWithAWarning()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string directory = _dir.Sub("root");
        Directory.CreateDirectory(directory);
        var warnings = new List<string>();
        using (var created = NodeIdentityFile.LoadOrCreate(directory, warnings.Add))
        {
            Assert.Empty(warnings);
            File.SetUnixFileMode(KeyPath(directory), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            using var loaded = NodeIdentityFile.LoadOrCreate(directory, warnings.Add);
            Assert.Equal(created.Id, loaded.Id);
        }

        var warning = Assert.Single(warnings);
        Assert.Contains("chmod 600", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void TheTextForm_IsThirtyTwoLowerCaseHexDigits_AndParsesBack()
    {
        using var key = NodeIdentity.Create();
        string text = key.Id.ToString();
        Assert.Matches("^[0-9a-f]{32}$", text);
        Assert.Equal(key.Id, NodeId.Parse(text));
        Assert.Equal(key.Id, NodeId.Parse(text.ToUpperInvariant()));
        Assert.Equal(text[..8], key.Id.ToShortString());

        // The binary form is the text's bytes in order: the first 16 bytes of SHA-256 of the key.
        Span<byte> binary = stackalloc byte[NodeId.Size];
        key.Id.Write(binary);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(key.PublicKey).AsSpan(0, NodeId.Size)), Convert.ToHexStringLower(binary));

        foreach (string bad in new[] { "", text[..31], text + "0", "+" + text[1..], " " + text[1..], text[..31] + "g" })
        {
            Assert.False(NodeId.TryParse(bad, out _), bad);
        }
    }

    private static byte[] Damage(byte[] file, string damage)
    {
        string text = Encoding.UTF8.GetString(file);
        int keyStart = text.IndexOf("-----BEGIN", StringComparison.Ordinal);
        string idLine = text[..keyStart];
        switch (damage)
        {
            case "empty":
                return [];
            case "truncated":
                return file[..(file.Length / 2)];
            case "flipped-key-byte":
            {
                // A change that still parses: the private scalar's last base64 digit. Without the id
                // line this would be a new key, and a new id, loaded without a word.
                int at = text.IndexOf('\n', keyStart) + 1 + 56; // the top bits of the scalar's 7th byte
                var chars = text.ToCharArray();
                chars[at] = chars[at] == 'A' ? 'B' : 'A';
                return Encoding.UTF8.GetBytes(chars);
            }

            case "flipped-id":
            {
                var chars = text.ToCharArray();
                int at = NodeIdentity.IdLinePrefix.Length;
                chars[at] = chars[at] == '0' ? '1' : '0';
                return Encoding.UTF8.GetBytes(chars);
            }

            case "no-id-line":
                return Encoding.UTF8.GetBytes(text[keyStart..]);
            case "garbage":
                return Encoding.UTF8.GetBytes(idLine + "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n");
            case "public-key":
            {
                using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                return Encoding.UTF8.GetBytes(idLine + key.ExportSubjectPublicKeyInfoPem() + "\n");
            }

            case "p384-key":
            {
                using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
                return Encoding.UTF8.GetBytes(idLine + key.ExportPkcs8PrivateKeyPem() + "\n");
            }

            case "text-after-key":
                return Encoding.UTF8.GetBytes(text + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
            case "too-large":
                return Encoding.UTF8.GetBytes(text + new string(' ', NodeIdentity.MaxTextLength));
            case "binary":
                return [.. file[..10], 0xff, 0xfe, .. file[10..]];
            default:
                throw new ArgumentOutOfRangeException(nameof(damage));
        }
    }

    private static string KeyPath(string directory) => Path.Combine(directory, NodeIdentityFile.FileName);

    private static Task<TreeNode> StartAsync(string directory) =>
        TreeNode.StartAsync(new TreeNodeOptions { Listen = [new NodeAddress("tcp", "127.0.0.1", 0)], DataDirectory = directory, Site = "identity" }, TestContext.Current.CancellationToken);

    public void Dispose() => _dir.Dispose();
}
