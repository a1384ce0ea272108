using OmniStore.Content;
using OmniStore.Protocol;
using OmniStore.Tests.Tree;
using OmniStore.Transport;
using OmniStore.Transport.Tcp;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// What the fuzzer found, each reproduced by hand as an attacker would do it; the inputs it found
/// are in the corpus as regress-*.bin and replayed by every fuzz run. (Run alone: one of them
/// measures memory process-wide.)
/// </summary>
[Collection(FuzzingRunsAlone.Name)]
public sealed class FuzzFindingsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A manifest with its flags byte or reserved bytes set (as corpus/manifest/regress-flags.bin, which the fuzzer found).</summary>
    private static byte[] ManifestWithFlags()
    {
        var bytes = DecoderTargets.ManifestSeeds().ElementAt(1).ToBytes();
        bytes[5] = 0x40; // flags: none defined, and "a reader rejects nothing on them yet"
        bytes[7] = 1;    // reserved
        return bytes;
    }

    [Fact]
    public void AManifestWithFlagsOrReservedBitsSet_ReEncodesToItsOwnBytes()
    {
        var bytes = ManifestWithFlags();
        var manifest = Manifest.Parse(bytes);

        // Its id is the hash of what it re-encodes to, as for any other manifest.
        Assert.Equal(bytes, manifest.ToBytes());
        Assert.Equal(ManifestId.Compute(manifest.ToBytes()), manifest.Id);
        Assert.Equal(manifest.Id, Manifest.Parse(manifest.ToBytes(), manifest.Id).Id);
    }

    [Fact]
    public async Task AManifestPutWithFlagsSet_IsServedBackUnderItsId_NotReportedCorrupt()
    {
        // The attacker's path: PUT_MANIFEST of such a manifest, then GET_MANIFEST by its id. The
        // node used to store the manifest re-encoded without the flags under the id of the bytes
        // it received, so every later read of it failed as Corrupt.
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        var counters = new LinkCounters();
        var transport = await TcpConnection.ConnectAsync(cluster.Root.Address, counters, ct);
        await using var connection = await PeerConnection.StartAsync(transport, transport, true, ConnectionIdentity.NewClient(), null, counters, null, ct);
        var bytes = ManifestWithFlags();
        var id = ManifestId.Compute(bytes);

        using (await connection.RequestAsync(FrameType.PutManifest, bytes, ct).WaitAsync(Timeout, ct))
        {
        }

        var request = new byte[ManifestId.Size];
        id.Write(request);
        using var served = await connection.RequestAsync(FrameType.GetManifest, request, ct).WaitAsync(Timeout, ct);
        Assert.Equal(bytes, served.Payload.ToArray());
        Assert.Equal(id, Manifest.Parse(served.Payload, id).Id);
    }

    [Fact]
    public void AnErrorOfInvalidUtf8_CostsABoundedAmountToDecode()
    {
        // A peer's ERROR text is for people, and an honest peer sends at most 2000 characters
        // (ErrorMessage.Encode cuts it). Decoding one of 1 MiB of invalid UTF-8 used to allocate
        // about 24 bytes per byte it received (corpus/error-message/regress-invalid-utf8.bin).
        var payload = new byte[1 << 20];
        Array.Fill(payload, (byte)0xc0);
        payload[0] = (byte)OmniStoreError.NotFound;
        payload[1] = 0;
        _ = ErrorMessage.Decode(payload.AsSpan(0, 64)); // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = ErrorMessage.Decode(payload);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(OmniStoreError.NotFound, error.Error);
        Assert.True(allocated < 128 * 1024, $"decoding a {payload.Length}-byte ERROR allocated {allocated:N0} bytes");
    }

    [Fact]
    public void AnErrorOfInvalidUtf8_ReadsWithReplacementCharacters_AsBefore()
    {
        byte[] payload = [(byte)OmniStoreError.Corrupt, 0, (byte)'a', 0xc0, 0xaf, (byte)'b', 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98];
        Assert.Equal(System.Text.Encoding.UTF8.GetString(payload.AsSpan(2)), ErrorMessage.Decode(payload).Message);
    }

    [Fact]
    public void AnHonestErrorMessage_DecodesWhole()
    {
        string text = string.Concat(Enumerable.Repeat("é漢😀", 500)); // 2000 UTF-16 characters, the most Encode sends
        var error = ErrorMessage.Decode(ErrorMessage.Encode(OmniStoreError.Corrupt, text));
        Assert.Equal(OmniStoreError.Corrupt, error.Error);
        Assert.Equal(text, error.Message);
    }

    [Theory]
    [InlineData("site\n2024-01-01 00:00:00 root: all good")]
    [InlineData("\u001b[31mred")]
    [InlineData("a\u0000b")]
    [InlineData("\u0085next line")]
    public void AHelloWhoseSiteHoldsAControlCharacter_IsMalformed(string site)
    {
        // The site goes into every log line and error message about the connection
        // (PeerConnection.Describe): a peer could forge log lines (corpus/hello/regress-site-control.bin).
        var hello = DecoderTargets.HelloSeeds().First() with { Site = site };
        var error = Assert.Throws<OmniStoreException>(() => HelloMessage.Decode(hello.Encode()));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains("site", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAcceptor_RefusesAHelloWhoseSiteHoldsAControlCharacter_BeforeLoggingIt()
    {
        // As the attacker does it: the HELLO, then a frame that makes the acceptor log a protocol violation.
        byte[] input = [.. FrameStreams.OpenerHandshake(site: "evil\nforged line"), .. FrameStreams.Frame(FrameType.Auth, FrameFlags.End, 0, [])];
        PeerConnectionTarget.Observations.Clear();

        var result = await new Fuzzer(PeerConnectionTarget.Create(), seed: 0).ExecuteAsync(input, measure: false);

        Assert.Null(result.Failure);
        Assert.StartsWith("E:ProtocolError:Refused the connection: Invalid HELLO: the site name", result.Outcome, StringComparison.Ordinal);
        Assert.Empty(PeerConnectionTarget.Observations);
    }

    [Fact]
    public void AHelloWithAnOrdinarySite_StillDecodes()
    {
        foreach (string site in new[] { string.Empty, "site-a", "tokyo.rack-3:7", "A_B" })
        {
            var hello = DecoderTargets.HelloSeeds().First() with { Site = site };
            Assert.Equal(site, HelloMessage.Decode(hello.Encode()).Site);
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    [InlineData(5)]
    public void PayloadReader_ACountItCannotServe_IsAProtocolError_NeverAnIndexException(int count)
    {
        // Found by the fuzzer's own self-test (a planted decoder passing a length it read, 0x81000000,
        // straight to Bytes): a negative count passed the bounds check and the slice threw
        // ArgumentOutOfRangeException. PayloadReader promises a protocol error for any overrun.
        var error = Assert.Throws<OmniStoreException>(() =>
        {
            var reader = new PayloadReader([1, 2, 3, 4]);
            reader.Bytes(count);
        });
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
    }

    [Fact]
    public async Task AChunkFrameAnnouncingSixteenMebibytes_RentsNoMoreThanItCarries()
    {
        // The first frame of a PUT_CHUNK: a chunk message's head declaring 16 MiB, and nothing
        // more; the peer then closes. Once 33.5 MB were taken for this 113-byte input.
        var head = ChunkMessage.Head(ChunkId.Compute("x"u8), ChunkLayout.MaxChunkSize);
        byte[] input = [.. FrameStreams.OpenerHandshake(), .. FrameStreams.Frame(FrameType.PutChunk, FrameFlags.None, 1, head)];
        var target = PeerConnectionTarget.Create();
        var fuzzer = new Fuzzer(target, seed: 0);
        await fuzzer.ExecuteAsync(input, measure: false); // warm up

        var result = await fuzzer.ExecuteAsync(input, measure: true);

        Assert.Null(result.Failure);
        Assert.True(result.Cost <= target.AllocationBound(input), $"{result.Cost:N0} bytes allocated or rented for a {input.Length}-byte input; the bound is {target.AllocationBound(input):N0}");
    }
}
