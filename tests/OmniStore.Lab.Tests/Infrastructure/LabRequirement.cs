namespace OmniStore.Lab.Tests.Infrastructure;

/// <summary>Lab tests need root on Linux with ip, tc, nft and sysctl: elsewhere they skip, except under CI=true, where they fail.</summary>
public static class LabRequirement
{
    private static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static void Ensure()
    {
        if (Lab.IsSupported(out var reason))
        {
            return;
        }

        if (IsCi)
        {
            Assert.Fail($"Lab tests cannot run: {reason}. CI=true, so they must (CI runs as root; eng/test.sh installs iproute2, nftables and procps).");
        }

        Assert.Skip($"Lab tests skipped: {reason} (with CI=true this fails).");
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
