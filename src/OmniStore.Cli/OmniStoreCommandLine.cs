using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using OmniStore.Cli.Commands;
using OmniStore.Cli.Configuration;

namespace OmniStore.Cli;

/// <summary>The <c>omnistore</c> command tree. A new command is a file under Commands/ plus one line here.</summary>
internal static class OmniStoreCommandLine
{
    public const string ExecutableName = "omnistore";

    public static Command Create()
    {
        // Not a RootCommand: that one names itself after the entry assembly (OmniStore.Cli), while
        // the command people type is "omnistore". Help and version are what RootCommand would add.
        var root = new Command(ExecutableName, "OmniStore: put named data once, get it anywhere. Content-addressed, deduplicated, verified.")
        {
            PutCommand.Create(),
            GetCommand.Create(),
            StatCommand.Create(),
            ListCommand.Create(),
            WaitCommand.Create(),
            WatchCommand.Create(),
            VerifyCommand.Create(),
            RemoveCommand.Create(),
            GcCommand.Create(),
            PrefetchCommand.Create(),
            StatusCommand.Create(),
            RelayCommand.Create(),
            ConfigCommand.Create(),
            RendezvousCommand.Create(),
            DemoCommand.Create(),
            BenchCommand.Create(),
            LabCommand.Create(),
            CaCommand.Create(),
            SecretCommand.Create(),
        };

        var help = new HelpOption();
        help.Action = new HelpWithEpilogue((HelpAction)help.Action!, root, () => Epilogue);
        root.Options.Add(help);
        root.Options.Add(new VersionOption());
        return root;
    }

    /// <summary>
    /// Parses and runs a command line. A usage error is reported like any other failure, in one
    /// <c>omnistore: error:</c> line, exit code 1; a bare <c>omnistore</c> shows the help first.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var root = Create();
        var parseResult = root.Parse(args);
        try
        {
            // The relay's settings may also come from a --config file and OMNISTORE_* variables.
            parseResult = RelayConfiguration.Resolve(root, parseResult, Environment.GetEnvironmentVariables());
        }
        catch (Exception ex) when (ex is UsageException or IOException)
        {
            return CommandFailure.ReportException(ex);
        }

        var settings = RelayConfiguration.Of(parseResult);
        string? error = parseResult.Action is ParseErrorAction
            ? string.Join(" ", parseResult.Errors.Select(e => settings?.Describe(e) ?? e.Message))
            : UnknownOption(parseResult);
        if (error is not null)
        {
            if (parseResult.Tokens.Count == 0)
            {
                await root.Parse(["--help"]).InvokeAsync();
            }

            CommandFailure.Report(error);
            return ExitCodes.Usage;
        }

        // System.CommandLine answers SIGINT and SIGTERM by cancelling the action and, 2 s later,
        // exiting with 130 or 143. The daemon drains for longer and exits 0, so it takes the
        // signals itself (Daemon/ShutdownSignal).
        var configuration = new InvocationConfiguration();
        if (parseResult.CommandResult.Command.Name == RelayCommand.Name)
        {
            configuration.ProcessTerminationTimeout = null;
        }

        return await parseResult.InvokeAsync(configuration);
    }

    /// <summary>
    /// An option nobody defined, taken for a command's argument (System.CommandLine gives a NAME or
    /// FILE argument any token, so <c>omnistore rm --force</c> would remove an object named
    /// "--force"); null if there is none. "-" (standard input or output) and anything after
    /// <c>--</c> are arguments as written.
    /// </summary>
    private static string? UnknownOption(ParseResult parseResult)
    {
        var argumentTokens = parseResult.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).ToHashSet();
        foreach (var token in parseResult.Tokens)
        {
            if (token.Type == TokenType.DoubleDash)
            {
                return null;
            }

            if (token.Value.Length > 1 && token.Value[0] == '-' && argumentTokens.Contains(token))
            {
                return $"Unrecognized option '{token.Value}' (an argument that starts with '-' goes after '--': {ExecutableName} {parseResult.CommandResult.Command.Name} -- {token.Value}).";
            }
        }

        return null;
    }

    private static string Epilogue =>
        $"""
        Sizes (SIZE): {ByteSize.Syntax}.
        Store: --relay tcp://HOST:PORT[,tcp://HOST:PORT...], else $OMNISTORE_RELAY, else the embedded store in --store DIR,
               else $OMNISTORE_DATA, else "omnistore" in the user's local data folder; here: {OmniStoreOptions.FindDefaultDataDirectory() ?? "none (no home directory), so give --store DIR"}
        Errors: one line on stderr, "{ExecutableName}: error: <message>".

        {ExitCodes.Describe()}
        """;

    /// <summary>The standard help, followed on the top-level help by notes that hold for every command.</summary>
    /// <remarks>The epilogue is built when shown: it names the default store directory, worked out only then.</remarks>
    private sealed class HelpWithEpilogue(HelpAction help, Command root, Func<string> epilogue) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            int result = help.Invoke(parseResult);
            if (parseResult.CommandResult.Command == root)
            {
                parseResult.InvocationConfiguration.Output.WriteLine(epilogue());
            }

            return result;
        }
    }
}
