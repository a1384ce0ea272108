using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Storage;
using OmniStore.Storage.Internal;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// The change sequence of a pinned store (docs/watch.md, "Sequence" and "History"): every change
/// numbered once, durable with its binding (a kill keeps the numbers of what the journal holds),
/// the history bounded.
/// </summary>
public sealed class ChangeHistoryTests : IDisposable
{
    private const int Chunk = ChunkLayout.MinChunkSize;
    private readonly TempDirectory _dir = new("omnistore-changes");

    public void Dispose() => _dir.Dispose();

    private static EmbeddedNode Open(string directory, int history = ContentStoreOptions.DefaultChangeHistory) =>
        new(ContentStore.Open(new ContentStoreOptions { Directory = directory, MaxChunkSize = Chunk, ReclaimFraction = 0, CheckpointInterval = TimeSpan.FromDays(1), ChangeHistory = history }));

    [Fact]
    public async Task Changes_AreNumberedInOrder_AndAKilledStoreReopensWithTheSameNumbers_GoingOnAfterThem()
    {
        var ct = TestContext.Current.CancellationToken;
        string live = _dir.Sub("live"), crashed = _dir.Sub("crashed");
        await using (var node = Open(live))
        {
            await node.PutAsync("a", new byte[10], Chunk, null, ct);
            await node.PutAsync("b", new byte[10], Chunk, null, ct);
            await node.PutAsync("a", new byte[20], Chunk, null, ct);
            Assert.True(await node.DeleteAsync("b", ct));
            Assert.False(await node.DeleteAsync("b", ct)); // no change: no number
            Assert.Equal(4, node.Store.LastSequence);
            StoreCopy.AsAKillLeavesIt(live, crashed);
        }

        await using var reopened = Open(crashed);
        Assert.Equal(4, reopened.Store.LastSequence);
        var changes = reopened.Store.ReadChanges(0, 4, 100);
        Assert.Equal(
            [(1L, ObjectChangeKind.Bound, "a", 1L), (2, ObjectChangeKind.Bound, "b", 1), (3, ObjectChangeKind.Rebound, "a", 2), (4, ObjectChangeKind.Deleted, "b", 2)],
            changes.Select(c => (c.Sequence, c.Kind, c.Name, c.Binding.Version)));
        await reopened.PutAsync("c", new byte[1], Chunk, null, ct);
        Assert.Equal(5, reopened.Store.LastSequence);
    }

    [Fact]
    public async Task TheHistory_KeepsTheLastChangesOnly()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var node = Open(_dir.Sub("bounded"), history: 4);
        for (int i = 0; i < 10; i++)
        {
            await node.PutAsync($"n/{i}", new byte[1], Chunk, null, ct);
        }

        Assert.Equal(7, node.Store.OldestSequence);
        Assert.Equal([7L, 8, 9, 10], node.Store.ReadChanges(0, 10, 100).Select(c => c.Sequence));
        Assert.Equal([9L], node.Store.ReadChanges(8, 9, 100).Select(c => c.Sequence));
    }

    [Fact]
    public void ANumberedJournalRecord_RoundTrips_AndAnUnnumberedOneStillReads()
    {
        var tombstone = new JournalRecord("gone", new Binding(default, 3, IsBound: false), null, [], Sequence: 42);
        var decoded = JournalRecord.Decode(tombstone.Encode(), Chunk);
        Assert.Equal((tombstone.Binding, 42L), (decoded.Binding, decoded.Sequence));
        Assert.Equal(0, JournalRecord.Decode((tombstone with { Sequence = 0 }).Encode(), Chunk).Sequence);
        var zero = tombstone.Encode();
        zero.AsSpan(^8).Clear();
        Assert.Equal(OmniStoreError.Corrupt, Assert.Throws<OmniStoreException>(() => JournalRecord.Decode(zero, Chunk)).Error);
    }
}
