namespace OmniStore.Cli.Demo;

/// <summary>What one demo object amounted to.</summary>
/// <param name="Name">The object's name.</param>
/// <param name="Length">Its length in bytes.</param>
/// <param name="Chunks">Its chunk count, as the store reports it.</param>
/// <param name="NewChunks">Chunks whose content (XXH3-128) appears in no earlier chunk of the data set: what content addressing must store.</param>
/// <param name="NewBytes">Bytes of those chunks.</param>
/// <param name="StoreGrowth">How much the store's logs grew while the object was put (see <see cref="StoreFootprint"/>).</param>
/// <param name="Version">The version its name was bound with.</param>
internal sealed record DemoObjectResult(string Name, long Length, int Chunks, int NewChunks, long NewBytes, long StoreGrowth, long Version);
