namespace OmniStore.Cli.Configuration;

/// <summary>Where a setting's value came from, from the weakest to the strongest.</summary>
internal enum ConfigurationSource
{
    /// <summary>Nothing set it: the option's default.</summary>
    Default,

    /// <summary>The <c>--config</c> file.</summary>
    File,

    /// <summary>The command line.</summary>
    Flag,

    /// <summary>An <c>OMNISTORE_*</c> environment variable.</summary>
    Environment,
}
