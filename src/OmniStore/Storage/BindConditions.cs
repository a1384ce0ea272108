using OmniStore.Content;
using OmniStore.Internal;

namespace OmniStore.Storage;

/// <summary>
/// What a binding requires of the name's current binding, checked under the name's lock with the
/// write (docs/api.md, "Publish"). "Bound" means bound and not expired.
/// </summary>
/// <param name="IfVersion">Bind only over a binding of this version (0: no such condition).</param>
/// <param name="IfNotExists">Bind only when the name is not bound.</param>
/// <param name="IfChanged">Leave a binding to the same manifest as it is.</param>
internal readonly record struct BindConditions(long IfVersion, bool IfNotExists, bool IfChanged)
{
    /// <summary>No condition: every bind makes a new version.</summary>
    public static BindConditions None => default;

    /// <summary>
    /// The binding to write over <paramref name="previous"/> for <paramref name="manifestId"/>, or
    /// <paramref name="previous"/> itself when <see cref="IfChanged"/> keeps it.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Conflict"/> when a condition does not hold.</exception>
    public Binding Next(string name, Binding? previous, ManifestId manifestId, long expiresUnixMs, long nowUnixMs)
    {
        bool live = previous is { } p && p.IsLiveAt(nowUnixMs);
        if (IfNotExists && live)
        {
            throw new OmniStoreException(OmniStoreError.Conflict, $"'{UntrustedText.Escape(name, 200)}' is bound already (version {previous!.Value.Version}): the Put asked to bind it only if it was not.");
        }

        if (IfVersion != 0 && (!live || previous!.Value.Version != IfVersion))
        {
            throw new OmniStoreException(OmniStoreError.Conflict, live
                ? $"'{UntrustedText.Escape(name, 200)}' is at version {previous!.Value.Version}, not {IfVersion} as the Put asked: it moved on."
                : $"'{UntrustedText.Escape(name, 200)}' is not bound, not at version {IfVersion} as the Put asked.");
        }

        if (IfChanged && live && previous!.Value.ManifestId == manifestId)
        {
            return previous.Value;
        }

        return new Binding(manifestId, (previous?.Version ?? 0) + 1, IsBound: true, expiresUnixMs);
    }
}
