using System.Globalization;
using System.Text.Json;
using JobScheduler.Data;
using JobScheduler.Scheduling;

namespace JobScheduler.Api;

/// <summary>REST endpoints for the live configuration and the counts per status.</summary>
public static class ConfigEndpoints
{
    /// <summary>Maps the config and stats endpoints under the given /api group.</summary>
    public static IEndpointRouteBuilder MapConfigApi(this IEndpointRouteBuilder api)
    {
        api.MapGet("/config", GetAsync)
            .WithTags("Configuration")
            .WithSummary("Get the live settings in force, with any stored value that is invalid")
            .Produces<ConfigView>()
            .WithCommonProblems();
        api.MapPut("/config", PutAsync)
            .WithTags("Configuration")
            .WithSummary("Change live settings; all or nothing")
            .WithJsonBody<ConfigBody>()
            .Produces<ConfigView>()
            .WithCommonProblems();
        api.MapGet("/stats", StatsAsync)
            .WithTags("Configuration")
            .WithSummary("Count jobs per status, with the limit in force")
            .Produces<JobStats>()
            .WithCommonProblems();
        return api;
    }

    public sealed record ConfigView(
        int MaxConcurrentJobs,
        int DefaultTimeoutSeconds,
        bool Paused,
        int RunRetentionDays,
        int JobRetentionDays,
        IReadOnlyList<string> Problems);

    /// <summary>Reads the stored configuration with the values in force: a stored value that is
    /// invalid or missing is shown as the last valid one, with the problem.</summary>
    public static async Task<ConfigView> ReadViewAsync(
        ConfigStore store, LiveConfig live, CancellationToken cancellationToken)
    {
        var stored = await store.ReadAsync(cancellationToken);
        var problems = new List<string>();
        var values = new Dictionary<string, int>();
        foreach (var setting in LiveConfig.Settings)
        {
            stored.TryGetValue(setting.Key, out var raw);
            var parsed = LiveConfig.Parse(setting, raw);
            values[setting.Key] = parsed ?? live.Get(setting.Key);
            if (parsed is null)
            {
                problems.Add(raw is null
                    ? $"{setting.Key} is missing from scheduler_config; " +
                      $"{setting.Format(live.Get(setting.Key))} is in force."
                    : $"{setting.Key} = '{raw}' in scheduler_config is invalid; " +
                      $"{setting.Format(live.Get(setting.Key))} is in force. Set " +
                      $"{setting.Describe}.");
            }
        }

        return new ConfigView(values[LiveConfig.MaxConcurrentJobsKey],
            values[LiveConfig.DefaultTimeoutKey], values[LiveConfig.PausedKey] != 0,
            values[LiveConfig.RunRetentionKey], values[LiveConfig.JobRetentionKey], problems);
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
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => null,
            };
            var error = LiveConfig.Validate(property.Name, text ?? JsonBody.Describe(property.Value));
            if (error is not null)
            {
                errors.Add(error + ".");
                continue;
            }

            var setting = LiveConfig.Settings.First(s => s.Key == property.Name);
            values[property.Name] = setting.Format(LiveConfig.Parse(setting, text)!.Value);
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
