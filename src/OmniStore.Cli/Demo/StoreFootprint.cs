using OmniStore.Node;

namespace OmniStore.Cli.Demo;

/// <summary>
/// Bytes an embedded store holds in its logs (chunks, manifests, bindings), as the store counts
/// them. The demo reads it around each Put to show what the store really added. Not the
/// directory's size on disk: the store may reserve disk space ahead of its writes, so the files'
/// lengths say how much room it took, not what it wrote.
/// </summary>
internal static class StoreFootprint
{
    public static long Measure(OmniStoreClient client) =>
        client.Service is EmbeddedNode embedded
            ? embedded.Store.UsedBytes
            : throw new InvalidOperationException("The store footprint is known only for an embedded store.");
}
