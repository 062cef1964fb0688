using System.Globalization;
using System.Text.Json;
using JobScheduler.Api;
using JobScheduler.Data;

namespace JobScheduler.Pages;

/// <summary>The settings form for the live settings other than the limit and the pause, as
/// submitted, with its outcome. It travels through TempData as JSON when a plain form post
/// redirects.</summary>
public sealed class SettingsForm
{
    /// <summary>The settings the form sets, in the order it shows them.</summary>
    public static IReadOnlyList<LiveSetting> Fields { get; } =
    [
        Setting(LiveConfig.DefaultTimeoutKey),
        Setting(LiveConfig.RunRetentionKey),
        Setting(LiveConfig.JobRetentionKey),
    ];

    /// <summary>The submitted text by setting key.</summary>
    public Dictionary<string, string> Values { get; set; } = [];

    /// <summary>Validation errors by setting key.</summary>
    public Dictionary<string, string> Errors { get; set; } = [];

    /// <summary>Failure that belongs to no single field, such as a database outage.</summary>
    public string? Failure { get; set; }

    /// <summary>The values just stored, as one line, or null when nothing was stored.</summary>
    public string? Stored { get; set; }

    /// <summary>Whether the form has something to show, so its section renders open.</summary>
    public bool HasOutcome => Errors.Count > 0 || Failure is not null || Stored is not null;

    public static SettingsForm FromSubmission(IReadOnlyDictionary<string, string?> submitted)
    {
        var form = new SettingsForm();
        foreach (var setting in Fields)
        {
            form.Values[setting.Key] = Display.Truncate(
                (submitted.GetValueOrDefault(setting.Key) ?? "").Trim(),
                AddJobForm.MaxNumberLength);
        }

        return form;
    }

    /// <summary>Fills the fields with the values in force.</summary>
    public void Prefill(ConfigEndpoints.ConfigView config)
    {
        Values[LiveConfig.DefaultTimeoutKey] = Format(config.DefaultTimeoutSeconds);
        Values[LiveConfig.RunRetentionKey] = Format(config.RunRetentionDays);
        Values[LiveConfig.JobRetentionKey] = Format(config.JobRetentionDays);
    }

    public string ValueOf(string key) => Values.GetValueOrDefault(key) ?? "";

    public string? ErrorFor(string key) => Errors.GetValueOrDefault(key);

    /// <summary>Checks every value as PUT /api/config does. Returns the values to store, or
    /// null with <see cref="Errors"/> or <see cref="Failure"/> filled when any is invalid.
    /// </summary>
    public Dictionary<string, string>? Validate()
    {
        // Each value goes in as a JSON string, which PUT /api/config accepts as well.
        var body = JsonSerializer.SerializeToElement(Values);
        var (values, errors) = ConfigEndpoints.Validate(body);
        foreach (var error in errors)
        {
            var key = Fields.Select(setting => setting.Key)
                .FirstOrDefault(name => error.StartsWith(name + " ", StringComparison.Ordinal));
            if (key is null)
            {
                Failure = (Failure + " " + error).Trim();
            }
            else
            {
                Errors[key] = error;
            }
        }

        return errors.Count == 0 ? values : null;
    }

    private static string Format(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static LiveSetting Setting(string key) =>
        LiveConfig.Settings.First(setting => setting.Key == key);
}
