using System.Diagnostics;

namespace OmniStore.Diagnostics;

/// <summary>
/// One client operation being observed: its span (when something listens to
/// <see cref="Telemetry.Source"/>), then on <see cref="Dispose"/> its count, bytes, error and duration.
/// A struct used with <c>using</c>, so an operation that nobody observes costs two timestamps.
/// </summary>
internal struct ClientOperation : IDisposable
{
    private readonly string _operation;
    private readonly long _started;
    private readonly Activity? _activity;
    private long _bytes;
    private string? _error;

    private ClientOperation(string operation, string name)
    {
        _operation = operation;
        _started = Stopwatch.GetTimestamp();
        _activity = Telemetry.Source.StartActivity(SpanName(operation), ActivityKind.Client);
        if (_activity is { IsAllDataRequested: true })
        {
            _activity.SetTag("omnistore.operation", operation);
            _activity.SetTag("omnistore.object.name", name);
        }
    }

    /// <summary>Starts observing <paramref name="operation"/> (<c>get</c>, <c>put</c>, ...) of the object <paramref name="name"/>.</summary>
    public static ClientOperation Start(string operation, string name) => new(operation, name);

    /// <summary>The object's bytes the operation moved, counted once it ends.</summary>
    public void Moved(long bytes) => _bytes = bytes;

    /// <summary>
    /// The operation failed with <paramref name="exception"/>: recorded on the span and in the counts.
    /// Returns false, for an exception filter (<c>catch (Exception ex) when (operation.Failed(ex))</c>)
    /// that records without catching.
    /// </summary>
    public bool Failed(Exception exception)
    {
        _error = exception switch
        {
            OmniStoreException store => store.Error.ToString(),
            OperationCanceledException => "Cancelled",
            _ => exception.GetType().Name,
        };
        _activity?.SetStatus(ActivityStatusCode.Error, exception.Message);
        _activity?.SetTag("error.type", _error);
        return false;
    }

    public readonly void Dispose()
    {
        var operation = new KeyValuePair<string, object?>("omnistore.operation", _operation);
        Telemetry.Operations.Add(1, operation);
        if (_bytes > 0)
        {
            Telemetry.Bytes.Add(_bytes, operation);
            _activity?.SetTag("omnistore.bytes", _bytes);
        }

        if (_error is null)
        {
            Telemetry.Duration.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, operation);
        }
        else
        {
            var error = new KeyValuePair<string, object?>("error.type", _error);
            Telemetry.Errors.Add(1, operation, error);
            Telemetry.Duration.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, operation, error);
        }

        _activity?.Dispose();
    }

    private static string SpanName(string operation) => operation switch
    {
        "get" => "OmniStore.Get",
        "put" => "OmniStore.Put",
        "stat" => "OmniStore.Stat",
        "delete" => "OmniStore.Delete",
        "prefetch" => "OmniStore.Prefetch",
        "wait" => "OmniStore.WaitFor",
        _ => "OmniStore." + operation,
    };
}
