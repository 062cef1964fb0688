using System.Globalization;

namespace JobScheduler.Data;

/// <summary>
/// The live settings from <c>scheduler_config</c>, re-read every claim cycle. A stored value
/// that is invalid keeps the last good one in force, is logged once, and is listed in
/// <see cref="Problems"/> until someone fixes it.
/// </summary>
public sealed class LiveConfig(ILogger<LiveConfig> logger)
{
    public const string MaxConcurrentJobsKey = "max_concurrent_jobs";
    public const int MaxConcurrentJobsDefault = 2;
    public const int MaxConcurrentJobsCeiling = 10_000;

    private readonly Lock _lock = new();
    private Dictionary<string, string> _problems = [];
    private int _maxConcurrentJobs = MaxConcurrentJobsDefault;

    public static IReadOnlyList<string> Keys { get; } = [MaxConcurrentJobsKey];

    public int MaxConcurrentJobs
    {
        get
        {
            lock (_lock)
            {
                return _maxConcurrentJobs;
            }
        }
    }

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

    /// <summary>Checks one value for a key; returns the error, or null when it is valid.</summary>
    public static string? Validate(string key, string? value) => key switch
    {
        MaxConcurrentJobsKey => ParseLimit(value) is null
            ? $"{MaxConcurrentJobsKey} must be a whole number from 1 to " +
              $"{MaxConcurrentJobsCeiling}, not '{value}'"
            : null,
        _ => $"'{key}' is not a known setting; known settings: {string.Join(", ", Keys)}",
    };

    public static int? ParseLimit(string? value) =>
        int.TryParse(value?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var limit)
        && limit is >= 1 and <= MaxConcurrentJobsCeiling
            ? limit
            : null;

    /// <summary>Takes the stored rows of one cycle and returns the limit in force.</summary>
    public int Apply(IReadOnlyDictionary<string, string> stored)
    {
        stored.TryGetValue(MaxConcurrentJobsKey, out var raw);
        var parsed = ParseLimit(raw);
        lock (_lock)
        {
            if (parsed is { } limit)
            {
                if (limit != _maxConcurrentJobs)
                {
                    logger.LogInformation("{Key} changed from {Old} to {New}",
                        MaxConcurrentJobsKey, _maxConcurrentJobs, limit);
                    _maxConcurrentJobs = limit;
                }

                if (_problems.Remove(MaxConcurrentJobsKey))
                {
                    logger.LogInformation("{Key} is valid again: {Value}", MaxConcurrentJobsKey, limit);
                }

                return limit;
            }

            var problem = raw is null
                ? $"{MaxConcurrentJobsKey} is missing from scheduler_config; using " +
                  $"{_maxConcurrentJobs}. Restore it with: INSERT INTO scheduler_config (key, value) " +
                  $"VALUES ('{MaxConcurrentJobsKey}', '{_maxConcurrentJobs}')"
                : $"{MaxConcurrentJobsKey} = '{raw}' in scheduler_config is not a whole number " +
                  $"from 1 to {MaxConcurrentJobsCeiling}; using the last valid value " +
                  $"{_maxConcurrentJobs}. Fix it with PUT /api/config or an UPDATE";
            if (!_problems.TryGetValue(MaxConcurrentJobsKey, out var previous) || previous != problem)
            {
                logger.LogWarning("{Problem}", problem);
                _problems[MaxConcurrentJobsKey] = problem;
            }

            return _maxConcurrentJobs;
        }
    }
}
