using System.Text.Json;
using System.Text.Json.Serialization;
using OmniStore.Node;

namespace OmniStore.Cli.Status;

/// <summary>
/// The JSON form of a <see cref="NodeStatus"/>, served at <c>/status</c> and read back by
/// <c>omnistore status</c>: camelCase, indented, source-generated (no reflection at run time).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(NodeStatus))]
internal sealed partial class StatusJson : JsonSerializerContext
{
    public static string Serialize(NodeStatus status) => JsonSerializer.Serialize(status, Default.NodeStatus);

    /// <exception cref="JsonException">The text is not a node status.</exception>
    public static NodeStatus Deserialize(string json) =>
        JsonSerializer.Deserialize(json, Default.NodeStatus) ?? throw new JsonException("The status is null.");
}
