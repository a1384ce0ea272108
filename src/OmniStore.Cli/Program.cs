using OmniStore.Cli;

try
{
    return await OmniStoreCommandLine.RunAsync(args);
}
catch (Exception ex)
{
    // The last resort: a command's failures are reported where it runs (CommandFailure); what
    // escapes parsing or the command line itself is still one line and a documented exit code.
    return CommandFailure.ReportException(ex);
}
