using System.Globalization;
using System.Text.Json;
using JobScheduler.Data;
using JobScheduler.Scheduling;

namespace JobScheduler.Api;

/// <summary>REST endpoints for the live configuration and the counts per status.</summary>
public static class ConfigEndpoints
{
    public static IEndpointRouteBuilder MapConfigApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/config", GetAsync);
        app.MapPut("/api/config", PutAsync);
        app.MapGet("/api/stats", StatsAsync);
        return app;
    }

    public sealed record ConfigView(int MaxConcurrentJobs, IReadOnlyList<string> Problems);

    /// <summary>Reads the stored configuration with the values in force: a stored value that is
    /// invalid is shown as the last valid one, with the problem.</summary>
    public static async Task<ConfigView> ReadViewAsync(
        ConfigStore store, LiveConfig live, CancellationToken cancellationToken)
    {
        var stored = await store.ReadAsync(cancellationToken);
        stored.TryGetValue(LiveConfig.MaxConcurrentJobsKey, out var raw);
        var problems = new List<string>();
        var limit = LiveConfig.ParseLimit(raw);
        if (limit is null)
        {
            problems.Add(raw is null
                ? $"{LiveConfig.MaxConcurrentJobsKey} is missing from scheduler_config; " +
                  $"{live.MaxConcurrentJobs} is in force."
                : $"{LiveConfig.MaxConcurrentJobsKey} = '{raw}' in scheduler_config is invalid; " +
                  $"{live.MaxConcurrentJobs} is in force. Set a whole number from 1 to " +
                  $"{LiveConfig.MaxConcurrentJobsCeiling}.");
        }

        return new ConfigView(limit ?? live.MaxConcurrentJobs, problems);
    }

    /// <summary>Checks submitted values; returns them as stored text, or the errors.</summary>
    public static (Dictionary<string, string> Values, List<string> Errors) Validate(JsonElement body)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var errors = new List<string>();
        foreach (var property in body.EnumerateObject())
        {
            var text = property.Value.ValueKind switch
            {
                JsonValueKind.Number => property.Value.GetRawText(),
                JsonValueKind.String => property.Value.GetString(),
                _ => null,
            };
            var error = LiveConfig.Validate(property.Name, text ?? JsonBody.Describe(property.Value));
            if (error is not null)
            {
                errors.Add(error + ".");
                continue;
            }

            values[property.Name] = LiveConfig.ParseLimit(text)!.Value.ToString(CultureInfo.InvariantCulture);
        }

        if (values.Count == 0 && errors.Count == 0)
        {
            errors.Add("The body names no setting; send for example {\"max_concurrent_jobs\": 4}.");
        }

        return (values, errors);
    }

    private static async Task<IResult> GetAsync(
        ConfigStore store, LiveConfig live, CancellationToken cancellationToken) =>
        Results.Ok(await ReadViewAsync(store, live, cancellationToken));

    private static async Task<IResult> PutAsync(
        HttpRequest request, ConfigStore store, LiveConfig live, WakeSignal wake,
        CancellationToken cancellationToken)
    {
        var (body, problem) = await JsonBody.ReadObjectAsync(request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var (values, errors) = Validate(body);
        if (errors.Count > 0)
        {
            return Problems.BadRequest(string.Join(" ", errors));
        }

        await store.WriteAsync(values, cancellationToken);
        wake.Signal();
        return Results.Ok(await ReadViewAsync(store, live, cancellationToken));
    }

    private static async Task<IResult> StatsAsync(
        JobQueries queries, ConfigStore store, LiveConfig live, CancellationToken cancellationToken)
    {
        var config = await ReadViewAsync(store, live, cancellationToken);
        return Results.Ok(await queries.StatsAsync(config.MaxConcurrentJobs, cancellationToken));
    }
}
