namespace OmniStore.Cli.Bench;

/// <summary>The first failure of a benchmark run, kept to report; later ones are only counted.</summary>
internal sealed class BenchFailure
{
    private readonly Lock _lock = new();

    public string? Message { get; private set; }

    public OmniStoreError? Kind { get; private set; }

    /// <summary>Notes <paramref name="ex"/>: an <see cref="OmniStoreException"/>, or a cancellation at the run's time limit.</summary>
    public void Note(Exception ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        if (ex is OperationCanceledException)
        {
            Note(OmniStoreError.Unavailable, "an operation did not finish within the run's time limit");
        }
        else
        {
            Note((ex as OmniStoreException)?.Error, ex.Message);
        }
    }

    public void Note(OmniStoreError? kind, string message)
    {
        lock (_lock)
        {
            if (Message is null)
            {
                Message = message;
                Kind = kind;
            }
        }
    }
}
