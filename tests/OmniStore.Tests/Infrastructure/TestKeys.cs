using System.Security.Cryptography;
using System.Text;
using OmniStore.Protocol;

namespace OmniStore.Tests.Infrastructure;

/// <summary>Node keys for tests.</summary>
internal static class TestKeys
{
    /// <summary>
    /// A key whose private scalar is the SHA-256 of <paramref name="label"/>: the same key, and so
    /// the same id, on every run (the fuzzer's recorded handshakes depend on it). Read through the
    /// key file's own parser, as a node reads its key.
    /// </summary>
    public static NodeIdentity Fixed(string label)
    {
        using var key = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = SHA256.HashData(Encoding.UTF8.GetBytes(label)) });
        var id = NodeId.FromPublicKey(key.ExportSubjectPublicKeyInfo());
        string text = $"{NodeIdentity.IdLinePrefix}{id}\n{key.ExportPkcs8PrivateKeyPem()}\n";
        Assert.True(NodeIdentity.TryReadKeyFile(text, out var identity, out string? problem), problem);
        return identity;
    }

    /// <summary>A random id, for messages that are only encoded and decoded.</summary>
    public static NodeId RandomId() => NodeId.Read(RandomNumberGenerator.GetBytes(NodeId.Size));
}
