using OmniStore.Content;
using OmniStore.Node.Internal;
using OmniStore.Protocol;

namespace OmniStore.Tests.Protocol;

/// <summary>WATCH and CHANGE read as hostile, and a watcher's bounded queue (docs/watch.md, "Watch").</summary>
public sealed class WatchMessagesTests
{
    private static readonly WatchRequest Asked = new(10, "a/");

    private static ChangeMessage Bound(long sequence, string name, ChangeKind kind = ChangeKind.Bound) =>
        new(sequence, kind, new ObjectInfo(name, 100, 1 << 20, 1, 3, ManifestId.Compute("m"u8)));

    [Fact]
    public void AWatch_RoundTrips_AndAFromBelowMinusOne_IsMalformed()
    {
        Assert.Equal(Asked, ListMessages.DecodeWatch(ListMessages.EncodeWatch(Asked)));
        Assert.Equal(new WatchRequest(-1, ""), ListMessages.DecodeWatch(ListMessages.EncodeWatch(new WatchRequest(-1, ""))));
        var error = Assert.Throws<OmniStoreException>(() => ListMessages.DecodeWatch(ListMessages.EncodeWatch(new WatchRequest(-2, "a/"))));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
    }

    [Fact]
    public void Changes_RoundTrip_InOrder_WithPositionsAndResets()
    {
        var reader = new ListMessages.ChangeReader(Asked);
        ChangeMessage[] changes =
        [
            new(10, ChangeKind.Position, null),
            Bound(11, "a/x"),
            Bound(14, "a/x", ChangeKind.Rebound),
            ChangeMessage.Deleted(15, "a/y", 4),
            new(15, ChangeKind.Position, null),
            new(3, ChangeKind.Reset, null), // a reset may go back: the watcher resynchronizes
            Bound(4, "a/z"),
        ];
        foreach (var change in changes)
        {
            Assert.Equal(change, reader.Read(ListMessages.EncodeChange(change)));
        }
    }

    public static TheoryData<string, byte[][]> Hostile => new()
    {
        { "unknown kind", [Kind(ListMessages.EncodeChange(Bound(11, "a/x")), 5)] },
        { "sequence not growing", [ListMessages.EncodeChange(Bound(11, "a/x")), ListMessages.EncodeChange(Bound(11, "a/y"))] },
        { "sequence going back", [ListMessages.EncodeChange(Bound(12, "a/x")), ListMessages.EncodeChange(Bound(11, "a/y"))] },
        { "not after from", [ListMessages.EncodeChange(Bound(10, "a/x"))] },
        { "position going back", [ListMessages.EncodeChange(new ChangeMessage(9, ChangeKind.Position, null))] },
        { "outside the prefix", [ListMessages.EncodeChange(Bound(11, "b/x"))] },
        { "a deletion naming an object", [Kind(ListMessages.EncodeChange(Bound(11, "a/x")), (byte)ChangeKind.Deleted)] },
        { "trailing bytes", [[.. ListMessages.EncodeChange(Bound(11, "a/x")), 0]] },
        { "a reset with an entry", [Kind(ListMessages.EncodeChange(Bound(11, "a/x")), (byte)ChangeKind.Reset)] },
        { "cut short", [ListMessages.EncodeChange(Bound(11, "a/x"))[..20]] },
        { "an invalid name", [Name(ListMessages.EncodeChange(Bound(11, "a/x")), 0x0A)] },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void HostileChanges_AreProtocolErrors(string what, byte[][] payloads)
    {
        var reader = new ListMessages.ChangeReader(Asked);
        var error = Assert.Throws<OmniStoreException>(() =>
        {
            foreach (var payload in payloads)
            {
                reader.Read(payload);
            }
        });
        Assert.True(error.Error == OmniStoreError.ProtocolError, $"{what}: {error.Error} {error.Message}");
    }

    [Fact]
    public void AWatcherThatFallsBehind_IsEnded_TellingWhereToResume_AndHoldsNoMore()
    {
        var watcher = new ChangeWatcher("a/", 0);
        for (int i = 1; i <= ListMessages.MaxQueuedChanges; i++)
        {
            watcher.Offer(Bound(i, "a/x"));
        }

        Assert.True(watcher.Reader.TryRead(out var first));
        watcher.LastSent = first.Change.Sequence;
        watcher.Offer(Bound(ListMessages.MaxQueuedChanges + 1, "a/x")); // fits again: one was read
        watcher.Offer(Bound(ListMessages.MaxQueuedChanges + 2, "a/x"));
        Assert.Equal(ListMessages.MaxQueuedChanges, watcher.Reader.Count);

        // What was queued is still read, then the reason: resume after the last one sent.
        int read = 0;
        while (watcher.Reader.TryRead(out _))
        {
            read++;
        }

        Assert.Equal(ListMessages.MaxQueuedChanges, read);
        var ended = Assert.Throws<OmniStoreException>(() => watcher.Reader.Completion.GetAwaiter().GetResult());
        Assert.Equal(OmniStoreError.Unavailable, ended.Error);
        Assert.Contains("resume from sequence 1", ended.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AWatcher_GetsOnlyItsPrefix_AndAPositionAfterManyChangesElsewhere()
    {
        var watcher = new ChangeWatcher("a/", 0);
        watcher.Offer(Bound(1, "a/x"));
        for (int i = 2; i < 2 + ChangeWatcher.PositionEvery; i++)
        {
            watcher.Offer(Bound(i, "b/x"));
        }

        watcher.Offer(Bound(1, "a/x")); // already queued: ignored
        Assert.True(watcher.Reader.TryRead(out var mine));
        Assert.Equal(("a/x", 1L), (mine.Change.Entry!.Name, mine.Change.Sequence));
        Assert.True(watcher.Reader.TryRead(out var position));
        Assert.Equal(new ChangeMessage(1 + ChangeWatcher.PositionEvery, ChangeKind.Position, null), position.Change);
        Assert.False(watcher.Reader.TryRead(out _));
    }

    private static byte[] Kind(byte[] payload, byte kind)
    {
        payload[8] = kind;
        return payload;
    }

    private static byte[] Name(byte[] payload, byte last)
    {
        payload[9 + 2 + 2] = last; // the entry's name "a/x": its last byte
        return payload;
    }
}
