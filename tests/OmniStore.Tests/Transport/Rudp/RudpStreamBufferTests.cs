using OmniStore.Tests.Infrastructure;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>
/// The stream's two ends: ranges kept merged; a receiver that puts frames in any order, duplicated
/// or overlapping, in place and refuses what the window or the final size forbid; a sender that
/// re-sends lost ranges but never an acknowledged part, stays within the peer's window and its own
/// capacity, and carries the FIN (again, alone if need be). And both together over a channel that
/// loses, duplicates and reorders: the bytes arrive whole and in order.
/// </summary>
public sealed class RudpStreamBufferTests
{
    [Fact]
    public void RangeSet_MergesSplitsAndCovers_AsAListOfFlagsWould()
    {
        var random = new Random(7);
        var set = new RangeSet();
        var flags = new bool[300];
        for (int i = 0; i < 2000; i++)
        {
            int a = random.Next(300), b = random.Next(300);
            (int start, int end) = (Math.Min(a, b), Math.Max(a, b));
            bool add = random.Next(3) != 0;
            if (add)
            {
                set.Add(start, end);
            }
            else
            {
                set.Remove(start, end);
            }

            for (int x = start; x < end; x++)
            {
                flags[x] = add;
            }

            // The same offsets, as disjoint, sorted, non-touching ranges.
            var expected = new List<(long, long)>();
            for (int x = 0; x < flags.Length; x++)
            {
                if (flags[x] && (x == 0 || !flags[x - 1]))
                {
                    int y = x;
                    while (y < flags.Length && flags[y])
                    {
                        y++;
                    }

                    expected.Add((x, y));
                }
            }

            Assert.Equal(expected, set.Ranges);
            int c = random.Next(300), d = random.Next(c, 301);
            Assert.Equal(Enumerable.Range(c, d - c).All(x => flags[x]), set.Covers(c, d));
        }
    }

    [Fact]
    public void Receiver_PutsFramesInPlace_InAnyOrder_WithDuplicatesAndOverlaps()
    {
        var data = TestData.Random(10_000, 1);
        var receiver = new StreamReceiveBuffer(16_384);
        Assert.Null(receiver.Receive(5000, data.AsSpan(5000, 3000), fin: false));
        Assert.Equal(0, receiver.Readable);
        Assert.Null(receiver.Receive(0, data.AsSpan(0, 2000), fin: false));
        Assert.Equal(2000, receiver.Readable);
        Assert.Null(receiver.Receive(1000, data.AsSpan(1000, 5000), fin: false)); // overlaps both
        Assert.Null(receiver.Receive(8000, data.AsSpan(8000, 2000), fin: true));
        Assert.Null(receiver.Receive(0, data.AsSpan(0, 100), fin: false)); // a duplicate
        var read = new byte[10_000];
        Assert.Equal(10_000, receiver.Read(read));
        Assert.Equal(data, read);
        Assert.True(receiver.Finished);
    }

    [Fact]
    public void Receiver_RefusesWhatTheWindowOrTheFinalSizeForbid_AndStoresNothingOfIt()
    {
        var receiver = new StreamReceiveBuffer(1000);
        Assert.Contains("past the window", receiver.Receive(900, new byte[101], fin: false));
        Assert.Contains("out of range", receiver.Receive(long.MaxValue - 5, new byte[10], fin: false));
        Assert.Null(receiver.Receive(0, new byte[500], fin: true));
        Assert.Contains("final size", receiver.Receive(400, new byte[200], fin: false)); // past the end
        Assert.Contains("final size", receiver.Receive(0, new byte[400], fin: true));    // the end moved
        Assert.Null(receiver.Receive(0, new byte[500], fin: true));                     // the same end again
        Assert.Equal(500, receiver.Readable);

        var early = new StreamReceiveBuffer(1000);
        Assert.Null(early.Receive(600, new byte[100], fin: false));
        Assert.Contains("below bytes already received", early.Receive(0, new byte[300], fin: true));
    }

    [Fact]
    public void Receiver_MovesItsWindow_OnceHalfOfItWasRead()
    {
        var receiver = new StreamReceiveBuffer(1000);
        Assert.Null(receiver.Receive(0, new byte[1000], fin: false));
        Assert.Null(receiver.WindowUpdate()); // nothing read yet
        receiver.Read(new byte[400]);
        Assert.Null(receiver.WindowUpdate()); // less than half a window
        receiver.Read(new byte[200]);
        Assert.Equal(1600, receiver.WindowUpdate());
        Assert.Equal(1600, receiver.Limit);
        Assert.Null(receiver.Receive(1000, new byte[600], fin: false)); // now within the window (the ring wraps)
        Assert.Contains("past the window", receiver.Receive(1600, new byte[1], fin: false));
    }

    [Fact]
    public void Sender_StaysWithinThePeersWindowAndItsCapacity()
    {
        var sender = new StreamSendBuffer(1000, peerLimit: 600);
        Assert.Equal(1000, sender.Write(new byte[1500]));
        Assert.Equal(0, sender.Free);
        Assert.Equal((0L, 400, false), sender.Next(400));
        Assert.Equal((400L, 200, false), sender.Next(400)); // the peer's window ends at 600
        Assert.Null(sender.Next(400));
        sender.OnMaxData(500); // lower: ignored
        Assert.Null(sender.Next(400));
        sender.OnMaxData(2000);
        Assert.Equal((600L, 400, false), sender.Next(1000));
        sender.OnAcked(0, 400, false);
        Assert.Equal(400, sender.Free);
    }

