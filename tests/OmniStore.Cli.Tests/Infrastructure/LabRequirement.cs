namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>Tests that build a lab need root on Linux with ip, tc and nft: elsewhere they skip, except under CI=true, where they fail.</summary>
public static class LabRequirement
{
    public static void Ensure()
    {
        if (OmniStore.Lab.Lab.IsSupported(out string reason))
        {
            return;
        }

        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail($"This test needs the lab and cannot build one: {reason}. CI=true, so it must (CI runs as root).");
        }

        Assert.Skip($"Skipped: {reason} (with CI=true this fails).");
    }
}
