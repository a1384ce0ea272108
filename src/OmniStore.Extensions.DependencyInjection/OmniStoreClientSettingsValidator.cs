using Microsoft.Extensions.Options;

namespace OmniStore;

/// <summary>
/// Checks the settings as the client would take them, without opening or connecting anything: the
/// options' ranges and the connection string's addresses and settings.
/// </summary>
internal sealed class OmniStoreClientSettingsValidator : IValidateOptions<OmniStoreClientSettings>
{
    public ValidateOptionsResult Validate(string? name, OmniStoreClientSettings options)
    {
        var failures = new List<string>();
        try
        {
            options.ToOptions(loggerFactory: null).Validate("OmniStore");
        }
        catch (ArgumentException ex)
        {
            failures.Add(ex.Message);
        }

        if (!string.IsNullOrWhiteSpace(options.ConnectionString) && OmniStoreClient.CheckConnectionString(options.ConnectionString) is { } problem)
        {
            failures.Add($"OmniStore:ConnectionString: {problem}");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
