using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OmniStore.Node;

namespace OmniStore.Cli.Status;

/// <summary>
/// The daemon's HTTP status listener (Kestrel, from the ASP.NET Core shared framework):
/// <c>GET /status</c> is the node's <see cref="NodeStatus"/> as JSON, <c>GET /metrics</c> the same in
/// the Prometheus text format, <c>GET /healthz</c> 200 while the process serves at all, and
/// <c>GET /readyz</c> 200 while the node is ready to serve its children and 503 while it is not
/// (<see cref="TreeNode.GetReadiness"/>), with the reason in one line of text either way. It
/// listens only where <c>--status-listen</c> says, and has no authentication: bind it to loopback
/// or a management network.
/// </summary>
internal sealed class StatusListener : IAsyncDisposable
{
    /// <summary>Connections the listener holds at once; more wait in the backlog or are refused.</summary>
    public const int MaxConnections = 32;

    private readonly WebApplication _app;
    private int _stopped;

    private StatusListener(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>The address it listens on, with the actual port when 0 was asked for.</summary>
    public Uri Address { get; }

    /// <summary>The first word of the <c>/readyz</c> body when the node is ready; otherwise it starts with <see cref="NotReadyPrefix"/>.</summary>
    public const string ReadyPrefix = "ready: ";

    /// <summary>The first words of the <c>/readyz</c> body when the node is not ready.</summary>
    public const string NotReadyPrefix = "not ready: ";

    /// <summary>Event streams (<c>/tree/events</c>) served at once; more are answered 503.</summary>
    public const int MaxEventStreams = 8;

    /// <summary>How often an event stream sends the tree.</summary>
    public static readonly TimeSpan EventInterval = TimeSpan.FromSeconds(1);

    public static async Task<StatusListener> StartAsync(Uri listen, Func<NodeStatus> status, Func<ReadinessStatus> readiness, Func<string?, CancellationToken, Task<TreeView>> tree, Action<ILoggingBuilder> configureLogging, CancellationToken cancellationToken)
    {
        // The slim builder: Kestrel and routing, none of the rest of the web stack.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ApplicationName = "omnistore",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        configureLogging(builder.Logging);

        // The host logs a failed start with the whole exception and its stack (several KB on one
        // line); every failure of the host reaches StartAsync or StopAsync, which report it in one.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);

        // The daemon handles SIGINT and SIGTERM itself (it drains the node first); the host's
        // console lifetime would race it for the same signals.
        builder.Services.AddSingleton<IHostLifetime, NoSignalLifetime>();
        builder.WebHost.UseUrls(listen.GetLeftPart(UriPartial.Authority));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Its connections come out of the descriptors the node keeps in reserve: a few
            // scrapers and probes need few, and a flood must not take the ones the node needs.
            kestrel.Limits.MaxConcurrentConnections = MaxConnections;
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(30);
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            kestrel.Limits.MaxRequestHeadersTotalSize = 8 * 1024;
            kestrel.Limits.MaxRequestBodySize = 0;
            kestrel.AddServerHeader = false;
        });

