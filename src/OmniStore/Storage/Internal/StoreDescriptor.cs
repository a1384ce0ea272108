using System.Text.Json;
using System.Text.Json.Serialization;

namespace OmniStore.Storage.Internal;

/// <summary>
/// <c>store.json</c>: what a store directory is and the layout choices that cannot change once
/// data is written. Written once, atomically (temp file + rename), when the store is created.
/// </summary>
internal sealed record StoreDescriptor
{
    public const int CurrentFormat = 1;
    private const string FileName = "store.json";

    [JsonPropertyName("format")]
    public int Format { get; init; } = CurrentFormat;

    [JsonPropertyName("dataPageSizeBits")]
    public int DataPageSizeBits { get; init; }

    /// <summary>A chunk plus its record header must fit in half a page.</summary>
    [JsonIgnore]
    public int MaxChunkSize => (int)Math.Min(Content.ChunkLayout.MaxChunkSize, 1L << (DataPageSizeBits - 1));

    public static StoreDescriptor LoadOrCreate(string directory, int dataPageSizeBits)
    {
        string path = Path.Combine(directory, FileName);
        if (File.Exists(path))
        {
            StoreDescriptor? existing;
            try
            {
                existing = JsonSerializer.Deserialize(File.ReadAllBytes(path), StoreDescriptorJson.Default.StoreDescriptor);
            }
            catch (JsonException ex)
            {
                throw new OmniStoreException(OmniStoreError.Corrupt, $"'{path}' is not a valid store descriptor: {ex.Message}", ex);
            }

            if (existing is null || existing.Format != CurrentFormat || existing.DataPageSizeBits is < 16 or > 30)
            {
                throw new OmniStoreException(OmniStoreError.Corrupt, $"'{path}' describes a store format this build cannot open.");
            }

            return existing;
        }

        var created = new StoreDescriptor { DataPageSizeBits = dataPageSizeBits };
        string temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(file, created, StoreDescriptorJson.Default.StoreDescriptor);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        return created;
    }
}

[JsonSerializable(typeof(StoreDescriptor))]
internal sealed partial class StoreDescriptorJson : JsonSerializerContext;
