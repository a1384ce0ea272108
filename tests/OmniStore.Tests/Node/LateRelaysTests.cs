using System.Net;
using OmniStore.Node.Internal;

namespace OmniStore.Tests.Node;

public sealed class LateRelaysTests
{
    private static readonly IPAddress Address = IPAddress.Parse("192.0.2.7");

    [Fact]
    public void EachRepeat_DoublesTheCooldown_UpToTheLongest_AndTheRefusalEndsWithIt()
    {
        var clock = new ManualClock();
        var late = new LateRelays(TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), clock);
        Assert.Null(late.RefusedFor(Address));

        Assert.Equal(TimeSpan.FromSeconds(30), late.Strike(Address));
        Assert.Equal(TimeSpan.FromSeconds(30), late.RefusedFor(Address));
        Assert.Null(late.RefusedFor(IPAddress.Parse("192.0.2.8")));
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Null(late.RefusedFor(Address));

        Assert.Equal(TimeSpan.FromSeconds(60), late.Strike(Address));
        Assert.Equal(TimeSpan.FromSeconds(120), late.Strike(Address));
        Assert.Equal(TimeSpan.FromSeconds(120), late.Strike(Address));
        for (int i = 0; i < 100; i++)
        {
            late.Strike(Address);
        }

        Assert.Equal(TimeSpan.FromSeconds(120), late.RefusedFor(Address));
    }

    [Fact]
    public void AnAddressWithoutAStrikeForTwiceTheLongestCooldown_StartsAgainFromTheFirst()
    {
        var clock = new ManualClock();
        var late = new LateRelays(TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), clock);
        late.Strike(Address);
        late.Strike(Address);
        clock.Advance(TimeSpan.FromMinutes(4) + TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromSeconds(30), late.Strike(Address));
    }

    [Fact]
    public void AnIPv4AddressSeenThroughADualStackSocket_IsTheSameAddress()
    {
        var late = new LateRelays(TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), new ManualClock());
        late.Strike(Address.MapToIPv6());
        Assert.NotNull(late.RefusedFor(Address));
    }

    [Fact]
    public void ManyAddresses_AreBounded()
    {
        var clock = new ManualClock();
        var late = new LateRelays(TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), clock);
        for (int i = 0; i < LateRelays.Capacity + 500; i++)
        {
            late.Strike(new IPAddress(BitConverter.GetBytes(0x0A000000 + i)));
            clock.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.Equal(LateRelays.Capacity, late.Count);

        // The newest are kept; the ones whose refusal ended first made room.
        Assert.NotNull(late.RefusedFor(new IPAddress(BitConverter.GetBytes(0x0A000000 + LateRelays.Capacity + 499))));
        Assert.Null(late.RefusedFor(new IPAddress(BitConverter.GetBytes(0x0A000000))));
    }

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
