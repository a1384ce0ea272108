using OmniStore.Node;
using OmniStore.Storage;
using OmniStore.Transport;

namespace OmniStore.Tests.Api;

/// <summary>Every check of the options names the setting that is wrong, as its property is spelled.</summary>
public sealed class OptionValidationTests
{
    public static TheoryData<string, string> ClientCases => new()
    {
        { nameof(OmniStoreOptions.DataDirectory), "DataDirectory is required" },
        { nameof(OmniStoreOptions.ChunkSize), "ChunkSize must be between 65536 and 16777216 bytes" },
        { nameof(OmniStoreOptions.TransferWindow) + "=0", "TransferWindow must be at least 1 and at most 128" },
        { nameof(OmniStoreOptions.TransferWindow) + "=129", "TransferWindow must be at least 1 and at most 128" },
        { nameof(OmniStoreOptions.FallbackUris), "FallbackUris must not be null" },
        { nameof(OmniStoreOptions.LoggerFactory), "LoggerFactory must not be null" },
        { nameof(OmniStoreOptions.Capacity) + "=-1", "Capacity must not be negative" },
        { nameof(OmniStoreOptions.Capacity) + "=1", "Capacity must be at least" },
        { nameof(OmniStoreOptions.StoreMode), "A Cache store needs a Capacity" },
    };

    [Theory]
    [MemberData(nameof(ClientCases))]
    public void OmniStoreOptions_OutOfRange_NamesTheSetting(string setting, string expected)
    {
        var valid = new OmniStoreOptions { DataDirectory = "/tmp/x" };
        valid.Validate();
        var options = setting switch
        {
            "DataDirectory" => valid with { DataDirectory = " " },
            "ChunkSize" => valid with { ChunkSize = 1000 },
            "TransferWindow=0" => valid with { TransferWindow = 0 },
            "TransferWindow=129" => valid with { TransferWindow = OmniStoreOptions.MaxTransferWindow + 1 },
            "FallbackUris" => valid with { FallbackUris = null! },
            "LoggerFactory" => valid with { LoggerFactory = null! },
            "Capacity=-1" => valid with { Capacity = -1 },
            "Capacity=1" => valid with { Capacity = 1 },
            "StoreMode" => valid with { StoreMode = StoreMode.Cache },
            _ => throw new ArgumentOutOfRangeException(nameof(setting)),
        };

        var error = Assert.ThrowsAny<ArgumentException>(() => options.Validate());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Equal("options", error.ParamName);
    }

    public static TheoryData<string, string> NodeCases => new()
    {
        { "Listen", "Listen is required" },
        { "Listen=empty", "Listen is required: at least one address" },
        { "Listen=twice", "Listen holds tcp://127.0.0.1:7070 twice ([0] and [2])" },
        { "Listen=17", "Listen holds 17 addresses; at most 16 are allowed" },
        { "Listen=null-element", "Listen[1] is null" },
        { "DataDirectory", "DataDirectory is required" },
        { "CacheSize=-1", "CacheSize must not be negative" },
        { "CacheSize=0", "A relay needs a CacheSize" },
        { "CacheSize=1", "CacheSize must be at least" },
        { "Site", "Site: a node needs a site name" },
        { "Site=bad", "Site: " },
        { "PrefetchWindow", "PrefetchWindow must be at least 1" },
        { "BindingCacheSize", "BindingCacheSize must be at least 1" },
        { "MemoryBudget", "MemoryBudget must be at least 16777216" },
        { "ConnectionReceiveBytes", "ConnectionReceiveBytes must be at least 4194304" },
        { "ConnectionSendBytes", "ConnectionSendBytes must be at least 1048576" },
        { "SendTimeout", "SendTimeout must be more than 0" },
        { "RelaySecret", "An empty RelaySecret" },
        { "RelaySecret=Secret", "The RelaySecret equals the shared Secret" },
        { "UpdateTimeout", "UpdateTimeout must be more than 0" },
        { "LateRelayCooldown", "LateRelayCooldown must be more than 0" },
        { "MaxLateRelayCooldown", "MaxLateRelayCooldown must be at least LateRelayCooldown" },
        { "MaxUpstreamFetchesPerChild", "MaxUpstreamFetchesPerChild must be at least 1" },
        { "UpstreamMissBurst", "UpstreamMissBurst must be at least 1" },
        { "UpstreamMissRate", "UpstreamMissRate must be a positive number" },
        { "MissCacheTime", "MissCacheTime must not be negative" },
        { "MissCacheSize", "MissCacheSize must be at least 1" },
        { "MaxConnections", "MaxConnections must be at least 1" },
        { "MaxConnectionsPerAddress", "MaxConnectionsPerAddress must be at least 1" },
        { "MaxPendingHandshakes", "MaxPendingHandshakes must be at least 1" },
        { "HandshakeTimeout", "HandshakeTimeout must be more than 0 and at most 10 s" },
        { "KeepAliveInterval", "KeepAliveInterval must be between 10 ms and 1 day" },
        { "IdleTimeout", "IdleTimeout must be longer than KeepAliveInterval" },
        { "LoggerFactory", "LoggerFactory must not be null" },
    };

