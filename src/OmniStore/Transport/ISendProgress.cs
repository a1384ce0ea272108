namespace OmniStore.Transport;

/// <summary>
/// The feature of a link whose transport knows how many bytes the peer acknowledged
/// (<see cref="TransportConnection.GetFeature{TFeature}"/>): a send that waits long is not a frozen
/// peer while this count moves (a flow a shared bottleneck starves still moves it).
/// </summary>
internal interface ISendProgress
{
    /// <summary>Bytes the peer's transport acknowledged since the link opened; null when it cannot be read now.</summary>
    long? BytesAcknowledged { get; }
}
