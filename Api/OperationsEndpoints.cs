using JobScheduler.Data;
using JobScheduler.Hosting;
using JobScheduler.Scheduling;
using Npgsql;
using Prometheus;

namespace JobScheduler.Api;

/// <summary>Endpoints for load balancers, service managers and monitoring: /healthz, /readyz
/// and /metrics.</summary>
public static class OperationsEndpoints
{
    public sealed record Health(string Status);

    public sealed record Readiness(string Status, IReadOnlyDictionary<string, string> Checks);

    public static WebApplication MapOperations(this WebApplication app, Settings settings)
    {
        // Liveness: only the process itself is checked, so a database outage never gets the
        // daemon restarted.
        app.MapGet("/healthz", () => Results.Ok(new Health("alive")))
            .WithTags("Operations")
            .WithSummary("Process liveness")
            .Produces<Health>();

        app.MapGet("/readyz", ReadyAsync)
            .WithTags("Operations")
            .WithSummary("Readiness: database reachable, migrations applied, claim loop ticking")
            .Produces<Readiness>()
            .Produces<Readiness>(StatusCodes.Status503ServiceUnavailable);

        var metrics = app.Services.GetRequiredService<SchedulerMetrics>();
        metrics.Registry.AddBeforeCollectCallback(async cancellationToken =>
        {
            try
            {
                await metrics.RefreshAsync(app.Services.GetRequiredService<JobQueries>(),
                    app.Services.GetRequiredService<LiveConfig>(), cancellationToken);
            }
            catch (Exception e) when (DatabaseStatus.IsOutage(e))
            {
                // The job gauges keep their last values; the error counter shows the outage.
                app.Services.GetRequiredService<DatabaseStatus>().ReportOutage(e, "refreshing metrics");
            }
        });
        var endpoint = app.MapMetrics("/metrics", metrics.Registry);
        if (settings.ApiToken is not null)
        {
            endpoint.RequireAuthorization(Security.ApiPolicy);
        }

        return app;
    }

    private static async Task<IResult> ReadyAsync(
        NpgsqlDataSource dataSource, DatabaseStatus database, SchedulerService scheduler,
        Settings settings, CancellationToken cancellationToken)
    {
        var checks = new Dictionary<string, string>();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(timeout.Token);
            checks["database"] = "ok";
        }
        catch (Exception e) when (DatabaseStatus.IsOutage(e) || e is OperationCanceledException)
        {
            checks["database"] = "unreachable: " + (database.Problem ?? e.Message);
        }

        checks["migrations"] = database.IsSchemaReady ? "ok" : "not applied yet";

        // The loop runs a cycle at least every CHECK_INTERVAL; three missed ones mean it is stuck
        // or cannot reach the database.
        var stale = TimeSpan.FromTicks(Math.Max(3 * settings.CheckInterval.Ticks, TimeSpan.FromSeconds(30).Ticks));
        checks["scheduler"] = scheduler.LastCycleAt is { } last
            ? DateTimeOffset.UtcNow - last < stale
                ? "ok"
                : $"no claim cycle for {(DateTimeOffset.UtcNow - last).TotalSeconds:0} s"
            : "not started yet";

        var ready = checks.Values.All(value => value == "ok");
        return Results.Json(new Readiness(ready ? "ready" : "not_ready", checks),
            statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }
}
