using System.Diagnostics.Tracing;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// Counts the bytes rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>, per thread and in
/// the whole process, from the pool's own events. A rent is memory taken whether or not the pool
/// had the array already, so a decoder that rents 16 MiB for a 20-byte message is caught even when
/// an earlier test left such an array in the pool (the GC's allocation counter would see nothing).
/// </summary>
internal sealed class ArrayPoolWatch : EventListener
{
    private const string PoolEventSource = "System.Buffers.ArrayPoolEventSource";

    [ThreadStatic]
    private static long t_rented;
    private static long s_rented;

    private static readonly Lazy<ArrayPoolWatch> Instance = new(() => new ArrayPoolWatch());

    /// <summary>Bytes rented on this thread since the watch started.</summary>
    public static long RentedOnThisThread => t_rented;

    /// <summary>Bytes rented in the process since the watch started.</summary>
    public static long RentedInProcess => Interlocked.Read(ref s_rented);

    /// <summary>Starts watching (once per process; the listener lives as long as the process).</summary>
    public static void Start() => _ = Instance.Value;

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        // Called from the base constructor for sources that already exist: touch no instance state.
        if (eventSource.Name == PoolEventSource)
        {
            EnableEvents(eventSource, EventLevel.Verbose);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        // BufferRented(int bufferId, int bufferSize, int poolId, int bucketId), raised on the renting thread.
        if (eventData.EventName == "BufferRented" && eventData.Payload is { Count: >= 2 } payload && payload[1] is int size)
        {
            t_rented += size;
            Interlocked.Add(ref s_rented, size);
        }
    }
}
