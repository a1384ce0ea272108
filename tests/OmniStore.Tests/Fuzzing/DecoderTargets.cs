using System.Buffers;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Storage;
using OmniStore.Storage.Internal;
using OmniStore.Tests.Infrastructure;
using static OmniStore.Tests.Fuzzing.FuzzInvariantException;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// The decoders of wire and disk formats as fuzz targets. Each lists the errors its decoder
/// documents for bad input and checks what a successful decode promises (mostly: the value
/// re-encodes to exactly its input, so that two encodings never mean the same thing).
/// </summary>
internal static class DecoderTargets
{
    private static readonly ManifestId SomeManifest = ManifestId.Compute("manifest"u8);
    private static readonly string LongestName = new('n', ObjectName.MaxByteLength);
    private static readonly int[] ChunkSeedLengths = [0, 1, 100, 3000];
    private static readonly int[] RequestedLengths = [0, 1, ChunkLayout.DefaultChunkSize, ChunkLayout.MaxChunkSize];
    private static readonly int[] PageSizeBits = [16, 22, 30];

    /// <summary>Names as the encoders write them: short, nested, non-ASCII, the longest allowed.</summary>
    private static readonly string[] SeedNames = ["a", "datasets/images/train-00001.tar", "ünïcödé/名前/😀", LongestName];

