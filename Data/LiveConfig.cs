using System.Globalization;

namespace JobScheduler.Data;

/// <summary>A setting of <c>scheduler_config</c>: a whole number with its default and range, or
/// a flag (true or false, kept as 1 or 0).</summary>
public sealed record LiveSetting(
    string Key, int Default, int Min, int Max, string Meaning, bool IsFlag = false)
{
    public string Describe => IsFlag ? "true or false" : $"a whole number from {Min} to {Max}";

    public string Format(int value) =>
        IsFlag ? (value != 0 ? "true" : "false") : value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// The live settings from <c>scheduler_config</c>, re-read every claim cycle. A stored value
/// that is invalid or missing keeps the last good one in force, is logged once, and is listed in
/// <see cref="Problems"/> until someone fixes it.
/// </summary>
public sealed class LiveConfig(ILogger<LiveConfig> logger)
{
    public const string MaxConcurrentJobsKey = "max_concurrent_jobs";
    public const string DefaultTimeoutKey = "default_timeout_seconds";
    public const string PausedKey = "paused";
    public const string RunRetentionKey = "run_retention_days";
    public const string JobRetentionKey = "job_retention_days";
    public const int MaxConcurrentJobsDefault = 2;
    public const int MaxConcurrentJobsCeiling = 10_000;

    public static IReadOnlyList<LiveSetting> Settings { get; } =
    [
        new(MaxConcurrentJobsKey, MaxConcurrentJobsDefault, 1, MaxConcurrentJobsCeiling,
            "jobs running at once across every instance"),
        new(DefaultTimeoutKey, 0, 0, 31_536_000,
            "seconds a run may take when the job sets no timeout_seconds; 0 means no limit"),
        new(PausedKey, 0, 0, 1, "true stops all claiming; running jobs go on", IsFlag: true),
        new(RunRetentionKey, 30, 0, 36_500,
            "days finished runs are kept in job_runs; 0 keeps them for ever"),
        new(JobRetentionKey, 0, 0, 36_500,
            "days finished one-off jobs are kept; 0 keeps them for ever"),
    ];

    public static IReadOnlyList<string> Keys { get; } = Settings.Select(s => s.Key).ToList();

    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _problems = [];
    private readonly Dictionary<string, int> _values =
        Settings.ToDictionary(setting => setting.Key, setting => setting.Default);

    public int MaxConcurrentJobs => Get(MaxConcurrentJobsKey);

    public int DefaultTimeoutSeconds => Get(DefaultTimeoutKey);

    public bool Paused => Get(PausedKey) != 0;

    public int RunRetentionDays => Get(RunRetentionKey);

    public int JobRetentionDays => Get(JobRetentionKey);

    /// <summary>Invalid stored values, by key, each with the value in force instead.</summary>
    public IReadOnlyDictionary<string, string> Problems
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, string>(_problems);
            }
        }
    }

    public int Get(string key)
    {
        lock (_lock)
        {
            return _values[key];
        }
    }

    /// <summary>Checks one value for a key; returns the error, or null when it is valid.</summary>
    public static string? Validate(string key, string? value)
    {
        var setting = Settings.FirstOrDefault(s => s.Key == key);
        if (setting is null)
        {
            return $"'{key}' is not a known setting; known settings: {string.Join(", ", Keys)}";
        }

        return Parse(setting, value) is null
            ? $"{key} must be {setting.Describe}, not '{value}'"
            : null;
    }

    public static int? Parse(LiveSetting setting, string? value)
    {
        var text = value?.Trim().ToLowerInvariant();
        if (setting.IsFlag)
        {
            return text switch
            {
                "true" or "1" or "yes" or "on" => 1,
                "false" or "0" or "no" or "off" => 0,
                _ => null,
            };
        }

        return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture,
            out var number) && number >= setting.Min && number <= setting.Max
            ? number
            : null;
    }

    public static int? ParseLimit(string? value) => Parse(Settings[0], value);

    /// <summary>Takes the stored rows of one cycle and returns the limit in force.</summary>
    public int Apply(IReadOnlyDictionary<string, string> stored)
    {
        foreach (var setting in Settings)
        {
            stored.TryGetValue(setting.Key, out var raw);
            ApplyOne(setting, raw);
        }

        return MaxConcurrentJobs;
    }

    private void ApplyOne(LiveSetting setting, string? raw)
    {
        var parsed = Parse(setting, raw);
        lock (_lock)
        {
            var current = _values[setting.Key];
            if (parsed is { } value)
            {
                if (value != current)
                {
                    logger.LogInformation("{Key} changed from {Old} to {New}", setting.Key,
                        setting.Format(current), setting.Format(value));
                    _values[setting.Key] = value;
                }

                if (_problems.Remove(setting.Key))
                {
                    logger.LogInformation("{Key} is valid again: {Value}", setting.Key,
                        setting.Format(value));
                }

                return;
            }

            var shown = setting.Format(current);
            var problem = raw is null
                ? $"{setting.Key} is missing from scheduler_config; using {shown}. Restore it " +
                  $"with: INSERT INTO scheduler_config (key, value) VALUES ('{setting.Key}', " +
                  $"'{shown}')"
                : $"{setting.Key} = '{raw}' in scheduler_config is not {setting.Describe}; " +
                  $"using the last valid value {shown}. Fix it with PUT /api/config or an UPDATE";
            if (!_problems.TryGetValue(setting.Key, out var previous) || previous != problem)
            {
                logger.LogWarning("{Problem}", problem);
                _problems[setting.Key] = problem;
            }
        }
    }
}
