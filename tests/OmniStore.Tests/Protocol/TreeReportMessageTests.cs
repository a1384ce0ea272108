using OmniStore.Protocol;

namespace OmniStore.Tests.Protocol;

public class TreeReportMessageTests
{
    private static readonly NodeId Sender = NodeId.Parse("0123456789abcdef0123456789abcdef");
    private static readonly NodeId Below = NodeId.Parse("fedcba9876543210fedcba9876543210");

    internal static TreeReportEntry Entry(int parent, NodeId id, string site = "site-a") =>
        new(parent, id, site, 0, true, 1000, 200, 1500, "tcp direct", 4096, 1 << 20, 9, 1, 16, 1, 2, 1,
            [new TreeTransfer("data/in", "w1", 10, 20)], [new TreeError(1_700_000_000_000, "the parent 127.0.0.1:1: refused")]);

    [Fact]
    public void AReport_RoundTrips()
    {
        var report = new TreeReport(["data/in"], [Entry(-1, Sender), Entry(0, Below, "site-b")], 3);
        var decoded = TreeReportMessages.Decode(TreeReportMessages.Encode(report), Sender);
        Assert.Equal(["data/in"], decoded.Names);
        Assert.Equal(3, decoded.Omitted);
        Assert.Equal(2, decoded.Entries.Count);
        Assert.Equal(Below, decoded.Entries[1].NodeId);
        Assert.Equal(0, decoded.Entries[1].Parent);
        Assert.Equal("site-b", decoded.Entries[1].Site);
        Assert.Equal(1500, decoded.Entries[0].RttMicroseconds);
        Assert.Equal(new TreeTransfer("data/in", "w1", 10, 20), decoded.Entries[0].Transfers[0]);
        Assert.Equal("the parent 127.0.0.1:1: refused", decoded.Entries[0].Errors[0].Text);
    }

    [Fact]
    public void AReportThatSpeaksForAnotherNode_IsAProtocolError()
    {
        var bytes = TreeReportMessages.Encode(new TreeReport([], [Entry(-1, Below)], 0));
        var error = Assert.Throws<OmniStoreException>(() => TreeReportMessages.Decode(bytes, Sender));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains("speaks for node", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryTruncation_IsAProtocolError_NeverAnotherException()
    {
        var bytes = TreeReportMessages.Encode(new TreeReport(["n"], [Entry(-1, Sender), Entry(0, Below)], 0));
        for (int length = 0; length < bytes.Length; length++)
        {
            var error = Assert.Throws<OmniStoreException>(() => TreeReportMessages.Decode(bytes.AsSpan(0, length), Sender));
            Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        }
    }

    [Fact]
    public void HostileFields_AreRefused()
    {
        var good = TreeReportMessages.Encode(new TreeReport([], [Entry(-1, Sender)], 0));

        // The entry count claims more entries than the bytes could hold.
        var manyEntries = (byte[])good.Clone();
        manyEntries[2] = 0xFF;
        manyEntries[3] = 0xFF;
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => TreeReportMessages.Decode(manyEntries, Sender)).Error);

        // A site that is not a site name (markup).
        var site = TreeReportMessages.Encode(new TreeReport([], [Entry(-1, Sender, "aaaaaaaaaaaaa")], 0));
        int at = site.AsSpan().IndexOf("aaaaaaaaaaaaa"u8);
        "<img src=x>".Select(c => (byte)c).ToArray().CopyTo(site, at);
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => TreeReportMessages.Decode(site, Sender)).Error);

        // An entry whose parent is not before it.
        var loop = TreeReportMessages.Encode(new TreeReport([], [Entry(-1, Sender), Entry(0, Below)], 0));
        int second = loop.AsSpan(10).IndexOf(Bytes(Below)) + 10 - 2;
        loop[second] = 1;
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => TreeReportMessages.Decode(loop, Sender)).Error);

        // Too big as a whole.
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => TreeReportMessages.Decode(new byte[TreeReportMessages.MaxReportSize + 1], Sender)).Error);
    }

    [Fact]
    public void AWriter_StopsAtTheBounds_AndTheReportStillDecodes()
    {
        var writer = new TreeReportMessages.Writer([]);
        Assert.True(writer.TryAdd(Entry(-1, Sender)));
        int added = 1;
        for (int i = 0; i < 1000; i++)
        {
            var id = NodeId.Parse($"{i + 1:x32}");
            if (writer.TryAdd(Entry(added - 1, id)))
            {
                added++;
            }
        }

        Assert.True(added <= TreeReportMessages.MaxDepth + 1, $"a chain is cut at depth {TreeReportMessages.MaxDepth}: {added} entries");
        var decoded = TreeReportMessages.Decode(writer.ToArray(5), Sender);
        Assert.Equal(added, decoded.Entries.Count);

        var wide = new TreeReportMessages.Writer([]);
        Assert.True(wide.TryAdd(Entry(-1, Sender)));
        for (int i = 0; i < 1000; i++)
        {
            wide.TryAdd(Entry(0, NodeId.Parse($"{i + 1:x32}")));
        }

        var bytes = wide.ToArray(0);
        Assert.True(bytes.Length <= TreeReportMessages.MaxReportSize);
        Assert.True(wide.Count <= TreeReportMessages.MaxEntries);
        Assert.Equal(wide.Count, TreeReportMessages.Decode(bytes, Sender).Entries.Count);
    }

    [Fact]
    public void TheAsk_RoundTrips_AndAnEmptyOneAsksNothing()
    {
        Assert.Empty(TreeReportMessages.DecodeAsk([]));
        Assert.Equal(["a", "b/c"], TreeReportMessages.DecodeAsk(TreeReportMessages.EncodeAsk(["a", "b/c"])));
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => TreeReportMessages.DecodeAsk([0, 5])).Error);
    }

    private static byte[] Bytes(NodeId id)
    {
        var bytes = new byte[NodeId.Size];
        id.Write(bytes);
        return bytes;
    }
}