    private static readonly byte[][] NameTokens =
    [
        "a/b"u8.ToArray(), [0xc3, 0xa9], [0xe5, 0x90, 0x8d], [0xf0, 0x9f, 0x98, 0x80], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xef, 0xbb, 0xbf], [0x7f], [0x0a], [0xc2, 0x85],
    ];

    public static IEnumerable<FuzzTarget> All(string workDirectory) =>
    [
        Frames(), Hello(), HelloAnswer(), Auth(), BindingMessages(), BindMessages(), ErrorMessages(), WireNames(), ChunkMessages(), ChunkRequests(),
        ObjectRequests(), ObjectAnswers(), PutObjectRequests(), RudpFrames(), RudpHeaders(), Manifests(), JournalRecords(), Bindings(), StoreDescriptors(workDirectory),
    ];

    // ---- frames ---------------------------------------------------------------------------

    public static FuzzTarget Frames() => new()
    {
        Name = "frames",
        Weight = 8,
        DocumentedErrors = [], // FrameParser never throws on peer input
        Seeds = () => [("session", FrameStreams.ClientSession()), ("one-byte-payloads", FrameStreams.SplitMessage(1)), ("control", FrameStreams.ControlFrames())],
        SeedMatches = FrameStreams.SameButTheSignature,
        Run = FrameParserHarness.Run,
        FrameAware = true,
        MaxInputLength = 8 * 1024, // every input is also parsed as one segment per byte
        Dictionary = FrameStreams.HeaderTokens(),

        // The harness itself builds a segment object per input byte and copies every payload; the
        // bound that matters is inside it: TryRead may allocate at most 1 KiB per call (a problem
        // string), nothing from a length it read.
        AllocationBound = static input => (2048L * input.Length) + (1024 * 1024),
    };

    // ---- handshake ------------------------------------------------------------------------

    public static FuzzTarget Hello() => new()
    {
        Name = "hello",
        MaxInputLength = 8 * 1024,
        Weight = 5,
        DocumentedErrors = [OmniStoreError.ProtocolError],
        Seeds = () => HelloSeeds().Select((h, i) => ($"hello-{i}", h.Encode())),
        Run = static input =>
        {
            var hello = HelloMessage.Decode(input);
            Check(hello.Encode().AsSpan().SequenceEqual(input), "a decoded HELLO re-encodes to its input");
            Check(input.Length <= HelloMessage.MaxOpenerSize, "an opener's HELLO is at most its documented size");
            Check(hello.Nonce.Length == HelloMessage.NonceSize && hello.Proof.Length == 0, "nonce and proof sizes");
            Check(!hello.Site.Any(char.IsControl), "a peer's site holds no control characters (it goes into log lines and error messages)");
            return $"ok:{hello.Role}:{hello.SecretRequired}:{hello.OpenerSide}:{hello.Proof.Length}:{Bucket(hello.Site.Length)}:{hello.MinVersion <= hello.MaxVersion}";
        },
        Dictionary = [.. NameTokens, [32], [0, 0], [0xff, 0xff]],
    };

    /// <summary>Openers' HELLOs; the first is the one the connection target's seeds start with (its id is the fuzz opener's).</summary>
    internal static IEnumerable<HelloMessage> HelloSeeds()
    {
        var nonce = FuzzIdentities.OpenerNonce();
        var id = FuzzIdentities.Opener.Id;
        yield return new HelloMessage(2, 2, id, NodeRole.Client, string.Empty, nonce, false, []);
        yield return new HelloMessage(2, 2, id, NodeRole.Relay, "site-a", nonce, true, []);
        yield return new HelloMessage(1, 3, id, NodeRole.Root, "東京", nonce, false, []);
        yield return new HelloMessage(2, 2, id, NodeRole.Relay, "parent", nonce, true, []) { OpenerSide = TreeSide.Parent };
    }

    /// <summary>Acceptors' HELLOs: with and without a proof, a site of each kind; the signature bytes fixed (nothing checks them here).</summary>
    internal static IEnumerable<HelloMessage> HelloAnswerSeeds()
    {
        var proof = Enumerable.Range(100, Handshake.ProofSize).Select(i => (byte)i).ToArray();
        var signature = Enumerable.Range(7, NodeIdentity.SignatureSize).Select(i => (byte)i).ToArray();
        var key = FuzzIdentities.Acceptor;
        yield return new HelloMessage(2, 2, key.Id, NodeRole.Root, "root-site", FuzzIdentities.AcceptorNonce(), false, []) { PublicKey = key.PublicKey, Signature = signature };
        yield return new HelloMessage(2, 2, key.Id, NodeRole.Relay, "東京", FuzzIdentities.AcceptorNonce(), true, proof) { PublicKey = key.PublicKey, Signature = signature };
        yield return new HelloMessage(2, 2, key.Id, NodeRole.Relay, "child", FuzzIdentities.AcceptorNonce(), false, []) { PublicKey = key.PublicKey, Signature = signature, OpenerSide = TreeSide.Parent };
    }

    public static FuzzTarget HelloAnswer() => new()
    {
        Name = "hello-answer",
        MaxInputLength = 8 * 1024,
        Weight = 4,
        DocumentedErrors = [OmniStoreError.ProtocolError],
        Seeds = () => HelloAnswerSeeds().Select((h, i) => ($"hello-answer-{i}", h.Encode(fromAcceptor: true))),
        Run = static input =>
        {
            var hello = HelloMessage.Decode(input, fromAcceptor: true);
            Check(hello.Encode(fromAcceptor: true).AsSpan().SequenceEqual(input), "a decoded acceptor's HELLO re-encodes to its input");
            Check(input.Length <= HelloMessage.MaxAcceptorSize, "an acceptor's HELLO is at most its documented size");
            Check(hello.PublicKey.Length == NodeIdentity.PublicKeySize && hello.Signature.Length == NodeIdentity.SignatureSize && hello.Proof.Length is 0 or Handshake.ProofSize, "key, signature and proof sizes");
            Check(!hello.Site.Any(char.IsControl), "a peer's site holds no control characters");
            return $"ok:{hello.Role}:{hello.SecretRequired}:{hello.OpenerSide}:{hello.Proof.Length}:{Bucket(hello.Site.Length)}";
        },
        Dictionary = [.. NameTokens, [NodeIdentity.PublicKeySize], [NodeIdentity.SignatureSize], [32], [0, 0], [0xff, 0xff]],
    };

    public static FuzzTarget Auth() => new()
    {
        Name = "auth",
        MaxInputLength = 4 * 1024,
        Weight = 4,
        DocumentedErrors = [OmniStoreError.ProtocolError],
        Seeds = () =>
        [
            ("auth-client", new AuthMessage([], [], FuzzIdentities.Opener.PublicKey, new byte[NodeIdentity.SignatureSize]).Encode()),
            ("auth-relay", new AuthMessage(new byte[Handshake.ProofSize], [.. Enumerable.Repeat((byte)0xa5, Handshake.ProofSize)], FuzzIdentities.Opener.PublicKey, new byte[NodeIdentity.SignatureSize]).Encode()),
        ],
        Run = static input =>
        {
            var auth = AuthMessage.Decode(input);
            Check(auth.Encode().AsSpan().SequenceEqual(input), "a decoded AUTH re-encodes to its input");
            Check(input.Length <= AuthMessage.MaxSize, "an AUTH is at most its documented size");

            // The identity check a node runs on it, with the id the key gives so that a mutated key
            // reaches the key parser: it refuses or accepts whatever the bytes, never throws.
            string? problem = NodeIdentity.CheckProof(auth.PublicKey, NodeId.FromPublicKey(auth.PublicKey), Handshake.Unsigned(input), auth.Signature);
            return $"ok:{auth.Proof.Length}:{auth.RelayProof.Length}:{(problem is null ? "proved" : Fuzzer.Shape(problem))}";
        },
        Dictionary = [[NodeIdentity.PublicKeySize], [NodeIdentity.SignatureSize], [32], [0]],
    };

    // ---- messages -------------------------------------------------------------------------

    public static FuzzTarget BindingMessages() => new()
    {
        Name = "binding-message",
        MaxInputLength = 4 * 1024,
        Weight = 5,
        DocumentedErrors = [OmniStoreError.ProtocolError, OmniStoreError.InvalidName],
        Seeds = () => SeedNames.Select((name, i) => ($"binding-{i}", new BindingMessage(name, i == 1 ? long.MaxValue : i + 1, SomeManifest, i != 2, i == 3 ? 1_800_000_000_000 : 0).Encode())),
        Run = static input =>
        {
            var binding = BindingMessage.Decode(input);
            Check(binding.Encode().AsSpan().SequenceEqual(input), "a decoded BINDING re-encodes to its input");
            Check(binding.Version >= 0, "a version is never negative");
            return $"ok:{binding.IsBound}:{Bucket(binding.Name.Length)}";
        },
        Dictionary = NameTokens,
    };

    public static FuzzTarget BindMessages() => new()
    {
        Name = "bind-message",
        MaxInputLength = 4 * 1024,
        Weight = 4,
        DocumentedErrors = [OmniStoreError.ProtocolError, OmniStoreError.InvalidName, OmniStoreError.InvalidArgument],
        Seeds = () => SeedNames.Select((name, i) => ($"bind-{i}", new BindMessage(name, SomeManifest, i % 2 == 0, i == 1 ? new PutConditions(3, false, true, 60_000) : default).Encode())),
        Run = static input =>
        {
            var bind = BindMessage.Decode(input);
            Check(bind.Encode().AsSpan().SequenceEqual(input), "a decoded BIND re-encodes to its input");
            return $"ok:{bind.Broadcast}:{Bucket(bind.Name.Length)}";
        },
        Dictionary = NameTokens,
    };

    public static FuzzTarget ErrorMessages() => new()
    {
        Name = "error-message",
        MaxInputLength = 16 * 1024,
        Weight = 3,
        DocumentedErrors = [], // Decode returns the peer's error, it never throws
        Seeds = () =>
        [
            ("not-found", ErrorMessage.Encode(OmniStoreError.NotFound, "No object is bound to the name 'a/b'.")),
            ("protocol-error", ErrorMessage.Encode(OmniStoreError.ProtocolError, string.Empty)),
            ("long", ErrorMessage.Encode(OmniStoreError.Corrupt, new string('é', 3000))),
        ],
        Run = static input =>
        {
            var error = ErrorMessage.Decode(input);
            Check(error is not null && Enum.IsDefined(error.Error), "ERROR decodes to a defined error code");
            return $"ok:{error!.Error}|length:{Bucket(error.Message.Length)}";
        },
        Dictionary = [[0, 0], [0xff, 0xff], [9, 0], [0xed, 0xa0, 0x80]],
    };

    public static FuzzTarget WireNames() => new()
    {
        Name = "names",
        MaxInputLength = 4 * 1024,
        Weight = 4,
        DocumentedErrors = [OmniStoreError.InvalidName],
        Seeds = () => SeedNames.Select((name, i) => ($"name-{i}", Names.Encode(name))),
        Run = static input =>
        {
            string name = Names.Decode(input);
            Check(Names.Encode(name).AsSpan().SequenceEqual(input), "a decoded name re-encodes to its input");
            Check(ObjectName.IsValid(name, out _), "a decoded name is valid");
            return $"ok:{Bucket(name.Length)}:{name.Any(c => c > 0x7f)}";
        },
        Dictionary = NameTokens,
    };

    public static FuzzTarget ChunkMessages() => new()
    {
        Name = "chunk-message",
        MaxInputLength = 16 * 1024,
        Weight = 5,
        DocumentedErrors = [OmniStoreError.ProtocolError, OmniStoreError.Corrupt],
        Seeds = () => ChunkSeedLengths.Select(length =>
        {
            var data = TestData.Random(length, length);
            return ($"chunk-{length}", (byte[])[.. ChunkMessage.Head(ChunkId.Compute(data), data.Length), .. data]);
        }),
        Run = static input =>
        {
            // As a connection hands it over: a message in a buffer rented from the shared pool.
            using var message = new Message(FrameType.PutChunk, 1, ArrayPool<byte>.Shared.Rent(Math.Max(1, input.Length)), 0);
            message.Append(new ReadOnlySequence<byte>(input));
            var (id, data) = ChunkMessage.Read(message);
            Check(id == ChunkId.Compute(data.Span) && data.Length == input.Length - ChunkMessage.HeaderSize, "a chunk message that reads has the bytes of its id");
            return $"ok:{Bucket(data.Length)}";
        },
    };

    public static FuzzTarget ChunkRequests() => new()
    {
        Name = "get-chunk",
        MaxInputLength = 256,
        Weight = 3,
        DocumentedErrors = [OmniStoreError.ProtocolError],
        Seeds = () => RequestedLengths.Select(length => ($"get-chunk-{length}", OmniStore.Node.Requests.ChunkRequests.Encode(ChunkId.Compute("chunk"u8), length))),
        Run = static input =>
        {
            var (id, length) = OmniStore.Node.Requests.ChunkRequests.Read(input);
            Check(length is >= 0 and <= ChunkLayout.MaxChunkSize, "a requested chunk length is within the chunk size limit");
            Check(OmniStore.Node.Requests.ChunkRequests.Encode(id, length).AsSpan().SequenceEqual(input), "a decoded GET_CHUNK re-encodes to its input");
            return $"ok:{Bucket(length)}";
        },
    };

    public static FuzzTarget ObjectRequests() => new()
    {
        Name = "get-object",
        MaxInputLength = 4 * 1024,
        Weight = 3,
        DocumentedErrors = [OmniStoreError.ProtocolError, OmniStoreError.InvalidName],
        Seeds = () => SeedNames.Select((name, i) => ($"get-object-{i}", ObjectMessages.EncodeRequest(name, RequestedLengths[i % RequestedLengths.Length]))),
        Run = static input =>
        {
            var (name, inline) = ObjectMessages.ReadRequest(input);
            Check(inline is >= 0 and <= ObjectMessages.MaxInlineChunk, "the inline length read is within the inline limit");
            Check(ObjectName.IsValid(name, out _), "a decoded name is valid");
            return $"ok:{Bucket(inline)}:{Bucket(name.Length)}";
        },
        Dictionary = NameTokens,
    };

    public static FuzzTarget PutObjectRequests() => new()
    {
        Name = "put-object",
        MaxInputLength = 16 * 1024,
        Weight = 4,
        DocumentedErrors = [OmniStoreError.ProtocolError, OmniStoreError.InvalidName, OmniStoreError.InvalidArgument, OmniStoreError.Corrupt],
        Seeds = () =>
        {
            var small = new byte[3000];
            new Random(3).NextBytes(small);
            var layout = new ChunkLayout(small.Length, ChunkLayout.MinChunkSize);
            var manifest = new Manifest(layout, [ChunkId.Compute(small)]);
            var empty = new Manifest(new ChunkLayout(0, ChunkLayout.DefaultChunkSize), []);
            return
            [
                ("small", [.. PutObjectMessage.EncodeHead("results/1", manifest, false), .. small]),
                ("empty-broadcast", PutObjectMessage.EncodeHead("e", empty, true)),
                ("conditional", [.. PutObjectMessage.EncodeHead("results/2", manifest, false, new PutConditions(0, true, false, 1000)), .. small]),
            ];
        },
        Run = static input =>
        {
            var put = PutObjectMessage.Decode(input);
            Check(ObjectName.IsValid(put.Name, out _), "a decoded name is valid");
            Check(put.Data.Length == put.Manifest.Length && put.Data.Length <= PutObjectMessage.MaxObject, "the bytes are the manifest's length, within the limit");
            for (int i = 0; i < put.Manifest.Chunks.Count; i++)
            {
                Check(put.Manifest.Chunks[i].Matches(put.Chunk(i).Span), "every chunk matches its id");
            }

            Check(PutObjectMessage.EncodeHead(put.Name, put.Manifest, put.Broadcast, put.Conditions).Concat(put.Data.ToArray()).SequenceEqual(input), "a decoded request re-encodes to its input");
            return $"ok:{put.Manifest.Chunks.Count}:{put.Broadcast}";
        },
        Dictionary = NameTokens,
    };

    public static FuzzTarget ObjectAnswers() => new()
    {
        Name = "object-message",
        MaxInputLength = 16 * 1024,
        Weight = 4,
        DocumentedErrors = [OmniStoreError.ProtocolError, OmniStoreError.InvalidName, OmniStoreError.Corrupt],
        Seeds = ObjectAnswerSeeds,
        Run = static input =>
        {
            var (binding, manifest, chunk) = ObjectMessages.ReadAnswer(input);
            Check(binding.IsBound, "an OBJECT is for a bound name");
            Check(manifest is null || manifest.Id == binding.ManifestId, "an OBJECT's manifest is the binding's");
            int length = chunk.End.Value - chunk.Start.Value;
            Check(length == 0 || (manifest is { Layout.ChunkCount: 1 } && manifest.Length == length && manifest.Chunks[0].Matches(input.AsSpan(chunk))), "an OBJECT's bytes are its manifest's only chunk");
            return $"ok:{manifest is null}:{Bucket(length)}";
        },
        Dictionary = NameTokens,
    };

    private static IEnumerable<(string, byte[])> ObjectAnswerSeeds()
    {
        foreach (int length in ChunkSeedLengths.Where(l => l > 0))
        {
            var data = TestData.Random(length, length);
            var manifest = new Manifest(new ChunkLayout(length, ChunkLayout.DefaultChunkSize), [ChunkId.Compute(data)]);
            var binding = new BindingMessage(SeedNames[length % SeedNames.Length], length, manifest.Id, IsBound: true);
            yield return ($"object-{length}", [.. ObjectMessages.EncodeHead(binding, manifest.ToBytes(), withChunk: true), .. data]);
            yield return ($"object-manifest-{length}", ObjectMessages.EncodeHead(binding, manifest.ToBytes(), withChunk: false));
        }

        yield return ("object-binding", ObjectMessages.EncodeHead(new BindingMessage("a/b", 1, SomeManifest, IsBound: true), null, withChunk: false));
    }

    public static FuzzTarget RudpFrames() => new()
    {
        Name = "rudp-frames",
        MaxInputLength = 2 * 1024,
        Weight = 4,
        DocumentedErrors = [], // the reader reports a problem, it never throws
        Seeds = RudpFrameSeeds,
        Run = static input =>
        {
            var reader = new OmniStore.Transport.Rudp.Internal.FrameReader(input);
            var ranges = new OmniStore.Transport.Rudp.Internal.AckRange[OmniStore.Transport.Rudp.Internal.FrameReader.MaxAckRanges];
            int frames = 0;
            while (reader.TryRead(ranges, out var frame))
            {
                frames++;
                Check(frame.Data.Length <= input.Length, "a frame's bytes are inside the datagram");
                if (frame.Type == OmniStore.Transport.Rudp.Internal.RudpFrameType.Ack)
                {
                    Check(frame.RangeCount is >= 1 and <= OmniStore.Transport.Rudp.Internal.FrameReader.MaxAckRanges, "an ACK's range count is bounded");
                    for (int i = 0; i < frame.RangeCount; i++)
                    {
                        Check(ranges[i].Smallest >= 0 && ranges[i].Smallest <= ranges[i].Largest && (i == 0 ? ranges[i].Largest == frame.LargestAcknowledged : ranges[i].Largest < ranges[i - 1].Smallest - 1), "ACK ranges are descending, apart and never below 0");
                    }
                }
            }

            return reader.Problem is null ? $"ok:{Bucket(frames)}" : $"refused:{Fuzzer.Shape(reader.Problem)}";
        },
    };

    private static IEnumerable<(string, byte[])> RudpFrameSeeds()
    {
        var packet = new byte[600];
        int at = OmniStore.Transport.Rudp.Internal.FrameWriter.WriteAck(packet, [new(50, 60), new(20, 40), new(0, 10)], 800);
        yield return ("ack", packet[..at]);
        int stream = OmniStore.Transport.Rudp.Internal.FrameWriter.WriteStream(packet.AsSpan(at), 1L << 33, new byte[100], fin: true, out _);
        at += stream;
        at += OmniStore.Transport.Rudp.Internal.FrameWriter.WriteLimit(packet.AsSpan(at), OmniStore.Transport.Rudp.Internal.RudpFrameType.MaxData, 1L << 24);
        at += OmniStore.Transport.Rudp.Internal.FrameWriter.WriteClose(packet.AsSpan(at), 3, "closing");
        yield return ("mixed", [.. packet[..at], 0x00, 0x01]);
    }

    public static FuzzTarget RudpHeaders() => new()
    {
        Name = "rudp-header",
        MaxInputLength = 256,
        Weight = 2,
        DocumentedErrors = [],
        Seeds = () =>
        {
            var longHeader = new byte[OmniStore.Transport.Rudp.Internal.PacketHeader.LongHeaderLength];
            OmniStore.Transport.Rudp.Internal.PacketHeader.WriteLong(longHeader, OmniStore.Transport.Rudp.Internal.PacketType.Initial, OmniStore.Transport.Rudp.Internal.PacketHeader.Version1, new(1), new(2));
            var shortHeader = new byte[16];
            int length = OmniStore.Transport.Rudp.Internal.PacketHeader.WriteShort(shortHeader, new(3), 0x123456, 3);
            return [("long", longHeader), ("short", shortHeader[..length])];
        },
        Run = static input =>
        {
            if (!OmniStore.Transport.Rudp.Internal.PacketHeader.TryRead(input, out var header, out var problem))
            {
                Check(problem is not null, "a refused header says why");
                return $"refused:{Fuzzer.Shape(problem!)}";
            }

            Check(header.Length <= input.Length, "a header is inside the datagram");
            Check(header.Type == OmniStore.Transport.Rudp.Internal.PacketType.Short ? header.PacketNumberLength is >= 1 and <= 4 : true, "a packet number is 1 to 4 bytes");
            return $"ok:{header.Type}";
        },
    };

    // ---- content and storage --------------------------------------------------------------

    public static FuzzTarget JournalRecords() => new()
    {
        Name = "journal-record",
        MaxInputLength = 4096,
        Weight = 3,
        DocumentedErrors = [OmniStoreError.Corrupt],
        Seeds = () =>
        {
            var data = new byte[300];
            new Random(5).NextBytes(data);
            var layout = new ChunkLayout(data.Length, 128 << 10);
            var manifest = new Manifest(layout, [ChunkId.Compute(data)]);
            var put = new OmniStore.Storage.Internal.JournalRecord("a/b", new OmniStore.Storage.Binding(manifest.Id, 2, IsBound: true), manifest, [data]);
            var delete = new OmniStore.Storage.Internal.JournalRecord("gone", new OmniStore.Storage.Binding(default, 9, IsBound: false), null, []);
            return [("put", put.Encode()), ("delete", delete.Encode())];
        },
        Run = static input =>
        {
            var record = OmniStore.Storage.Internal.JournalRecord.Decode(input.ToArray(), ChunkLayout.MinChunkSize);
            Check(ObjectName.IsValid(record.Name, out _), "a decoded record's name is valid");
            Check(record.Binding.IsBound == record.Manifest is not null, "a binding has a manifest, a tombstone none");
            Check(record.Manifest is null || record.Manifest.Id == record.Binding.ManifestId, "the manifest is the one bound");
            Check(record.Chunks.All(c => record.Manifest!.Chunks.Contains(ChunkId.Compute(c.Span))), "every chunk is one its manifest lists");
            Check(record.Encode().AsSpan().SequenceEqual(input), "a decoded record re-encodes to its input");
            return record.Binding.IsBound ? "put" : "delete";
        },
    };

    public static FuzzTarget Manifests() => new()
    {
        Name = "manifest",
        Weight = 6,
        DocumentedErrors = [OmniStoreError.Corrupt],
        Seeds = () => ManifestSeeds().Select((m, i) => ($"manifest-{i}", m.ToBytes())),
        Run = static input =>
        {
            bool header = Manifest.TryReadEncodedLength(input, out int total);
            Check(!header || total is >= Manifest.HeaderSize and <= Manifest.HeaderSize + (ChunkLayout.MaxChunkCount * ChunkId.Size), $"a valid header announces {total} bytes, outside the format's limits");
            var manifest = Manifest.Parse(input);
            Check(header && total == input.Length, "a manifest that parses has a valid header announcing its length");
            Check(manifest.Chunks.Count == manifest.Layout.ChunkCount, "one id per chunk");
            Check(manifest.ToBytes().AsSpan().SequenceEqual(input), "a parsed manifest re-encodes to its input");
            Check(manifest.Id == ManifestId.Compute(input), "a parsed manifest's id is the hash of its binary form");
            Check(Manifest.Parse(input, manifest.Id).Id == manifest.Id, "a manifest parses against its own id");
            try
            {
                Manifest.Parse(input, new ManifestId(manifest.Id.Value + 1));
                Check(false, "a manifest parses against another id");
            }
            catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Corrupt)
            {
            }

            return $"ok:{Bucket(manifest.Chunks.Count)}:{(manifest.Layout.ChunkSize is ChunkLayout.MinChunkSize or ChunkLayout.MaxChunkSize ? manifest.Layout.ChunkSize : "chunk size")}";
        },
        Dictionary = ["OMNM"u8.ToArray(), [1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0x10, 0], [0, 0, 0, 1, 0]],
    };

    internal static IEnumerable<Manifest> ManifestSeeds()
    {
        static ChunkId Id(int i) => ChunkId.Compute(BitConverter.GetBytes(i));
        yield return new Manifest(new ChunkLayout(0, ChunkLayout.DefaultChunkSize), []);
        yield return new Manifest(new ChunkLayout(1000, ChunkLayout.DefaultChunkSize), [Id(1)]);
        yield return new Manifest(new ChunkLayout((3L * ChunkLayout.MinChunkSize) - 7, ChunkLayout.MinChunkSize), [Id(1), Id(2), Id(3)]);
        yield return new Manifest(new ChunkLayout(40L * ChunkLayout.MaxChunkSize, ChunkLayout.MaxChunkSize), Enumerable.Range(0, 40).Select(Id));
    }

    public static FuzzTarget Bindings() => new()
    {
        Name = "binding",
        MaxInputLength = 256,
        Weight = 3,
        DocumentedErrors = [OmniStoreError.Corrupt],
        Seeds = () => new[] { new Binding(SomeManifest, 1, true), new Binding(default, 7, false), new Binding(SomeManifest, long.MaxValue, true), new Binding(SomeManifest, 2, true, 1_800_000_000_000) }.Select((b, i) =>
            ($"binding-{i}", b.ToBytes())),
        Run = static input =>
        {
            var binding = Binding.Read(input);
            var bytes = binding.ToBytes();
            Check(bytes.AsSpan().SequenceEqual(input), "a binding record re-encodes to its input");
            return $"ok:{binding.IsBound}:{binding.Version >= 0}";
        },
    };

    public static FuzzTarget StoreDescriptors(string workDirectory) => new()
    {
        Name = "store-descriptor",
        Weight = 10,
        DocumentedErrors = [OmniStoreError.Corrupt],
        OpaqueInnerExceptions = [typeof(System.Text.Json.JsonException)],
        ErrorFeature = (_, error) => DescriptorErrorFeature(error, workDirectory),
        Seeds = () => PageSizeBits.Select(bits => ($"store-{bits}", WrittenDescriptor(workDirectory, bits))),
        Run = input =>
        {
            File.WriteAllBytes(Path.Combine(workDirectory, "store.json"), input);
            var descriptor = StoreDescriptor.Load(workDirectory);
            Check(descriptor is not null, "a descriptor file that exists loads or is refused");
            Check(descriptor!.Format is >= 1 and <= StoreDescriptor.CurrentFormat && descriptor.DataPageSizeBits is >= 16 and <= 30, "a descriptor that loads is one this build can open");
            Check(descriptor.MaxChunkSize is > 0 and <= ChunkLayout.MaxChunkSize, "its largest chunk is within the chunk size limit");
            return $"ok:{descriptor.DataPageSizeBits}";
        },
        MaxInputLength = 4096,

        // Measured: up to about 50 bytes per byte of a malformed file, because System.Text.Json
        // quotes an invalid literal whole (escaped) in its message and Load copies that
        // message into its own (reported: the message should be cut). The file is local, so this
        // bound still catches what matters here: a buffer sized from something the file says.
        AllocationBound = static input => (64L * input.Length) + (64 * 1024),
        Dictionary =
        [
            "\"format\""u8.ToArray(), "\"dataPageSizeBits\""u8.ToArray(), "null"u8.ToArray(), "true"u8.ToArray(), "1e400"u8.ToArray(),
            "-0"u8.ToArray(), "2147483648"u8.ToArray(), "-2147483649"u8.ToArray(), "30"u8.ToArray(), "31"u8.ToArray(), "15"u8.ToArray(),
            "1.5"u8.ToArray(), "\"1\""u8.ToArray(), "[]"u8.ToArray(), "{}"u8.ToArray(), ","u8.ToArray(), ":"u8.ToArray(), "\\u0000"u8.ToArray(),
            "\"\\ud800\""u8.ToArray(), [0xef, 0xbb, 0xbf], [0xff], "/*x*/"u8.ToArray(), "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["u8.ToArray(),
        ],
    };

    /// <summary>The store.json that <see cref="StoreDescriptor"/> writes for a new store.</summary>
    internal static byte[] WrittenDescriptor(string workDirectory, int bits)
    {
        string directory = Path.Combine(workDirectory, $"seed-{bits}");
        Directory.CreateDirectory(directory);
        File.Delete(Path.Combine(directory, "store.json"));
        new StoreDescriptor { DataPageSizeBits = bits, DataSegmentSizeBits = Math.Min(30, bits + 4) }.Save(directory, durable: false);
        return File.ReadAllBytes(Path.Combine(directory, "store.json"));
    }

    /// <summary>A coarse size class, so that outcomes tell apart empty, small, large and limit-sized values without one per length.</summary>
    internal static string Bucket(long value) => value switch
    {
        < 0 => "neg",
        0 => "0",
        1 => "1",
        < 256 => "small",
        < 65536 => "medium",
        _ => "large",
    };

    /// <summary>
    /// The feature of a store descriptor error: the kind of the JSON parser's complaint, without
    /// what it quotes from the file (an invalid literal, whole) or the JSON path (property names
    /// the file chose); else the message without the directory.
    /// </summary>
    private static string DescriptorErrorFeature(OmniStoreException error, string workDirectory)
    {
        if (error.InnerException is not System.Text.Json.JsonException json)
        {
            return Fuzzer.Shape(error.Message.Replace(workDirectory, "DIR", StringComparison.Ordinal));
        }

        string message = json.Message;
        int path = message.IndexOf(" Path:", StringComparison.Ordinal);
        message = path >= 0 ? message[..path] : message;
        int quoted = message.LastIndexOf("' ", StringComparison.Ordinal);
        if (message.StartsWith('\'') && quoted > 0)
        {
            message = message[(quoted + 2)..];
        }

        return "json:" + string.Concat(message.Where(c => char.IsAsciiLetter(c) || c == ' ').Take(80));
    }
}
