using OmniStore.Cli;

return await OmniStoreCommandLine.RunAsync(args);
