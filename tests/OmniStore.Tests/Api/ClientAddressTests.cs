using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Tree;

namespace OmniStore.Tests.Api;

/// <summary>
/// How a connected client takes its addresses: lists, the one InvalidArgument for a bad address,
/// something other than a node at an address, and the log of its failovers.
/// </summary>
public sealed class ClientAddressTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const string Id = "00112233aabbccdd";

    [Theory]
    [InlineData("tcp://127.0.0.1", "'tcp://127.0.0.1' is not a node address: the port is missing")]
    [InlineData("tcp://127.0.0.1:1,,tcp://127.0.0.1:2", "Element 2 of 3: the address is empty")]
    [InlineData("tcp://127.0.0.1:1,tcp://127.0.0.1:1", "Element 2 of 2: 'tcp://127.0.0.1:1' is in the list twice")]
    [InlineData("tcp://127.0.0.1:1,http://127.0.0.1:9100", "Element 2 of 2: 'http://127.0.0.1:9100' is not a node address: the scheme 'http' is not supported")]
    [InlineData("tcp://127.0.0.1:1#" + Id, "names a node id of 16 hex digits; a node id of this version has 32")]
    [InlineData("node:" + Id, "names a node by its id alone")]
    public async Task ConnectAsync_WithABadAddress_IsInvalidArgument_BeforeAnyConnection(string uri, string expected)
    {
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync(uri, cancellationToken: TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken));

        Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABadFallback_IsInvalidArgument_NamingTheSetting()
    {
        var options = new OmniStoreOptions { FallbackUris = ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2, tcp://root"] };

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync("tcp://127.0.0.1:3", options, TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
        Assert.StartsWith("FallbackUris[1], element 2 of 2: 'tcp://root' is not a node address: the port is missing", error.Message, StringComparison.Ordinal);

        var duplicate = new OmniStoreOptions { FallbackUris = ["tcp://127.0.0.1:3"] };
        error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync("tcp://127.0.0.1:3", duplicate, TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.Equal("FallbackUris[0]: 'tcp://127.0.0.1:3' is in the list twice.", error.Message);

        // Options are checked once, up front, the same way for an embedded client.
        Assert.Equal(OmniStoreError.InvalidArgument, Assert.Throws<OmniStoreException>(() => options.Validate()).Error);
    }

    [Fact]
    public async Task ConnectAsync_WithAList_MovesPastAddressesThatDoNotAnswer_AndLogsWhy()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("x", TestData.Random(1000, 1), ct);
        }

        int closed = ClosedPort();
        var logs = new CapturedLogs();
        await using var client = await OmniStoreClient.ConnectAsync($"tcp://127.0.0.1:{closed}, {cluster.Root.Address}", new OmniStoreOptions { LoggerFactory = logs }, ct).WaitAsync(Timeout, ct);

        Assert.Equal(TestData.Random(1000, 1), await client.GetAsync("x", ct).AsTask().WaitAsync(Timeout, ct));
        var failed = Assert.Single(logs.Entries, e => e.EventId.Id == 5000);
        Assert.Equal(LogLevel.Warning, failed.Level);
        Assert.Equal("OmniStore.OmniStoreClient", failed.Category);
        Assert.StartsWith($"Cannot use tcp://127.0.0.1:{closed}: Cannot connect to tcp://127.0.0.1:{closed}: ", failed.Message, StringComparison.Ordinal);
        Assert.EndsWith($"; trying {cluster.Root.Address} next", failed.Message, StringComparison.Ordinal);
        Assert.Contains(logs.Entries, e => e.EventId.Id == 5003 && e.Message.StartsWith($"Connected to {cluster.Root.Address} (root ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnHttpServerAtTheAddress_IsNotAnOmniStoreNode_AndTheClientMovesOn()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var http = ForeignListener.Start("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
        string httpAddress = $"tcp://127.0.0.1:{http.Port}";

        // Alone: unreachable, and the message says what answered.
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync(httpAddress, cancellationToken: ct).WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.Unavailable, error.Error);
        Assert.Equal($"No node is reachable: {httpAddress}: this is not an OmniStore node (it answered with HTTP).", error.Message);

        // First in a list: passed over like an address that does not answer.
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        var logs = new CapturedLogs();
        await using var client = await OmniStoreClient.ConnectAsync($"{httpAddress},{cluster.Root.Address}", new OmniStoreOptions { LoggerFactory = logs }, ct).WaitAsync(Timeout, ct);
        await client.PutAsync("after-http", TestData.Random(100, 2), ct).AsTask().WaitAsync(Timeout, ct);
        Assert.Contains(logs.Entries, e => e.EventId.Id == 5000 && e.Message == $"Cannot use {httpAddress}: This is not an OmniStore node (it answered with HTTP); trying {cluster.Root.Address} next");
    }

    [Fact]
    public async Task OtherBytesAtTheAddress_AreShownEscaped()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var garbage = ForeignListener.Start("\0\u0001\u0002\u0003garbage\u001b[31m\r\nand more than the message shows"u8.ToArray());

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync($"tcp://127.0.0.1:{garbage.Port}", cancellationToken: ct).WaitAsync(Timeout, ct));

        Assert.Equal(OmniStoreError.Unavailable, error.Error);
        Assert.EndsWith(@"this is not an OmniStore node (unexpected bytes '\x00\x01\x02\x03garbage\x1B[31m\x0D\x0Aand more than '...).", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(error.Message, char.IsControl);
    }

    [Fact]
    public async Task ARelayLostMidSession_IsLogged_AsTheMoveToTheNextAddress()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var relay = cluster.Relays[0];
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("y", TestData.Random(5000, 3), ct);
        }

        var logs = new CapturedLogs();
        await using var worker = await OmniStoreClient.ConnectAsync($"{relay.Address},{cluster.Root.Address}", new OmniStoreOptions { LoggerFactory = logs }, ct).WaitAsync(Timeout, ct);
        Assert.Equal(TestData.Random(5000, 3), await worker.GetAsync("y", ct).AsTask().WaitAsync(Timeout, ct));

        await cluster.StopAsync(relay);
        Assert.Equal(TestData.Random(5000, 3), await worker.GetAsync("y", ct).AsTask().WaitAsync(Timeout, ct));

        Assert.Single(logs.Entries, e => e.EventId.Id == 5002 && e.Message.StartsWith($"The connection to {relay.Address} failed: ", StringComparison.Ordinal));
        var moved = Assert.Single(logs.Entries, e => e.EventId.Id == 5004);
        Assert.StartsWith($"Moved from {relay.Address} to {cluster.Root.Address} (root ", moved.Message, StringComparison.Ordinal);
        Assert.EndsWith("; failover 1", moved.Message, StringComparison.Ordinal);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A loopback listener that answers every connection with fixed bytes and closes it: an HTTP server, or anything else.</summary>
    private sealed class ForeignListener : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private Task _loop = Task.CompletedTask;

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static ForeignListener Start(byte[] reply)
        {
            var listener = new ForeignListener();
            listener._listener.Start();
            listener._loop = listener.ServeAsync(reply);
            return listener;
        }

        private async Task ServeAsync(byte[] reply)
        {
            // Bounded: a test makes a handful of connections.
            for (int i = 0; i < 100 && !_stop.IsCancellationRequested; i++)
            {
                try
                {
                    using var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    using var read = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                    read.CancelAfter(Timeout);

                    // Wait for the client's first bytes (its HELLO), as a server waits for a request.
                    await socket.ReceiveAsync(new byte[4096], SocketFlags.None, read.Token);
                    await socket.SendAsync(reply, SocketFlags.None, read.Token);
                    socket.Shutdown(SocketShutdown.Both);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException)
                {
                    if (_stop.IsCancellationRequested)
                    {
                        return;
                    }
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop.WaitAsync(Timeout);
            _stop.Dispose();
        }
    }

}
