using System.Diagnostics.CodeAnalysis;

namespace OmniStore.Internal;

/// <summary>All construction of <see cref="OmniStoreException"/> goes through here, so messages stay uniform.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void Throw(OmniStoreError error, string message) => throw new OmniStoreException(error, message);

    public static OmniStoreException NotFound(string name) =>
        new(OmniStoreError.NotFound, $"No object is bound to the name '{name}'.");

    public static OmniStoreException TooSmall(long needed, long available) =>
        new(OmniStoreError.TooSmall, $"The destination holds {available} bytes but the object has {needed}.");

    public static OmniStoreException Corrupt(string what) =>
        new(OmniStoreError.Corrupt, what);
}
