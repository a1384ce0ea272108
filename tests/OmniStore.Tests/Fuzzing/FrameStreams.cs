using System.Buffers;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Fuzzing;

/// <summary>Valid frame streams written with the real encoders and <see cref="FrameHeader.Write"/>: the seeds of the frame targets.</summary>
internal static class FrameStreams
{
    public static byte[] Frame(FrameType type, FrameFlags flags, uint stream, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[ProtocolLimits.HeaderSize + payload.Length];
        new FrameHeader(type, flags, stream, payload.Length).Write(bytes);
        payload.CopyTo(bytes.AsSpan(ProtocolLimits.HeaderSize));
        return bytes;
    }

    /// <summary>A message as frames of at most <paramref name="framePayload"/> bytes, the last one marked END.</summary>
    public static byte[] Message(FrameType type, uint stream, byte[] payload, int framePayload = ProtocolLimits.MaxFramePayload)
    {
        var bytes = new List<byte>();
        int offset = 0;
        do
        {
            int length = Math.Min(framePayload, payload.Length - offset);
            bytes.AddRange(Frame(type, offset + length == payload.Length ? FrameFlags.End : FrameFlags.None, stream, payload.AsSpan(offset, length)));
            offset += length;
        }
        while (offset < payload.Length);
        return [.. bytes];
    }

    /// <summary>
    /// What an opener sends first: HELLO, then an AUTH signed for the connection target's answer
    /// (<see cref="FuzzIdentities"/>); <paramref name="withProof"/>: it says it holds the shared
    /// secret and proves one (which an acceptor without a secret does not check); <paramref name="asParent"/>:
    /// it is a root that joins as the acceptor's parent (which the connection target takes).
    /// </summary>
    public static byte[] OpenerHandshake(bool withProof = false, string site = "", bool asParent = false)
    {
        var seed = DecoderTargets.HelloSeeds().First() with { Site = site, SecretRequired = withProof };
        var hello = (asParent ? seed with { Role = NodeRole.Root, OpenerSide = TreeSide.Parent } : seed).Encode();
        var auth = Handshake.SignAuth(FuzzIdentities.Opener, hello, FuzzIdentities.AcceptorHello(hello), withProof ? new byte[Handshake.ProofSize] : [], []);
        return [.. Frame(FrameType.Hello, FrameFlags.End, 0, hello), .. Frame(FrameType.Auth, FrameFlags.End, 0, auth)];
    }

    /// <summary>
    /// Whether two opener streams are the same but for the signature of the AUTH frame they start
    /// with (ECDSA signatures differ every time), and the signature in <paramref name="committed"/>
    /// holds: a seed whose handshake a node would refuse would no longer reach the read loop.
    /// </summary>
    public static bool SameButTheSignature(byte[] committed, byte[] expected)
    {
        if (committed.Length != expected.Length)
        {
            return false;
        }

        var buffer = new ReadOnlySequence<byte>(committed);
        if (FrameParser.TryRead(ref buffer, out var helloHeader, out var helloPayload, out _) != FrameParseStatus.Frame || helloHeader.Type != FrameType.Hello
            || FrameParser.TryRead(ref buffer, out var authHeader, out var authPayload, out _) != FrameParseStatus.Frame || authHeader.Type != FrameType.Auth)
        {
            return committed.AsSpan().SequenceEqual(expected);
        }

        int signatureEnd = committed.Length - (int)buffer.Length;
        int signatureStart = signatureEnd - NodeIdentity.SignatureSize;
        if (!committed.AsSpan(0, signatureStart).SequenceEqual(expected.AsSpan(0, signatureStart)) || !committed.AsSpan(signatureEnd).SequenceEqual(expected.AsSpan(signatureEnd)))
        {
            return false;
        }

        var hello = helloPayload.ToArray();
        var auth = authPayload.ToArray();
        var signed = Handshake.OpenerSigned(hello, Handshake.Unsigned(FuzzIdentities.AcceptorHello(hello)), Handshake.Unsigned(auth));
        return NodeIdentity.CheckProof(FuzzIdentities.Opener.PublicKey, FuzzIdentities.Opener.Id, signed, auth.AsSpan(auth.Length - NodeIdentity.SignatureSize)) is null;
    }

    public static byte[] Chunk(int length, out ChunkId id)
    {
        var data = TestData.Random(length, length);
        id = ChunkId.Compute(data);
        return [.. ChunkMessage.Head(id, data.Length), .. data];
    }

