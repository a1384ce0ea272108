using System.Runtime.InteropServices;

namespace OmniStore.Cli.Daemon;

/// <summary>
/// Turns the first SIGINT or SIGTERM into a graceful shutdown (<see cref="Received"/> completes and
/// the default action, ending the process, is cancelled). A second signal is left to the default
/// action, so an operator who does not want to wait for the drain can press Ctrl+C again.
/// </summary>
internal sealed class ShutdownSignal : IDisposable
{
    private readonly TaskCompletionSource<PosixSignal> _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PosixSignalRegistration[] _registrations;

    public ShutdownSignal() =>
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle)];

    /// <summary>Completes with the first signal received.</summary>
    public Task<PosixSignal> Received => _received.Task;

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }

    private void Handle(PosixSignalContext context)
    {
        if (_received.TrySetResult(context.Signal))
        {
            context.Cancel = true;
        }
    }
}
