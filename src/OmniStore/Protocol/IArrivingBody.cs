namespace OmniStore.Protocol;

/// <summary>
/// The body of an answer that is still arriving from elsewhere (a chunk a relay is fetching), sent
/// by <see cref="PeerConnection.RespondArrivingAsync"/> frame by frame as its bytes come.
/// </summary>
internal interface IArrivingBody
{
    /// <summary>The body's length, known before its bytes.</summary>
    int Length { get; }

    /// <summary>The body's buffer: <see cref="Length"/> bytes, of which those a wait returned are valid. Read only after a wait.</summary>
    ReadOnlyMemory<byte> Memory { get; }

    /// <summary>Waits until at least <paramref name="bytes"/> bytes of the body are there; returns how many are. Throws when the body will not come.</summary>
    ValueTask<int> WaitAsync(int bytes, CancellationToken cancellationToken);

    /// <summary>Waits until the whole body is there and checked, so that the message may be finished with it. Throws when it will not be.</summary>
    ValueTask WaitCheckedAsync(CancellationToken cancellationToken);
}