    /// <summary>One stream per kind of request a child sends, and the frames a peer sends on its own.</summary>
    public static IEnumerable<(string Name, byte[] Frames)> Requests()
    {
        var manifest = DecoderTargets.ManifestSeeds().ElementAt(2);
        var chunk = Chunk(100, out var chunkId);
        yield return ("resolve", Message(FrameType.Resolve, 1, Names.Encode("datasets/a")));
        yield return ("get-manifest", Message(FrameType.GetManifest, 1, Bytes(manifest.Id.Write, ManifestId.Size)));
        yield return ("get-chunk", Message(FrameType.GetChunk, 1, ChunkRequests.Encode(chunkId, 100)));
        yield return ("get-object", Message(FrameType.GetObject, 1, ObjectMessages.EncodeRequest("datasets/a", ObjectMessages.MaxInlineChunk)));
        yield return ("put-chunk", Message(FrameType.PutChunk, 1, chunk));
        yield return ("put-chunk-frames", Message(FrameType.PutChunk, 3, chunk, framePayload: 24));
        yield return ("push-chunk", Message(FrameType.PushChunk, 1, chunk));
        yield return ("put-manifest", Message(FrameType.PutManifest, 1, manifest.ToBytes(), framePayload: 40));
        yield return ("bind", Message(FrameType.Bind, 1, new BindMessage("datasets/a", manifest.Id, Broadcast: true).Encode()));
        yield return ("delete", Message(FrameType.Delete, 1, Names.Encode("datasets/a")));
        yield return ("prefetch", Message(FrameType.Prefetch, 1, Names.Encode("datasets/a")));
        yield return ("update", Message(FrameType.Update, 1, new BindingMessage("datasets/a", 3, manifest.Id, IsBound: true).Encode()));
        yield return ("response", Message(FrameType.Binding, 2, new BindingMessage("x", 1, manifest.Id, IsBound: false).Encode()));
        yield return ("error-response", Message(FrameType.Error, 2, ErrorMessage.Encode(OmniStoreError.NotFound, "No object.")));
        yield return ("control", ControlFrames());
        yield return ("cancel", [.. Message(FrameType.PutChunk, 5, chunk[..30], framePayload: 30).AsSpan(0, ProtocolLimits.HeaderSize + 30), .. Frame(FrameType.Cancel, FrameFlags.End, 5, [])]);
    }

    public static byte[] ControlFrames() =>
    [
        .. Frame(FrameType.Ping, FrameFlags.End, 0, new byte[8]),
        .. Frame(FrameType.Pong, FrameFlags.End, 0, new byte[8]),
        .. Frame(FrameType.GoAway, FrameFlags.End, 0, []),
    ];

    /// <summary>A client's session after the handshake: several requests, one of them split into frames, interleaved.</summary>
    public static byte[] ClientSession()
    {
        var chunk = Chunk(60, out _);
        var resolve = Message(FrameType.Resolve, 3, Names.Encode("a/b"));
        var put = Message(FrameType.PutChunk, 1, chunk, framePayload: 32);
        int first = ProtocolLimits.HeaderSize + 32;
        return [.. OpenerHandshake(), .. put.AsSpan(0, first), .. resolve, .. put.AsSpan(first), .. ControlFrames()];
    }

    /// <summary>One message split into frames of <paramref name="framePayload"/> bytes.</summary>
    public static byte[] SplitMessage(int framePayload) => Message(FrameType.PutChunk, 7, Chunk(20, out _), framePayload);

    /// <summary>Frame headers of every type, as mutation tokens.</summary>
    public static IReadOnlyList<byte[]> HeaderTokens() =>
        [.. Enum.GetValues<FrameType>().Select(type => Frame(type, FrameFlags.End, 1, []))];

    private static byte[] Bytes(SpanAction write, int size)
    {
        var bytes = new byte[size];
        write(bytes);
        return bytes;
    }

    private delegate void SpanAction(Span<byte> destination);

    internal static ReadOnlySequence<byte> Segments(byte[] bytes, Func<int, int> nextLength)
    {
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        int length = Math.Clamp(nextLength(0), 1, bytes.Length);
        var first = new Segment(bytes.AsMemory(0, length), 0);
        var last = first;
        for (int at = length; at < bytes.Length; at += length)
        {
            length = Math.Clamp(nextLength(at), 1, bytes.Length - at);
            last = last.Append(bytes.AsMemory(at, length));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
