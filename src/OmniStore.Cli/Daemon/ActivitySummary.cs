using Microsoft.Extensions.Logging;
using OmniStore.Node;

namespace OmniStore.Cli.Daemon;

/// <summary>
/// One log line at Information per interval (a minute by default, <c>--log-summary-interval</c>)
/// saying what the node did in it: connections accepted and closed, requests served, bytes to and
/// from its children. Routine events (a client connects, a name is bound) are logged at Debug, so
/// a busy node's log grows by a line a minute, not a line a request. Nothing is written for an
/// interval in which nothing happened. It reads counters the node keeps anyway: no cost per request.
/// </summary>
internal sealed class ActivitySummary : IAsyncDisposable
{
    private readonly TreeNode _node;
    private readonly ILogger _logger;
    private readonly PeriodicTimer _timer;
    private readonly Task _loop;
    private Snapshot _last;

    private ActivitySummary(TreeNode node, ILogger logger, TimeSpan interval)
    {
        _node = node;
        _logger = logger;
        _timer = new PeriodicTimer(interval);
        _last = Take(node);
        _loop = Task.Run(() => RunAsync(interval));
    }

    /// <summary>Starts summarising <paramref name="node"/> every <paramref name="interval"/>; null when the interval is zero (no summary).</summary>
    public static ActivitySummary? Start(TreeNode node, ILogger logger, TimeSpan interval) =>
        interval > TimeSpan.Zero ? new ActivitySummary(node, logger, interval) : null;

    public async ValueTask DisposeAsync()
    {
        _timer.Dispose(); // ends WaitForNextTickAsync with false
        await _loop.ConfigureAwait(false);
    }

    private async Task RunAsync(TimeSpan interval)
    {
        while (await _timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            var now = Take(_node);
            var last = _last;
            _last = now;
            long accepted = now.Accepted - last.Accepted;
            long closed = Math.Max(0, accepted - (now.Open - last.Open));
            long requests = now.Requests - last.Requests;
            if (accepted == 0 && closed == 0 && requests == 0)
            {
                continue;
            }

            DaemonLog.Activity(_logger, interval.TotalSeconds, accepted, closed, now.Open, requests, now.BytesOut - last.BytesOut, now.BytesIn - last.BytesIn);
        }
    }

    private static Snapshot Take(TreeNode node)
    {
        var connections = node.Connections;
        var traffic = node.ChildrenTotal;
        return new Snapshot(connections.Accepted, connections.Open, node.RequestsServed, traffic.WireOut, traffic.WireIn);
    }

    private readonly record struct Snapshot(long Accepted, long Open, long Requests, long BytesOut, long BytesIn);
}
