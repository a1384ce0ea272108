using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>
/// rudp's datagram sockets (docs/rudp.md, "The Linux fast path"), the portable one and the Linux
/// fast path (recvmmsg + UDP_GRO, sendmmsg + UDP_SEGMENT), each against the kernel over loopback:
/// every datagram arrives whole, in order, from its sender's address, however it was batched
/// (GSO items split into datagrams, GRO buffers split by their segment size), and either path
/// talks to the other.
/// </summary>
public sealed class DatagramSocketTests
{
    public const string Portable = "portable";
    public const string Linux = "linux";

    /// <summary>The fast path with GSO and GRO off: one message per datagram each way.</summary>
    public const string LinuxPlain = "linux-plain";

    private static readonly TimeSpan ReceiveDeadline = TimeSpan.FromSeconds(10);

    public static TheoryData<string> Kinds => new(Portable, Linux, LinuxPlain);

    public static TheoryData<string, string> Pairs => new()
    {
        { Portable, Portable },
        { Linux, Linux },
        { Linux, Portable },
        { Portable, Linux },
        { LinuxPlain, Linux },
        { Linux, LinuxPlain },
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task ItemsOfManySizes_ToTwoReceivers_ArriveWhole_InOrder_FromTheSender(string senderKind, string receiverKind)
    {
        var ct = TestContext.Current.CancellationToken;
        var loopback = new IPEndPoint(IPAddress.Loopback, 0);
        using var sender = Open(senderKind, loopback);
        using var first = Open(receiverKind, loopback);
        using var second = Open(receiverKind, loopback);

        var toFirst = new Expected(first.LocalEndPoint, tag: 1);
        var toSecond = new Expected(second.LocalEndPoint, tag: 2);
        var items = new List<OutgoingDatagrams>();
        foreach (int size in new[] { 1, 64, 1200, 1400, 1472, 8000, 65_507 })
        {
            items.Add(toFirst.Item(segment: size, count: 1, last: size));
            items.Add(toSecond.Item(segment: size, count: 1, last: size));
        }

        items.Add(toFirst.Item(segment: 1400, count: 40, last: 700)); // one GSO send: 40 datagrams, a shorter last
        items.Add(toSecond.Item(segment: 1200, count: 3, last: 1200)); // equal sizes throughout
        items.Add(toFirst.Item(segment: 1000, count: 100, last: 1000)); // beyond 64 segments: two GSO sends
        items.Add(toSecond.Item(segment: 1472, count: 50, last: 100)); // beyond 65507 bytes: two GSO sends
        items.Add(toFirst.Item(segment: 500, count: 1, last: 300)); // one datagram shorter than its segment size
        items.Add(toSecond.Item(segment: 9000, count: 5, last: 8999));

        var receivingFirst = ReceiveAsync(first, toFirst.Datagrams.Count, ct);
        var receivingSecond = ReceiveAsync(second, toSecond.Datagrams.Count, ct);
        sender.Send(items.ToArray());

        var gotFirst = await receivingFirst;
        var gotSecond = await receivingSecond;
        Assert.Equal(0, sender.SendDrops);
        toFirst.AssertReceived(gotFirst.Datagrams, sender.LocalEndPoint);
        toSecond.AssertReceived(gotSecond.Datagrams, sender.LocalEndPoint);

        if (senderKind == Linux && receiverKind == Linux && sender.Mode.Contains("gso", StringComparison.Ordinal) && first.Mode.Contains("gro", StringComparison.Ordinal))
        {
            // Over loopback the kernel hands a GSO send to a UDP_GRO socket as it was sent: one
            // buffer, the segment size beside it, split by ForEachDatagram.
            Assert.Contains(1400, gotFirst.SegmentSizes);
            Assert.Contains(1000, gotFirst.SegmentSizes);
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task ManySends_OfSmallItems_AllArrive(string kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var loopback = new IPEndPoint(IPAddress.Loopback, 0);
        using var sender = Open(kind, loopback);
        using var receiver = Open(kind, loopback);
        var expected = new Expected(receiver.LocalEndPoint, tag: 3);
        var items = new OutgoingDatagrams[200]; // more messages than one sendmmsg takes
        for (int i = 0; i < items.Length; i++)
        {
            items[i] = expected.Item(segment: 100 + i, count: 1, last: 100 + i);
        }

        var receiving = ReceiveAsync(receiver, expected.Datagrams.Count, ct);
        sender.Send(items);
        expected.AssertReceived((await receiving).Datagrams, sender.LocalEndPoint);
        Assert.Equal(0, sender.SendDrops);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task OverIPv6Loopback_DatagramsArriveFromTheSender(string kind)
    {
        Assert.SkipUnless(Socket.OSSupportsIPv6, "this host has no IPv6");
        var ct = TestContext.Current.CancellationToken;
        var loopback = new IPEndPoint(IPAddress.IPv6Loopback, 0);
        DatagramSocket sender;
        try
        {
            sender = Open(kind, loopback);
        }
        catch (OmniStoreException ex)
        {
            Assert.Skip($"cannot bind [::1]: {ex.Message}");
            return;
        }

        using (sender)
        {
            using var receiver = Open(kind, loopback);
            var expected = new Expected(receiver.LocalEndPoint, tag: 4);
            OutgoingDatagrams[] items =
            [
                expected.Item(segment: 1, count: 1, last: 1),
                expected.Item(segment: 1400, count: 40, last: 1),
                expected.Item(segment: 65_000, count: 1, last: 65_000),
                expected.Item(segment: 1232, count: 7, last: 1000),
            ];

            var receiving = ReceiveAsync(receiver, expected.Datagrams.Count, ct);
            sender.Send(items);
            expected.AssertReceived((await receiving).Datagrams, sender.LocalEndPoint);
            Assert.Equal(0, sender.SendDrops);
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Receive_WithNothingPending_ReturnsZeroWithinASecond(string kind)
    {
        using var socket = Open(kind, new IPEndPoint(IPAddress.Loopback, 0));
        var batch = new DatagramBatch(8, AddressFamily.InterNetwork);
        var clock = Stopwatch.StartNew();
        Assert.Equal(0, socket.Receive(batch));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Dispose_WakesABlockedReceive_AndLaterCallsThrow(string kind)
    {
        var socket = Open(kind, new IPEndPoint(IPAddress.Loopback, 0));
        var batch = new DatagramBatch(8, AddressFamily.InterNetwork);
        using var receiving = new ManualResetEventSlim();
        var receiver = Task.Factory.StartNew(() =>
        {
            receiving.Set();
            try
            {
                // Keeps receiving, as a receive loop does, until the socket says it is closed.
                while (true)
                {
                    socket.Receive(batch);
                }
            }
            catch (ObjectDisposedException)
            {
            }
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        receiving.Wait(TestContext.Current.CancellationToken);
        await Task.Delay(100, TestContext.Current.CancellationToken); // inside Receive by now
        var clock = Stopwatch.StartNew();
        socket.Dispose();
        await receiver.WaitAsync(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(2));

        Assert.Throws<ObjectDisposedException>(() => socket.Receive(batch));
        var to = new IPEndPoint(IPAddress.Loopback, 9).Serialize();
        Assert.Throws<ObjectDisposedException>(() => socket.Send([new OutgoingDatagrams(to, new byte[10], 10)]));
        socket.Dispose(); // twice is harmless
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task SendingToAPortNobodyListensOn_NeitherThrowsNorStopsTheSocket(string kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var loopback = new IPEndPoint(IPAddress.Loopback, 0);
        using var sender = Open(kind, loopback);
        using var receiver = Open(kind, loopback);
        SocketAddress nobody;
        using (var closed = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            closed.Bind(loopback);
            nobody = closed.LocalEndPoint!.Serialize();
        }

        var expected = new Expected(receiver.LocalEndPoint, tag: 5);
        sender.Send([new OutgoingDatagrams(nobody, new byte[3000], 1000), new OutgoingDatagrams(nobody, new byte[100], 100)]);
        var receiving = ReceiveAsync(sender, expected: 0, ct, TimeSpan.FromMilliseconds(300)); // any ICMP error is read here
        Assert.Empty((await receiving).Datagrams);

        var item = expected.Item(segment: 1000, count: 3, last: 10);
        var receivingOnTheOther = ReceiveAsync(receiver, expected.Datagrams.Count, ct);
        sender.Send([item]);
        expected.AssertReceived((await receivingOnTheOther).Datagrams, sender.LocalEndPoint);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task SendAndReceiveOnTwoThreads_WhileAThirdDisposes_EndCleanly(string kind)
    {
        var ct = TestContext.Current.CancellationToken;
        for (int round = 0; round < 8; round++)
        {
            var socket = Open(kind, new IPEndPoint(IPAddress.Loopback, 0));
            var self = socket.LocalEndPoint.Serialize();
            var data = new byte[1200 * 20];
            long received = 0;
            var receiver = Task.Factory.StartNew(() =>
            {
                var batch = new DatagramBatch(16, AddressFamily.InterNetwork);
                try
                {
                    while (true)
                    {
                        int count = socket.Receive(batch);
                        for (int i = 0; i < count; i++)
                        {
                            batch.ForEachDatagram(i, 0, (_, _, _) => received++);
                        }
                    }
                }
                catch (ObjectDisposedException)
                {
                }
            }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var sender = Task.Factory.StartNew(() =>
            {
                try
                {
                    while (true)
                    {
                        socket.Send([new OutgoingDatagrams(self, data, 1200), new OutgoingDatagrams(self, data.AsMemory(0, 500), 1200)]);
                    }
                }
                catch (ObjectDisposedException)
                {
                }
            }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

            await Task.Delay(50 + (round * 10), ct);
            socket.Dispose();
            await Task.WhenAll(receiver, sender).WaitAsync(TimeSpan.FromSeconds(2), ct);
            Assert.True(received > 0, "nothing was received before the socket was disposed");
        }
    }

    [Fact]
    public async Task AGsoSendTheKernelRefuses_IsSentDatagramByDatagram_AndGsoIsTurnedOff()
    {
        var ct = TestContext.Current.CancellationToken;
        var loopback = new IPEndPoint(IPAddress.Loopback, 0);
        using var sender = Open(Linux, loopback);
        Assert.SkipUnless(sender.Mode.Contains("+gso", StringComparison.Ordinal), "this kernel has no UDP_SEGMENT");
        using var receiver = Open(Linux, loopback);

        // SO_NO_CHECK (no UDP checksums): the kernel refuses UDP_SEGMENT sends with EINVAL, as a
        // device without checksum offload refuses them with EIO.
        Span<byte> on = stackalloc byte[sizeof(int)];
        BitConverter.TryWriteBytes(on, 1);
        ((LinuxDatagramSocket)sender).Socket.SetRawSocketOption(1, 11, on);

        var expected = new Expected(receiver.LocalEndPoint, tag: 6);
        OutgoingDatagrams[] items =
        [
            expected.Item(segment: 1400, count: 40, last: 700),
            expected.Item(segment: 100, count: 1, last: 100),
            expected.Item(segment: 1000, count: 70, last: 1),
        ];
        var receiving = ReceiveAsync(receiver, expected.Datagrams.Count, ct);
        sender.Send(items);
        expected.AssertReceived((await receiving).Datagrams, sender.LocalEndPoint);
        Assert.Equal(0, sender.SendDrops);
        Assert.Equal("sendmmsg/recvmmsg+gro", sender.Mode);
    }

    [Fact]
    public void Open_PicksTheLinuxPathOnLinux_AndThePortableOneWhenAsked()
    {
        var loopback = new IPEndPoint(IPAddress.Loopback, 0);
        using (var portable = DatagramSocket.Open(loopback, portableOnly: true))
        {
            Assert.IsType<PortableDatagramSocket>(portable);
            Assert.Equal("portable", portable.Mode);
        }

        using var chosen = DatagramSocket.Open(loopback);
        if (!OperatingSystem.IsLinux())
        {
            Assert.IsType<PortableDatagramSocket>(chosen);
            return;
        }

        Assert.IsType<LinuxDatagramSocket>(chosen);
        Assert.StartsWith("sendmmsg", chosen.Mode, StringComparison.Ordinal);
        Assert.Contains("/recvmmsg", chosen.Mode, StringComparison.Ordinal);
        TestContext.Current.TestOutputHelper?.WriteLine($"mode: {chosen.Mode}");
    }

    [Fact]
    public void ABindThatFails_ThrowsUnavailable_OnBothPaths()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var busy = (IPEndPoint)taken.LocalEndPoint!;
        Assert.Equal(OmniStoreError.Unavailable, Assert.Throws<OmniStoreException>(() => DatagramSocket.Open(busy, portableOnly: true)).Error);
        Assert.Equal(OmniStoreError.Unavailable, Assert.Throws<OmniStoreException>(() => DatagramSocket.Open(busy)).Error);
    }

    // ---- helpers ----------------------------------------------------------------------------

    private static DatagramSocket Open(string kind, IPEndPoint local)
    {
        if (kind == Portable)
        {
            return PortableDatagramSocket.Open(local);
        }

        Assert.SkipUnless(OperatingSystem.IsLinux(), "the fast path is Linux's");
        var socket = LinuxDatagramSocket.TryOpen(local, useGso: kind == Linux, useGro: kind == Linux);
        if (socket is null)
        {
            Assert.Skip("this kernel (or a seccomp filter) refuses recvmmsg/sendmmsg: the fast path is not available");
        }

        return socket;
    }

    private sealed record Received(List<(byte[] Data, IPEndPoint From)> Datagrams, List<int> SegmentSizes);

    /// <summary>Receives until <paramref name="expected"/> datagrams came (or the deadline passed), on a thread of its own.</summary>
    private static Task<Received> ReceiveAsync(DatagramSocket socket, int expected, CancellationToken ct, TimeSpan? deadline = null) =>
        Task.Factory.StartNew(() =>
        {
            var family = socket.LocalEndPoint.AddressFamily;
            var any = new IPEndPoint(family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
            var batch = new DatagramBatch(32, family);
            var received = new Received([], []);
            var clock = Stopwatch.StartNew();
            while ((expected == 0 || received.Datagrams.Count < expected) && clock.Elapsed < (deadline ?? ReceiveDeadline))
            {
                ct.ThrowIfCancellationRequested();
                int count = socket.Receive(batch);
                for (int i = 0; i < count; i++)
                {
                    received.SegmentSizes.Add(batch.SegmentSizes[i]);
                    batch.ForEachDatagram(i, (received.Datagrams, any), static (state, datagram, from) =>
                        state.Datagrams.Add((datagram.ToArray(), (IPEndPoint)state.any.Create(from))));
                }
            }

            return received;
        }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>What one receiver should get, in order: each datagram numbered and filled with a pattern of its own.</summary>
    private sealed class Expected(IPEndPoint to, byte tag)
    {
        private readonly SocketAddress _to = to.Serialize();

        public List<byte[]> Datagrams { get; } = [];

        /// <summary>An item of <paramref name="count"/> datagrams of <paramref name="segment"/> bytes, the last of <paramref name="last"/>.</summary>
        public OutgoingDatagrams Item(int segment, int count, int last)
        {
            var data = new byte[(segment * (count - 1)) + last];
            for (int i = 0; i < count; i++)
            {
                var datagram = data.AsSpan(i * segment, i == count - 1 ? last : segment);
                Fill(datagram, Datagrams.Count);
                Datagrams.Add(datagram.ToArray());
            }

            return new OutgoingDatagrams(_to, data, segment);
        }

        private void Fill(Span<byte> datagram, int number)
        {
            for (int j = 0; j < datagram.Length; j++)
            {
                datagram[j] = (byte)((number * 31) + (j * 7) + tag);
            }

            if (datagram.Length >= 4)
            {
                BitConverter.TryWriteBytes(datagram, number);
            }
        }

        public void AssertReceived(List<(byte[] Data, IPEndPoint From)> received, IPEndPoint sender)
        {
            Assert.Equal(Datagrams.Count, received.Count);
            for (int i = 0; i < Datagrams.Count; i++)
            {
                Assert.True(Datagrams[i].AsSpan().SequenceEqual(received[i].Data),
                    $"datagram {i} ({Datagrams[i].Length} bytes) came as {received[i].Data.Length} bytes that differ");
                Assert.Equal(sender, received[i].From);
            }
        }
    }
}
