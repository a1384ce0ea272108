namespace OmniStore.Transport;

/// <summary>
/// Byte counters of one link, both directions: payload (message bytes, what the application
/// moved) and wire (every byte the transport carried, frame headers and handshake included).
/// </summary>
internal sealed class LinkCounters
{
    private long _payloadIn;
    private long _payloadOut;
    private long _wireIn;
    private long _wireOut;

    public long PayloadIn => Interlocked.Read(ref _payloadIn);

    public long PayloadOut => Interlocked.Read(ref _payloadOut);

    public long WireIn => Interlocked.Read(ref _wireIn);

    public long WireOut => Interlocked.Read(ref _wireOut);

    public void AddPayloadIn(long bytes) => Interlocked.Add(ref _payloadIn, bytes);

    public void AddPayloadOut(long bytes) => Interlocked.Add(ref _payloadOut, bytes);

    public void AddWireIn(long bytes) => Interlocked.Add(ref _wireIn, bytes);

    public void AddWireOut(long bytes) => Interlocked.Add(ref _wireOut, bytes);
}