    [Theory]
    [MemberData(nameof(NodeCases))]
    public void TreeNodeOptions_OutOfRange_NamesTheSetting(string setting, string expected)
    {
        var valid = new TreeNodeOptions
        {
            Listen = [new NodeAddress("tcp", "127.0.0.1", 0)],
            Parent = new NodeAddress("tcp", "127.0.0.1", 7070),
            DataDirectory = "/tmp/x",
            CacheSize = 1L << 30,
            Site = "site",
        };
        valid.Validate();
        var options = setting switch
        {
            "Listen" => valid with { Listen = null! },
            "Listen=empty" => valid with { Listen = [] },
            "Listen=twice" => valid with { Listen = [NodeAddress.Parse("tcp://127.0.0.1:7070"), NodeAddress.Parse("mem://x"), NodeAddress.Parse("TCP://127.0.0.1:7070")] },
            "Listen=17" => valid with { Listen = [.. Enumerable.Range(1, 17).Select(port => new NodeAddress("tcp", "127.0.0.1", port))] },
            "Listen=null-element" => valid with { Listen = [NodeAddress.Parse("mem://x"), null!] },
            "DataDirectory" => valid with { DataDirectory = "" },
            "CacheSize=-1" => valid with { CacheSize = -1 },
            "CacheSize=0" => valid with { CacheSize = 0 },
            "CacheSize=1" => valid with { CacheSize = 1 },
            "Site" => valid with { Site = "" },
            "Site=bad" => valid with { Site = "bad site" },
            "PrefetchWindow" => valid with { PrefetchWindow = 0 },
            "BindingCacheSize" => valid with { BindingCacheSize = 0 },
            "MemoryBudget" => valid with { MemoryBudget = 1 },
            "ConnectionReceiveBytes" => valid with { ConnectionReceiveBytes = 1 },
            "ConnectionSendBytes" => valid with { ConnectionSendBytes = 1 },
            "SendTimeout" => valid with { SendTimeout = TimeSpan.Zero },
            "RelaySecret" => valid with { RelaySecret = [] },
            "RelaySecret=Secret" => valid with { RelaySecret = new byte[16], Secret = new byte[16] },
            "UpdateTimeout" => valid with { UpdateTimeout = TimeSpan.Zero },
            "LateRelayCooldown" => valid with { LateRelayCooldown = TimeSpan.Zero },
            "MaxLateRelayCooldown" => valid with { MaxLateRelayCooldown = TimeSpan.FromSeconds(1) },
            "MaxUpstreamFetchesPerChild" => valid with { MaxUpstreamFetchesPerChild = 0 },
            "UpstreamMissBurst" => valid with { UpstreamMissBurst = 0 },
            "UpstreamMissRate" => valid with { UpstreamMissRate = double.NaN },
            "MissCacheTime" => valid with { MissCacheTime = TimeSpan.FromSeconds(-1) },
            "MissCacheSize" => valid with { MissCacheSize = 0 },
            "MaxConnections" => valid with { MaxConnections = 0 },
            "MaxConnectionsPerAddress" => valid with { MaxConnectionsPerAddress = 0 },
            "MaxPendingHandshakes" => valid with { MaxPendingHandshakes = 0 },
            "HandshakeTimeout" => valid with { HandshakeTimeout = TimeSpan.FromSeconds(11) },
            "KeepAliveInterval" => valid with { KeepAliveInterval = TimeSpan.Zero },
            "IdleTimeout" => valid with { IdleTimeout = TimeSpan.FromSeconds(1) },
            "LoggerFactory" => valid with { LoggerFactory = null! },
            _ => throw new ArgumentOutOfRangeException(nameof(setting)),
        };

        var error = Assert.ThrowsAny<ArgumentException>(() => options.Validate());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains(setting.Split('=')[0], error.Message, StringComparison.Ordinal);
        Assert.Equal("options", error.ParamName);
    }
}
