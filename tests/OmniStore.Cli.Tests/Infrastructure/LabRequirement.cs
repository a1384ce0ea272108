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

    /// <summary>Also needs <paramref name="program"/> (a gateway or client someone else wrote): skips without it, except under CI=true, where it fails.</summary>
    public static void EnsureProgram(string program, string package)
    {
        if (File.Exists(program))
        {
            return;
        }

        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail($"{program} is missing; CI=true, so it must be installed (eng/test.sh installs {package}).");
        }

        Assert.Skip($"Skipped: {program} is missing (apt-get install {package}; with CI=true this fails).");
    }
}
