using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Internal;
using OmniStore.Protocol;

namespace OmniStore.Tests.Protocol;

public sealed class ListMessagesTests
{
    private static readonly ListRequest Asked = new("a/", "a/1", 10, Cached: false);

    private static ObjectInfo Entry(string name, long version = 1) =>
        new(name, 100, 1 << 20, 1, version, ManifestId.Compute("m"u8));

    private static byte[] Listing(IEnumerable<ObjectInfo> entries, string cursor, bool more, int max = 10)
    {
        var writer = new ListMessages.Writer(max);
        foreach (var entry in entries)
        {
            Assert.True(writer.TryAdd(entry));
        }

        return writer.ToArray(cursor, more);
    }

    [Fact]
    public void ARequest_RoundTrips_AndAMaxAboveAPage_IsReadAsAPage()
    {
        var request = new ListRequest("prefix/ü", "prefix/ü/x", 5000, Cached: true);
        Assert.Equal(request with { Max = ListMessages.MaxPage }, ListMessages.DecodeRequest(ListMessages.EncodeRequest(request)));
    }

    [Fact]
    public void AListing_RoundTrips()
    {
        var entries = new[] { Entry("a/2"), Entry("a/3", 7) };
        var listing = ListMessages.DecodeListing(Listing(entries, "a/3", more: true), Asked);
        Assert.Equal(entries, listing.Entries);
        Assert.Equal(("a/3", true), (listing.Cursor, listing.More));
    }

    public static TheoryData<string, byte[]> Hostile()
    {
        var data = new TheoryData<string, byte[]>
        {
            { "outside the prefix", Listing([Entry("b/2")], "", false) },
            { "not after the cursor asked", Listing([Entry("a/1")], "", false) },
            { "out of order", Listing([Entry("a/3"), Entry("a/2")], "", false) },
            { "a repeated name", Listing([Entry("a/2"), Entry("a/2")], "", false) },
            { "a cursor that does not move", Listing([], "a/1", true) },
            { "a cursor before the last entry", Listing([Entry("a/5")], "a/4", true) },
            { "more entries than asked", Listing(Enumerable.Range(2, 11).Select(i => Entry($"a/{i:D2}")), "", false, max: 20) },
            { "a version of 0", Listing([Entry("a/2", 0)], "", false) },
        };

        // A cursor is only written with more set: a listing that ends carries none, so one is forged.
        var ended = Listing([Entry("a/5")], "", false);
        var withCursor = new byte[ended.Length + 3];
        ended.AsSpan(0, ended.Length - 2).CopyTo(withCursor);
        BinaryPrimitives.WriteUInt16LittleEndian(withCursor.AsSpan(ended.Length - 2), 3);
        "a/5"u8.CopyTo(withCursor.AsSpan(ended.Length));
        data.Add("a cursor on the last page", withCursor);

        var count = Listing([Entry("a/2")], "", false);
        BinaryPrimitives.WriteUInt16LittleEndian(count.AsSpan(1), 9);
        data.Add("a count the bytes cannot hold", count);

        var huge = Listing([], "", false);
        BinaryPrimitives.WriteUInt16LittleEndian(huge.AsSpan(1), ushort.MaxValue);
        data.Add("a count of 65535 in 5 bytes", huge);

        var flags = Listing([Entry("a/2")], "", false);
        flags[0] = 2;
        data.Add("an unknown flag", flags);

        data.Add("trailing bytes", [.. Listing([Entry("a/2")], "", false), 0]);
        data.Add("cut short", Listing([Entry("a/2")], "", false)[..^3]);

        var control = Listing([Entry("a/2")], "", false);
        control[5 + 2] = 0x07; // the name's last byte: "a/\a"
        data.Add("a control character", control);
        return data;
    }

    [Theory]
    [MemberData(nameof(Hostile))]
    public void AHostileListing_IsAProtocolError(string what, byte[] payload)
    {
        var error = Assert.ThrowsAny<OmniStoreException>(() => ListMessages.DecodeListing(payload, Asked));
        Assert.True(error.Error is OmniStoreError.ProtocolError or OmniStoreError.InvalidName, what);
    }

    [Fact]
    public void APage_StopsBeforeItsBytesPass64KiB_AndAlwaysHoldsTheLongestEntry()
    {
        var writer = new ListMessages.Writer(ListMessages.MaxPage);
        string longest = "a/" + new string('x', ObjectName.MaxByteLength - 2);
        int added = 0;
        while (writer.TryAdd(Entry(longest)))
        {
            added++;
        }

        Assert.InRange(added, 50, 62);
        Assert.True(writer.ToArray(longest, more: true).Length <= ListMessages.MaxListingSize);
        Assert.True(new ListMessages.Writer(1).TryAdd(Entry(longest)));
    }

    [Fact]
    public void NameOrder_IsTheOrderOfUtf8Bytes()
    {
        string[] names = ["a", "a/b", "ab", "\uFF21", "\U0001F600", "\u00E9", "b"];
        var byUtf8 = names.OrderBy(n => Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(n)), StringComparer.Ordinal).ToList();
        Assert.Equal(byUtf8, names.Order(NameOrder.Instance).ToList());
    }
}
