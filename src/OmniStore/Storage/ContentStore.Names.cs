using OmniStore.Internal;

namespace OmniStore.Storage;

/// <summary>
/// The bound names in order, for listings (docs/watch.md): an index in memory, built from the
/// catalog at the first listing (a store never listed pays nothing for it), kept up to date by every
/// binding written after that, and built again after a cache's compaction drops names.
/// </summary>
internal sealed partial class ContentStore
{
    private readonly Lock _nameIndexGate = new();
    private SortedSet<string>? _nameIndex;

    /// <summary>
    /// Up to <paramref name="max"/> bound names that start with <paramref name="prefix"/> and come
    /// after <paramref name="after"/>, in <see cref="NameOrder"/>; <c>More</c> when others follow.
    /// </summary>
    public (List<string> Names, bool More) ListNames(string prefix, string after, int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        ThrowIfDisposed();
        var names = new List<string>(Math.Min(max, 1024));
        lock (_nameIndexGate)
        {
            var index = _nameIndex ??= BuildNameIndex();
            string start = NameOrder.Instance.Compare(after, prefix) >= 0 ? after : prefix;
            if (index.Count == 0 || NameOrder.Instance.Compare(start, index.Max) > 0)
            {
                return (names, false);
            }

            // Names under one prefix are contiguous in this order: the first one past it ends the page.
            foreach (var name in index.GetViewBetween(start, index.Max!))
            {
                if (name.Length == after.Length && name == after)
                {
                    continue;
                }

                if (!name.StartsWith(prefix, StringComparison.Ordinal))
                {
                    break;
                }

                if (names.Count == max)
                {
                    return (names, true);
                }

                names.Add(name);
            }
        }

        return (names, false);
    }

    /// <summary>Called with the name's gate held, once a binding is written: keeps the index (when built) in step.</summary>
    private void NoteBindingWritten(string name, bool bound)
    {
        lock (_nameIndexGate)
        {
            if (_nameIndex is { } index)
            {
                if (bound)
                {
                    index.Add(name);
                }
                else
                {
                    index.Remove(name);
                }
            }
        }
    }

    private void DropNameIndex()
    {
        lock (_nameIndexGate)
        {
            _nameIndex = null;
        }
    }

    private SortedSet<string> BuildNameIndex()
    {
        var index = new SortedSet<string>(NameOrder.Instance);
        foreach (var (name, binding) in ListBindings())
        {
            if (binding.IsBound)
            {
                index.Add(name);
            }
        }

        return index;
    }
}
