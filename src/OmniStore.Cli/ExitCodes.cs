using System.Globalization;
using System.Text;

namespace OmniStore.Cli;

/// <summary>
/// Process exit codes. 1 is System.CommandLine's own code for a bad command line; every
/// <see cref="OmniStoreError"/> gets a code of its own, 2 + its (stable) value, so scripts can
/// tell "not found" from "store full" without parsing messages.
/// </summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>Returned by System.CommandLine when the command line does not parse.</summary>
    public const int Usage = 1;

    /// <summary>A failure outside OmniStore itself: a file that cannot be read or written, a closed pipe.</summary>
    public const int IoFailure = 2;

    public static int For(OmniStoreError error) => 2 + (int)error;

    /// <summary>The table shown at the end of <c>omnistore --help</c>.</summary>
    public static string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine("Exit codes:");
        text.AppendLine(CultureInfo.InvariantCulture, $"  {Success,-3} success");
        text.AppendLine(CultureInfo.InvariantCulture, $"  {Usage,-3} the command line is wrong (usage error)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  {IoFailure,-3} a file or stream could not be read or written, or another unexpected failure");
        foreach (var error in Enum.GetValues<OmniStoreError>())
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {For(error),-3} {error}");
        }

        return text.ToString();
    }
}
