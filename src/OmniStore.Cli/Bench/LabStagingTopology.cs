namespace OmniStore.Cli.Bench;

/// <summary>The staging benchmark's sites as lab network namespaces with shaped WAN links (docs/lab.md).</summary>
internal static class LabStagingTopology
{
    public static Task<IStagingTopology> CreateAsync(StagingSettings settings, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            throw new UsageException("The lab needs root: it creates network namespaces, shapes links with tc and sets up NAT with nftables. Run as root, or add --loopback for a run on 127.0.0.1 that does not shape the WAN.");
        }

        throw new UsageException("The lab is not part of this build yet; add --loopback.");
    }
}
