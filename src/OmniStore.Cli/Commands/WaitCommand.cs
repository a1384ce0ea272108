using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore wait NAME [--timeout DURATION]</c>: returns once an object is bound to the name,
/// woken by the node rather than by polling (docs/watch.md, "WAIT"); prints what <c>stat</c> would.
/// </summary>
internal static class WaitCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The name to wait for" };
        var timeout = new Option<TimeSpan?>("--timeout")
        {
            Description = "Give up after this long (500ms, 30s, 5m, 2h; seconds without a unit), exiting with NotFound's code [default: wait for ever]",
            HelpName = "DURATION",
            CustomParser = ParseDuration,
        };
        var store = new StoreConnectionOptions();

        var command = new Command("wait", "Wait until an object is bound to a name")
        {
            name,
            timeout,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string objectName = parseResult.GetRequiredValue(name);
            ObjectName.Validate(objectName);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (parseResult.GetValue(timeout) is { } limit)
            {
                deadline.CancelAfter(limit);
            }

            await using var client = await store.OpenAsync(parseResult, deadline.Token);
            ObjectInfo info;
            try
            {
                info = await client.WaitForAsync(objectName, deadline.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new OmniStoreException(OmniStoreError.NotFound, string.Create(CultureInfo.InvariantCulture, $"'{objectName}' was not bound within {parseResult.GetValue(timeout)!.Value.TotalSeconds:0.###}s."));
            }

            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{info.Name}: {info.Length} bytes, version {info.Version}"));
            return ExitCodes.Success;
        });

        return command;
    }

    /// <summary>A positive duration: a number with ms, s, m or h (seconds without a unit), at most 7 days.</summary>
    private static TimeSpan? ParseDuration(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value.Trim() : string.Empty;
        int digits = 0;
        while (digits < text.Length && (char.IsAsciiDigit(text[digits]) || text[digits] == '.'))
        {
            digits++;
        }

        double scale = text[digits..].ToLowerInvariant() switch
        {
            "ms" => 0.001,
            "" or "s" => 1,
            "m" or "min" => 60,
            "h" => 3600,
            _ => 0,
        };
        if (scale > 0 && double.TryParse(text.AsSpan(0, digits), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value)
            && value * scale is > 0 and <= 7 * 24 * 3600)
        {
            return TimeSpan.FromSeconds(value * scale);
        }

        result.AddError($"--timeout: '{text}' is not a duration between 1 ms and 7 days, such as 500ms, 10s, 5m or 1h.");
        return null;
    }
}
