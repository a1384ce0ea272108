using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore lab clean --all</c> removes every lab on the machine, live ones too: so it runs
/// alone, after the tests that run in parallel, whose labs it would otherwise kill mid-test (a
/// port mapping test's <c>upnpc</c> was seen to die of SIGKILL that way).
/// </summary>
[Collection(LabCleanRunsAlone.Name)]
public sealed class LabCleanTests : IDisposable
{
    private readonly TempDirectory _dir = new("omnistore-lab-clean");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task LabClean_LeavesALiveLabAlone_AndRemovesItWithAll()
    {
        LabRequirement.Ensure();
        var ct = TestContext.Current.CancellationToken;
        await using var lab = await OmniStore.Lab.Lab.StartAsync(OmniStore.Lab.LabTopology.Uniform(1, OmniStore.Lab.WanLinkSpec.Unlimited), ct);

        var gentle = await CliRunner.RunAsync(_dir.Sub("data"), "lab", "clean");
        Assert.True(gentle.ExitCode == 0, gentle.ToString());
        Assert.Contains(lab.Prefix, gentle.Output, StringComparison.Ordinal); // named as live, left alone
        Assert.All(lab.Namespaces, ns => Assert.Contains(ns, OmniStore.Lab.LabCleanup.ListNamespaces()));

        var all = await CliRunner.RunAsync(_dir.Sub("data"), "lab", "clean", "--all");
        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Contains($"removed", all.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(OmniStore.Lab.LabCleanup.ListNamespaces(), ns => ns.StartsWith(lab.Prefix, StringComparison.Ordinal));
    }
}

/// <summary>The tests that remove labs they did not start: never beside another test.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LabCleanRunsAlone
{
    public const string Name = "lab clean --all";
}
