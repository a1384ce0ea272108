using System.Text.Json;
using System.Text.Json.Serialization;
using OmniStore.Node;

namespace OmniStore.Cli.Status;

/// <summary>
/// The JSON form of a <see cref="TreeView"/> (docs/tree.md, "/tree JSON"), served at <c>/tree</c>
/// and <c>/tree/events</c> and read back by <c>omnistore status --tree</c>: camelCase, on one line
/// (an event of the stream is one <c>data:</c> line), source-generated.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(TreeView))]
internal sealed partial class TreeJson : JsonSerializerContext
{
    public static string Serialize(TreeView tree) => JsonSerializer.Serialize(tree, Default.TreeView);

    /// <exception cref="JsonException">The text is not a tree.</exception>
    public static TreeView Deserialize(string json) =>
        JsonSerializer.Deserialize(json, Default.TreeView) ?? throw new JsonException("The tree is null.");
}
