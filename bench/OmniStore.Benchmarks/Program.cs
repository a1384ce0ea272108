namespace OmniStore.Benchmarks;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == ApiPutGet.Command)
        {
            return ApiPutGet.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == TreeLoop.Command)
        {
            return TreeLoop.Run(args[1..]);
        }

        if (args.Length > 1 && args[0] == TreeReportLoad.RootCommand)
        {
            return TreeReportLoad.RunRoot(args[1..]);
        }

        if (args.Length > 0 && args[0] == TreeReportLoad.Command)
        {
            return TreeReportLoad.Run(args[1..]);
        }

        BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
