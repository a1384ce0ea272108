using System.CommandLine;

namespace OmniStore.Cli.Configuration;

/// <summary>
/// <c>--config FILE</c>: a TOML file whose keys are the command's options without their leading
/// <c>--</c> (<see cref="ConfigurationFile"/>). A command with this option is configurable: its
/// options are merged from the file, the command line and <c>OMNISTORE_*</c> variables before it
/// is parsed for good (<see cref="RelayConfiguration"/>).
/// </summary>
internal sealed class ConfigFileOption : Option<string?>
{
    public const string OptionName = "--config";

    public ConfigFileOption()
        : base(OptionName)
    {
        Description = "A TOML file of settings: each key is an option without its leading -- (cache-size = \"200G\"). Options given on the command line win over it, and OMNISTORE_* variables (OMNISTORE_CACHE_SIZE) over both. Relative paths in it are relative to its folder";
        HelpName = "FILE";
        Validators.Add(CommandLineValidators.NonEmpty);
    }
}
