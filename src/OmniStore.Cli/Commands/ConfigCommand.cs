using System.CommandLine;
using OmniStore.Cli.Configuration;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore config show [--config FILE] [relay options]</c>: the configuration <c>omnistore
/// relay</c> would run with given the same file, options and environment, each value with where it
/// came from (default, file, flag, environment), checked as the relay checks it. Starts nothing.
/// </summary>
internal static class ConfigCommand
{
    public static Command Create()
    {
        var show = new Command("show", "Print the configuration omnistore relay would run with, given the same --config file, options and OMNISTORE_* variables: every key, its value and where it came from (default, file, flag, environment). Checks it as the relay would; starts nothing");
        var settings = RelayCommand.AddOptions(show);
        show.SetGuardedAction((parseResult, cancellationToken) =>
        {
            _ = settings(parseResult); // the checks the relay makes once every value is known
            var configuration = RelayConfiguration.Of(parseResult)
                ?? throw new InvalidOperationException("config show was parsed without its configuration being merged.");
            Console.Out.Write(ConfigurationText.Format(parseResult, configuration));
            return Task.FromResult(ExitCodes.Success);
        });

        return new Command("config", "The relay's configuration: see `omnistore config show --help`")
        {
            show,
        };
    }
}
