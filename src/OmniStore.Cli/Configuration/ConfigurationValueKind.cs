namespace OmniStore.Cli.Configuration;

/// <summary>What a configuration key holds, which says how its value is written in a file and in a variable.</summary>
internal enum ConfigurationValueKind
{
    /// <summary>A string (an address, a name, a level).</summary>
    Text,

    /// <summary>A string naming a file or folder; relative to the configuration file's folder when it comes from one.</summary>
    Path,

    /// <summary>An array of strings (or one string); a variable separates them with commas.</summary>
    List,

    /// <summary>true or false; a variable may also say 1/0, yes/no, on/off.</summary>
    Boolean,

    /// <summary>An integer.</summary>
    Integer,

    /// <summary>A size: an integer of bytes, or a string such as "200G".</summary>
    Size,

    /// <summary>A duration: a string with its unit, such as "30s".</summary>
    Duration,
}
