using System.Runtime.InteropServices;

namespace OmniStore.Lab.Internal;

/// <summary>
/// The labs alive in this process, torn down on SIGINT, SIGTERM and process exit. The signal
/// handlers do not cancel the signal: once the labs are gone, the process ends as it would have.
/// </summary>
internal static class LabRegistry
{
    private static readonly TimeSpan ExitTeardownTimeout = TimeSpan.FromSeconds(20);
    private static readonly Lock Gate = new();
    private static readonly HashSet<Lab> Labs = [];
    private static List<PosixSignalRegistration>? _signals;

    public static void Add(Lab lab)
    {
        lock (Gate)
        {
            Labs.Add(lab);
            if (_signals is null)
            {
                _signals = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
                AppDomain.CurrentDomain.ProcessExit += (_, _) => TeardownAll();
            }
        }
    }

    public static void Remove(Lab lab)
    {
        lock (Gate)
        {
            Labs.Remove(lab);
        }
    }

    private static void OnSignal(PosixSignalContext context) => TeardownAll();

    private static void TeardownAll()
    {
        Lab[] labs;
        lock (Gate)
        {
            labs = [.. Labs];
        }

        foreach (var lab in labs)
        {
            lab.TeardownForExit(ExitTeardownTimeout);
        }
    }
}
