using System.Globalization;
using System.Text.Json;
using JobScheduler.Api;
using JobScheduler.Data;
using Microsoft.AspNetCore.Mvc;

namespace JobScheduler.Pages;

/// <summary>The dashboard's handlers that change live settings in <c>scheduler_config</c>: the
/// limit, the pause and the settings form. Each checks the values as PUT /api/config does and
/// writes all of them or none.</summary>
public sealed partial class IndexModel
{
    public async Task<IActionResult> OnPostLimitAsync(
        [FromForm(Name = LiveConfig.MaxConcurrentJobsKey)] string? value,
        string? status, string? q, string? cursor, CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, q, cursor);
        Limit = new LimitForm
        {
            Value = Display.Truncate((value ?? "").Trim(), MaxSettingInputLength),
        };
        if (Limit.Validate() is { } limit)
        {
            await StoreLimitAsync(limit, cancellationToken);
        }

        return RespondToForm(LimitFormName);
    }

    /// <summary>Pauses or resumes claiming on every instance. An htmx post gets the stats back,
    /// which carry the pause indicator and the button for the other state.</summary>
    public async Task<IActionResult> OnPostPauseAsync(
        [FromForm(Name = LiveConfig.PausedKey)] string? paused,
        string? status, string? q, string? cursor, CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, q, cursor);
        var text = Display.Truncate((paused ?? "").Trim(), MaxSettingInputLength);
        var body = JsonSerializer.SerializeToElement(
            new Dictionary<string, string> { [LiveConfig.PausedKey] = text });
        var (values, errors) = ConfigEndpoints.Validate(body);
        if (errors.Count > 0)
        {
            PauseFailure = string.Join(" ", errors);
        }
        else if (await WriteConfigAsync(values, "pausing or resuming from the dashboard",
                     cancellationToken) is { } problem)
        {
            PauseFailure = $"Database unreachable: {problem}. The scheduler may not have " +
                           "changed; try again once the database is back.";
        }

        if (!IsHtmxRequest)
        {
            TempData[PauseFailureTempDataKey] = PauseFailure;
            return RedirectToPage("/Index", Filter.RouteValues);
        }

        await ReadAsync(includeStats: true, includeTable: false, cancellationToken);
        return Partial("_Stats", this);
    }

    public async Task<IActionResult> OnPostSettingsAsync(
        [FromForm(Name = LiveConfig.DefaultTimeoutKey)] string? defaultTimeoutSeconds,
        [FromForm(Name = LiveConfig.RunRetentionKey)] string? runRetentionDays,
        [FromForm(Name = LiveConfig.JobRetentionKey)] string? jobRetentionDays,
        string? status, string? q, string? cursor, CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, q, cursor);
        Settings = SettingsForm.FromSubmission(new Dictionary<string, string?>
        {
            [LiveConfig.DefaultTimeoutKey] = defaultTimeoutSeconds,
            [LiveConfig.RunRetentionKey] = runRetentionDays,
            [LiveConfig.JobRetentionKey] = jobRetentionDays,
        });
        if (Settings.Validate() is { } values)
        {
            var problem = await WriteConfigAsync(values, "changing settings from the dashboard",
                cancellationToken);
            if (problem is null)
            {
                Settings.Values = values;
                Settings.Stored = string.Join(", ", values.Select(
                    setting => $"{setting.Key} = {setting.Value}"));
            }
            else
            {
                Settings.Failure = $"Database unreachable: {problem}. The settings may not have " +
                                   "been stored; try again once the database is back.";
            }
        }

        return RespondToForm(SettingsFormName);
    }

    private async Task StoreLimitAsync(int limit, CancellationToken cancellationToken)
    {
        var text = limit.ToString(CultureInfo.InvariantCulture);
        var values = new Dictionary<string, string> { [LiveConfig.MaxConcurrentJobsKey] = text };
        var problem = await WriteConfigAsync(values, "setting the limit from the dashboard",
            cancellationToken);
        if (problem is null)
        {
            Limit = new LimitForm { Value = text, StoredLimit = limit };
        }
        else
        {
            Limit.Failure = $"Database unreachable: {problem}. The limit may not have been " +
                            "stored; try again once the database is back.";
        }
    }

    /// <summary>Writes validated settings, all or none, and wakes the scheduler so that it
    /// reads them at once. Returns null, or the outage that stopped the write.</summary>
    private async Task<string?> WriteConfigAsync(
        IReadOnlyDictionary<string, string> values, string activity,
        CancellationToken cancellationToken)
    {
        return await DatabaseGuard.RunAsync(database, activity, async () =>
        {
            await configStore.WriteAsync(values, cancellationToken);
            wake.Signal();
            foreach (var (key, value) in values)
            {
                logger.LogInformation("Dashboard set {Key} to {Value}", key, value);
            }
        });
    }
}
