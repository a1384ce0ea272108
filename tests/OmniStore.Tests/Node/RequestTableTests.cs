using OmniStore.Node;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Tests.Tree;
using OmniStore.Transport;

namespace OmniStore.Tests.Node;

/// <summary>
/// Requests map to handlers in one table, by frame type and the side of the tree they may come
/// from; a module adds its own entries when the node starts, and the node serves them like its own.
/// </summary>
public sealed class RequestTableTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly RequestHandler Nothing = static (_, _, _) => Task.CompletedTask;

    [Fact]
    public void ARequestType_IsServedByOneHandler()
    {
        var table = new RequestTable();
        table.Add(FrameType.Resolve, TreeSide.Child, Nothing);

        var ex = Assert.Throws<InvalidOperationException>(() => table.Add(FrameType.Resolve, TreeSide.Child, Nothing));
        Assert.Contains("Resolve is served already", ex.Message);
    }

    [Theory]
    [InlineData((byte)FrameType.Hello)]
    [InlineData((byte)FrameType.Ping)]
    [InlineData((byte)FrameType.Cancel)]
    [InlineData((byte)FrameType.GoAway)]
    [InlineData((byte)FrameType.Trace)]
    public void FramesOfTheConnectionItself_CannotBeRegistered(byte type)
    {
        var ex = Assert.Throws<ArgumentException>(() => new RequestTable().Add((FrameType)type, TreeSide.Child, Nothing));
        Assert.Contains("belongs to the connection itself", ex.Message);
    }

    [Fact]
    public void OnceSealed_TheTableTakesNoMoreEntries()
    {
        var table = new RequestTable();
        table.Seal();

        var ex = Assert.Throws<InvalidOperationException>(() => table.Add(FrameType.Resolve, TreeSide.Child, Nothing));
        Assert.Contains("fixed once the node has started", ex.Message);
    }

    [Fact]
    public void Route_RefusesAnUnservedType_AndOneFromTheWrongSide_NamingWhatIsAllowed()
    {
        var table = new RequestTable();
        table.Add(FrameType.Resolve, TreeSide.Child, Nothing);
        table.Add(FrameType.Update, TreeSide.Parent, Nothing);
        table.Add(FrameType.PushChunk, TreeSide.Parent, Nothing);

        Assert.Same(table.Find(FrameType.Resolve), table.Route(FrameType.Resolve, TreeSide.Child, ProtocolLimits.MaxVersion));
        Assert.Same(table.Find(FrameType.Update), table.Route(FrameType.Update, TreeSide.Parent, ProtocolLimits.MaxVersion));

        var unserved = Assert.Throws<OmniStoreException>(() => table.Route(FrameType.Bind, TreeSide.Child, ProtocolLimits.MaxVersion));
        Assert.Equal(OmniStoreError.ProtocolError, unserved.Error);
        Assert.Contains("Bind is not a request", unserved.Message);

        var fromParent = Assert.Throws<OmniStoreException>(() => table.Route(FrameType.Resolve, TreeSide.Parent, ProtocolLimits.MaxVersion));
        Assert.Equal(OmniStoreError.ProtocolError, fromParent.Error);
        Assert.Contains("a parent may only send UPDATE, PUSH_CHUNK", fromParent.Message);

        var fromChild = Assert.Throws<OmniStoreException>(() => table.Route(FrameType.Update, TreeSide.Child, ProtocolLimits.MaxVersion));
        Assert.Contains("Update is a parent's request; a child may not send it", fromChild.Message);
    }

    [Fact]
    public void Route_RefusesARequestNewerThanTheConnectionsVersion_NamingBoth()
    {
        var table = new RequestTable();
        table.Add(FrameType.GetObject, TreeSide.Child, Nothing, since: ProtocolLimits.ObjectVersion);

        Assert.Same(table.Find(FrameType.GetObject), table.Route(FrameType.GetObject, TreeSide.Child, ProtocolLimits.ObjectVersion));
        var older = Assert.Throws<OmniStoreException>(() => table.Route(FrameType.GetObject, TreeSide.Child, ProtocolLimits.MinVersion));
        Assert.Equal(OmniStoreError.ProtocolError, older.Error);
        Assert.Contains("GET_OBJECT is a request of protocol version 3; this connection speaks 2", older.Message);
    }

    [Fact]
    public async Task AModulesRequest_IsServedByTheNode_AndTheNodesOwnStillAre()
    {
        var ct = TestContext.Current.CancellationToken;
        var module = new EchoModule();
        await using var cluster = await TreeCluster.StartWithAsync(relays: 0, options => options with { Modules = [module] });
        await using var child = await ConnectAsync(cluster.Root, ct);

        using var echoed = await child.RequestAsync(EchoModule.Type, "hello"u8.ToArray(), ct).WaitAsync(Timeout, ct);
        Assert.Equal("olleh"u8.ToArray(), echoed.Payload.ToArray());
        Assert.Equal(1, module.Served);

        // The node's own table is intact: an unbound name is NotFound, not a protocol error.
        var miss = await Assert.ThrowsAsync<OmniStoreException>(() => child.RequestAsync(FrameType.Resolve, Names.Encode("no/such"), ct).WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.NotFound, miss.Error);
    }

    [Fact]
    public async Task AChildAskingForACopy_AsOnlyAParentMay_IsRefused_AndTheNodeServesOn()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartWithAsync(relays: 0, options => options);
        await using var child = await ConnectAsync(cluster.Root, ct);

        // GET_COPY makes a node read its store for the asker: only its parent may ask, whatever length it names.
        foreach (int length in new[] { 1, int.MaxValue })
        {
            var payload = ChunkRequests.Encode(OmniStore.Content.ChunkId.Compute("x"u8), 1);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(OmniStore.Content.ChunkId.Size), length);
            var refused = await Assert.ThrowsAsync<OmniStoreException>(() => child.RequestAsync(FrameType.GetCopy, payload, ct).WaitAsync(Timeout, ct));
            Assert.Equal(OmniStoreError.ProtocolError, refused.Error);
        }

        await using var next = await ConnectAsync(cluster.Root, ct);
        var miss = await Assert.ThrowsAsync<OmniStoreException>(() => next.RequestAsync(FrameType.Resolve, Names.Encode("still/serving"), ct).WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.NotFound, miss.Error);
    }

    [Fact]
    public async Task AModuleThatRegistersANodesOwnType_KeepsTheNodeFromStarting()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            TreeCluster.StartWithAsync(relays: 0, options => options with { Modules = [new HijackModule()] }));
        Assert.Contains("Resolve is served already", ex.Message);
    }

    private static async Task<PeerConnection> ConnectAsync(TreeNode node, CancellationToken ct)
    {
        var transport = await TransportRegistry.Default.ConnectAsync(node.Address, new LinkCounters(), ct);
        return await PeerConnection.StartAsync(transport, isOpener: true, ConnectionIdentity.NewClient(), handler: null, ConnectionLimits.Default, logger: null, ct);
    }

    /// <summary>
    /// Serves a request type the node does not: a response type stands in for the frame type a real
    /// module (NAT traversal's rendezvous) adds to the protocol.
    /// </summary>
    private sealed class EchoModule : INodeModule
    {
        public const FrameType Type = FrameType.Manifest;

        private int _served;

        public int Served => _served;

        public void AddRequests(RequestTable table) => table.Add(Type, TreeSide.Child, async (connection, request, _) =>
        {
            Interlocked.Increment(ref _served);
            var reversed = request.Payload.ToArray();
            Array.Reverse(reversed);
            await connection.RespondAsync(request.Stream, FrameType.Ok, reversed);
        });
    }

    private sealed class HijackModule : INodeModule
    {
        public void AddRequests(RequestTable table) => table.Add(FrameType.Resolve, TreeSide.Child, Nothing);
    }
}
