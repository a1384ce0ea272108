namespace OmniStore.Protocol;

/// <summary>Where a received message's buffer is charged: the connection it arrived on.</summary>
internal interface IMessageMemory
{
    void Charge(long bytes);

    void Release(long bytes);
}
