using OmniStore.Node.Requests;

namespace OmniStore.Node;

/// <summary>
/// A part of a node that serves requests of its own (NAT traversal's rendezvous, for example): it
/// adds its entries to the node's <see cref="RequestTable"/> when the node starts, next to the
/// node's own. Given in <see cref="TreeNodeOptions.Modules"/>.
/// </summary>
internal interface INodeModule
{
    /// <summary>Registers this module's requests. Called once, before the node accepts a connection.</summary>
    void AddRequests(RequestTable table);
}
