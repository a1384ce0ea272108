using PuppeteerSharp;

namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>The machine's chromium (Debian's package; eng/test.sh installs it), driven headless: no browser is downloaded.</summary>
public static class Chromium
{
    public const string Path = "/usr/bin/chromium";

    public static Task<IBrowser> LaunchAsync()
    {
        List<string> args = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"];
        if (Environment.UserName == "root")
        {
            args.Add("--no-sandbox"); // chromium refuses to run its sandbox as root
        }

        return Puppeteer.LaunchAsync(new LaunchOptions { ExecutablePath = Path, Headless = true, Args = [.. args], Timeout = 30_000 });
    }
}