    [Fact]
    public void Sender_ResendsLostRanges_ButNeverAnAcknowledgedPart()
    {
        var sender = new StreamSendBuffer(10_000, peerLimit: 10_000);
        var data = TestData.Random(3000, 2);
        sender.Write(data);
        sender.Close();
        var a = sender.Next(1000)!.Value;
        var b = sender.Next(1000)!.Value;
        var c = sender.Next(1000)!.Value;
        Assert.True(c.Fin);
        Assert.Null(sender.Next(1000));

        // b was sent twice meanwhile (a probe): the first copy is declared lost after the second was acknowledged in part.
        sender.OnAcked(1200, 300, false);
        sender.OnLost(b.Offset, b.Length, false);
        Assert.Equal((1000L, 200, false), sender.Next(1000));
        Assert.Equal((1500L, 500, false), sender.Next(1000));
        Assert.Null(sender.Next(1000));

        // The FIN's packet lost too, its bytes acknowledged by another copy: the FIN goes alone.
        sender.OnAcked(c.Offset, c.Length, false);
        sender.OnLost(c.Offset, c.Length, true);
        Assert.Equal((3000L, 0, true), sender.Next(1000));
        var bytes = new byte[200];
        sender.CopyTo(1000, bytes);
        Assert.Equal(data.AsSpan(1000, 200).ToArray(), bytes);

        sender.OnAcked(a.Offset, a.Length, false);
        sender.OnAcked(1000, 1000, false);
        Assert.False(sender.Done);
        sender.OnAcked(3000, 0, true);
        Assert.True(sender.Done);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    [InlineData(0.3)]
    public void BothEnds_OverAChannelThatLosesDuplicatesAndReorders_DeliverTheBytesWholeAndInOrder(double loss)
    {
        var random = new Random(11);
        var data = TestData.Random(200_000, 3);
        var sender = new StreamSendBuffer(32_768, peerLimit: 16_384);
        var receiver = new StreamReceiveBuffer(16_384);
        var received = new MemoryStream();
        int written = 0;
        var inFlight = new List<(long Offset, int Length, bool Fin, byte[] Bytes)>();
        var chunk = new byte[8192];
        for (int step = 0; step < 200_000 && !sender.Done; step++)
        {
            if (written < data.Length)
            {
                written += sender.Write(data.AsSpan(written));
                if (written == data.Length)
                {
                    sender.Close();
                }
            }

            while (inFlight.Count < 16 && sender.Next(1200) is { } frame)
            {
                var bytes = new byte[frame.Length];
                sender.CopyTo(frame.Offset, bytes);
                inFlight.Add((frame.Offset, frame.Length, frame.Fin, bytes));
            }

            if (inFlight.Count == 0)
            {
                continue;
            }

            // One packet's fate: a random one of those in flight (reordering), lost or delivered (and sometimes twice).
            int pick = random.Next(inFlight.Count);
            var packet = inFlight[pick];
            inFlight.RemoveAt(pick);
            if (random.NextDouble() < loss)
            {
                sender.OnLost(packet.Offset, packet.Length, packet.Fin);
                continue;
            }

            for (int copies = random.Next(10) == 0 ? 2 : 1; copies > 0; copies--)
            {
                Assert.Null(receiver.Receive(packet.Offset, packet.Bytes, packet.Fin));
            }

            sender.OnAcked(packet.Offset, packet.Length, packet.Fin);
            int n;
            while ((n = receiver.Read(chunk)) > 0)
            {
                received.Write(chunk, 0, n);
            }

            if (receiver.WindowUpdate() is { } limit)
            {
                sender.OnMaxData(limit);
            }
        }

        Assert.True(sender.Done, "the sender finished");
        Assert.True(receiver.Finished, "the receiver read to the end");
        Assert.Equal(data, received.ToArray());
    }

    [Fact]
    public void Receiver_RefusesAPeerThatLeavesAGapAfterEveryByte()
    {
        var receiver = new StreamReceiveBuffer(64 * 1024, initialRing: 4096);
        string? problem = null;
        for (int offset = 1; offset < 64 * 1024 && problem is null; offset += 2)
        {
            problem = receiver.Receive(offset, [0x42], fin: false);
        }

        Assert.NotNull(problem);
        Assert.Contains("separate ranges", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Receiver_GrowsItsRingAndWindow_KeepingWhatItHolds()
    {
        var receiver = new StreamReceiveBuffer(8192, initialRing: 1024);
        var data = Enumerable.Range(0, 64 * 1024).Select(i => (byte)(i * 7)).ToArray();
        Assert.Null(receiver.Receive(4096, data.AsSpan(4096, 4096), fin: false)); // past the ring: it grows
        Assert.Null(receiver.Receive(0, data.AsSpan(0, 4096), fin: false));
        Assert.Equal(8192, receiver.Allocated);
        var read = new byte[8192];
        Assert.Equal(8192, receiver.Read(read));
        Assert.Equal(data.AsSpan(0, 8192).ToArray(), read);
        receiver.GrowWindow(32 * 1024);
        Assert.Equal(8192 + (32 * 1024), receiver.WindowUpdate());
        Assert.Null(receiver.Receive(8192, data.AsSpan(8192, 32 * 1024), fin: true));
        var rest = new byte[32 * 1024];
        Assert.Equal(rest.Length, receiver.Read(rest));
        Assert.Equal(data.AsSpan(8192, 32 * 1024).ToArray(), rest);
        Assert.True(receiver.Finished);
    }
}