        var app = builder.Build();
        app.MapGet("/status", context =>
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            return context.Response.WriteAsync(StatusJson.Serialize(status()) + "\n", context.RequestAborted);
        });
        app.MapGet("/metrics", context =>
        {
            context.Response.ContentType = PrometheusText.ContentType;
            return context.Response.WriteAsync(NodeMetrics.Format(status()), context.RequestAborted);
        });
        app.MapGet("/healthz", context =>
        {
            // Alive: the process answers. Liveness probes restart on this one, never on readiness,
            // so that a relay waiting for its parent is not restarted in a loop.
            context.Response.ContentType = "text/plain; charset=utf-8";
            return context.Response.WriteAsync("ok\n", context.RequestAborted);
        });
        app.MapGet("/readyz", context =>
        {
            // Not ready (a new connection would be refused, the store is closing, a relay has no
            // parent and nothing it may serve): probes and load balancers then send clients
            // elsewhere instead of into a refusal.
            context.Response.ContentType = "text/plain; charset=utf-8";
            var ready = readiness();
            if (!ready.Ready)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            }

            return context.Response.WriteAsync($"{(ready.Ready ? ReadyPrefix : NotReadyPrefix)}{ready.Reason}\n", context.RequestAborted);
        });
        app.MapGet("/tree", async context =>
        {
            if (await TreeAsync(context, tree) is { } view)
            {
                context.Response.ContentType = "application/json; charset=utf-8";
                await context.Response.WriteAsync(TreeJson.Serialize(view) + "\n", context.RequestAborted);
            }
        });
        var eventStreams = new int[1]; // this listener's streams open now
        app.MapGet("/tree/events", context => StreamTreeAsync(context, tree, eventStreams, app.Lifetime.ApplicationStopping));
        app.MapGet("/", context => PageAsync(context, "tree.html", "text/html; charset=utf-8"));
        app.MapGet("/tree.js", context => PageAsync(context, "tree.js", "text/javascript; charset=utf-8"));
        app.MapGet("/tree.css", context => PageAsync(context, "tree.css", "text/css; charset=utf-8"));
        app.MapGet("/help", context =>
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            return context.Response.WriteAsync("omnistore node: GET / (the tree page), GET /tree (JSON; ?name=NAME: who holds NAME), GET /tree/events (the same as Server-Sent Events), GET /status (JSON), GET /metrics (Prometheus), GET /healthz (200 while the process serves), GET /readyz (200 when ready to serve, else 503; the reason in the body)\n", context.RequestAborted);
        });

        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            await app.DisposeAsync();
            if (ex is IOException)
            {
                // Kestrel's "Failed to bind to address": another process (or node) listens there.
                throw new OmniStoreException(OmniStoreError.Unavailable, $"Cannot listen on {listen.GetLeftPart(UriPartial.Authority)} (--status-listen): {BindFailure(ex)}", ex);
            }

            throw;
        }

        return new StatusListener(app, new Uri(app.Urls.First()));
    }

    /// <summary>The tree for a request's <c>?name=</c>; null, with 400 and the reason written, for a name that is not one.</summary>
    private static async Task<TreeView?> TreeAsync(HttpContext context, Func<string?, CancellationToken, Task<TreeView>> tree)
    {
        string? name = context.Request.Query["name"].FirstOrDefault();
        name = string.IsNullOrEmpty(name) ? null : name;
        if (name is not null && !ObjectName.IsValid(name, out string? problem))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync($"?name=: {problem}\n", context.RequestAborted);
            return null;
        }

        return await tree(name, context.RequestAborted);
    }

    /// <summary>
    /// <c>/tree/events</c>: the tree as Server-Sent Events, one event a second, until the client goes
    /// or the listener stops; at most <see cref="MaxEventStreams"/> at once (each holds a connection).
    /// </summary>
    private static async Task StreamTreeAsync(HttpContext context, Func<string?, CancellationToken, Task<TreeView>> tree, int[] open, CancellationToken stopping)
    {
        if (Interlocked.Increment(ref open[0]) > MaxEventStreams)
        {
            Interlocked.Decrement(ref open[0]);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync($"at most {MaxEventStreams} event streams at once\n", context.RequestAborted);
            return;
        }

        try
        {
            using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
            using var timer = new PeriodicTimer(EventInterval);
            do
            {
                if (await TreeAsync(context, tree) is not { } view)
                {
                    return;
                }

                if (!context.Response.HasStarted)
                {
                    context.Response.ContentType = "text/event-stream";
                    context.Response.Headers.CacheControl = "no-cache";
                }

                await context.Response.WriteAsync($"data: {TreeJson.Serialize(view)}\n\n", ended.Token);
                await context.Response.Body.FlushAsync(ended.Token);
            }
            while (await timer.WaitForNextTickAsync(ended.Token));
        }
        catch (OperationCanceledException)
        {
            // the client went, or the listener stops
        }
        finally
        {
            Interlocked.Decrement(ref open[0]);
        }
    }

    /// <summary>A file of the page, from the assembly's resources.</summary>
    private static async Task PageAsync(HttpContext context, string resource, string contentType)
    {
        await using var stream = typeof(StatusListener).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The page's {resource} is not in the assembly.");
        context.Response.ContentType = contentType;
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'";
        await stream.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    /// <summary>Why Kestrel could not bind, in words: the socket error under its exception.</summary>
    private static string BindFailure(Exception ex)
    {
        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket)
            {
                return socket.SocketErrorCode == SocketError.AddressAlreadyInUse
                    ? "the address is in use (another process, or another node, listens there)"
                    : $"{socket.Message} ({socket.SocketErrorCode})";
            }
        }

        return ex.Message;
    }

    /// <summary>Stops listening; requests in progress get <paramref name="grace"/> to finish.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(grace);
        await _app.StopAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(2));
        await _app.DisposeAsync();
    }

    /// <summary>A host lifetime that leaves process signals alone.</summary>
    private sealed class NoSignalLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
