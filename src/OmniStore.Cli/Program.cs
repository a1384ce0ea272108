using OmniStore.Cli;

try
{
    // The lab's wire process (omnistore bench staging): this same program, started by the lab.
    if (args is [OmniStore.Lab.Wire.WireHost.Mode, ..])
    {
        return OmniStore.Lab.Wire.WireHost.Run(args[1..]);
    }

    return await OmniStoreCommandLine.RunAsync(args);
}
catch (Exception ex)
{
    // The last resort: a command's failures are reported where it runs (CommandFailure); what
    // escapes parsing or the command line itself is still one line and a documented exit code.
    return CommandFailure.ReportException(ex);
}
