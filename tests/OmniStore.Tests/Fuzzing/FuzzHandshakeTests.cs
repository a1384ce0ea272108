using OmniStore.Protocol;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// The connection target's recorded handshakes must pass a node's checks (fixed keys and acceptor
/// nonce, see <see cref="FuzzIdentities"/>): otherwise every mutated input would end at the
/// handshake, and the read loop and request decoders behind it would go unfuzzed without a word.
/// </summary>
public sealed class FuzzHandshakeTests
{
    [Fact]
    public async Task TheConnectionTargetsSeeds_PassTheHandshake_AndReachTheReadLoop()
    {
        foreach (var (name, bytes) in PeerConnectionTarget.Create().Seeds().Where(s => s.Name is "session" or "handshake" or "handshake-proof" or "handshake-parent" or "resolve"))
        {
            var result = await new Fuzzer(PeerConnectionTarget.Create(), seed: 0).ExecuteAsync(bytes, measure: false);
            Assert.Null(result.Failure);
            Assert.True(result.Outcome!.StartsWith("closed:", StringComparison.Ordinal), $"{name}: {result.Outcome}");
            Assert.Contains("sent:Ready", result.Outcome, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ASeedWithAnotherSignature_IsRefusedAtTheHandshake()
    {
        // The check above can fail: one flipped bit of the opener's signature and the handshake is refused.
        var bytes = FrameStreams.OpenerHandshake();
        bytes[^1] ^= 1;
        var result = await new Fuzzer(PeerConnectionTarget.Create(), seed: 0).ExecuteAsync(bytes, measure: false);
        Assert.Null(result.Failure);
        Assert.StartsWith($"E:{OmniStoreError.Unauthorized}:", result.Outcome, StringComparison.Ordinal);
    }
}
