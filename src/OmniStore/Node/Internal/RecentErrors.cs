using OmniStore.Internal;
using OmniStore.Protocol;

namespace OmniStore.Node.Internal;

/// <summary>
/// The last <see cref="Capacity"/> errors a node met, for the tree view (docs/tree.md, "Recent
/// errors"): each escaped and cut when it is noted, with its time.
/// </summary>
internal sealed class RecentErrors
{
    public const int Capacity = 8;

    private readonly Lock _lock = new();
    private readonly Queue<TreeError> _errors = new(Capacity);

    public void Note(string text)
    {
        var error = new TreeError(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), UntrustedText.Escape(text, TreeReportMessages.MaxErrorBytes));
        lock (_lock)
        {
            if (_errors.Count == Capacity)
            {
                _errors.Dequeue();
            }

            _errors.Enqueue(error);
        }
    }

    /// <summary>The newest <paramref name="max"/> errors, newest first.</summary>
    public List<TreeError> Newest(int max)
    {
        lock (_lock)
        {
            return _errors.Reverse().Take(max).ToList();
        }
    }
}
