using System.CommandLine.Parsing;

namespace OmniStore.Cli;

/// <summary>Checks that System.CommandLine runs while parsing, so that bad values are usage errors.</summary>
internal static class CommandLineValidators
{
    /// <summary>Refuses an empty value (an empty path or directory would otherwise fail later, less clearly).</summary>
    public static void NonEmpty(SymbolResult result)
    {
        if (result.Tokens.Count > 0 && string.IsNullOrWhiteSpace(result.Tokens[0].Value))
        {
            string name = result switch
            {
                OptionResult option => option.Option.Name,
                ArgumentResult argument => argument.Argument.Name,
                _ => "value",
            };
            result.AddError($"{name} must not be empty.");
        }
    }
}
