using System.Globalization;
using System.Text.Json;
using JobScheduler.Data;

namespace JobScheduler.Api;

/// <summary>Validation of job fields sent to the API or the dashboard, with messages that name
/// the field, the value and the fix.</summary>
public static class JobRequests
{
    public const int MaxNameLength = 200;
    public const int MaxCommandLength = 32 * 1024;

    /// <summary>Maximum number of jobs one POST /api/jobs/bulk creates.</summary>
    public const int MaxBulkJobs = 10_000;

    /// <summary>Largest body POST /api/jobs/bulk accepts, in bytes.</summary>
    public const int MaxBulkBytes = 16 * 1024 * 1024;

    /// <summary>Maximum number of problems one error message lists; the rest are counted.</summary>
    private const int MaxListedProblems = 20;

    private static readonly string[] CreateFields =
    [
        "name", "command", "priority", "run_at", "timeout_seconds", "max_attempts",
        "retry_delay_seconds", "schedule", "time_zone", "enabled",
    ];

    private const string TimeoutMeaning =
        "seconds a run may take; 0 means no limit, absent or null uses default_timeout_seconds";

    private const string MaxAttemptsMeaning = "runs allowed before the job stays failed, default 1";

    private const string RetryDelayMeaning =
        "seconds before the first retry, doubled for each further one, default 10";

    /// <summary>Builds a new job from a JSON object as of now, or returns every problem found.
    /// </summary>
    public static (NewJob? Job, List<string> Errors) ParseCreate(JsonElement body) =>
        ParseCreate(body, DateTime.UtcNow);

    /// <summary>Builds a new job from a JSON object, or returns every problem found. A recurring
    /// job without run_at first runs at its next occurrence after <paramref name="nowUtc"/>.
    /// </summary>
    public static (NewJob? Job, List<string> Errors) ParseCreate(JsonElement body, DateTime nowUtc)
    {
        var errors = new List<string>();
        RejectUnknownFields(body, errors);

        var name = RequiredString(body, "name", errors);
        var command = RequiredString(body, "command", errors);
        var priority = OptionalInteger(body, "priority", int.MinValue, int.MaxValue, errors,
            "lower runs first, default 0") ?? 0;
        var timeout = OptionalInteger(body, "timeout_seconds", 0, 31_536_000, errors, TimeoutMeaning);
        var maxAttempts = OptionalInteger(body, "max_attempts", 1, 100, errors, MaxAttemptsMeaning) ?? 1;
        var retryDelay = OptionalInteger(body, "retry_delay_seconds", 0, 86_400, errors,
            RetryDelayMeaning) ?? 10;
        var runAt = OptionalRunAt(body, errors);
        var schedule = OptionalString(body, "schedule", errors);
        var timeZone = OptionalString(body, "time_zone", errors) ?? "UTC";
        var enabled = OptionalBoolean(body, "enabled", errors) ?? true;

        CheckName(name, errors);
        CheckCommand(command, errors);
        if (schedule is not null && CheckSchedule(schedule, timeZone, errors) is { } recurrence)
        {
            runAt ??= NextOccurrence(recurrence, schedule, nowUtc, errors);
        }
        else if (schedule is null && body.TryGetProperty("time_zone", out _))
        {
            CheckZoneOnly(timeZone, errors);
        }

        return errors.Count > 0 || name is null || command is null
            ? (null, errors)
            : (new NewJob(name.Trim(), command, priority, runAt, timeout, maxAttempts, retryDelay,
                schedule?.Trim(), timeZone.Trim(), enabled), errors);
    }

    /// <summary>
    /// Builds the jobs of a bulk request, <c>{"jobs": [...]}</c>, or returns the problems found,
    /// each prefixed with the job's place in the array (jobs[3]). Names must be distinct.
    /// </summary>
    public static (List<NewJob>? Jobs, List<string> Errors) ParseCreateMany(
        JsonElement body, DateTime nowUtc)
    {
        var errors = new List<string>();
        foreach (var property in body.EnumerateObject())
        {
            if (property.Name != "jobs")
            {
                errors.Add($"Unknown field '{property.Name}'; the body is {{\"jobs\": [...]}}.");
            }
        }

        if (!body.TryGetProperty("jobs", out var array) || array.ValueKind != JsonValueKind.Array)
        {
            errors.Add("jobs is missing or not an array; send {\"jobs\": [{\"name\": ..., " +
                       "\"command\": ...}, ...]}.");
            return (null, errors);
        }

        var count = array.GetArrayLength();
        if (count is 0 or > MaxBulkJobs)
        {
            errors.Add($"jobs has {count} entries; send 1 to {MaxBulkJobs} per request.");
            return (null, errors);
        }

        var jobs = new List<NewJob>(count);
        var problems = new List<string>();
        var firstIndexOfName = new Dictionary<string, int>(StringComparer.Ordinal);
        var index = 0;
        foreach (var element in array.EnumerateArray())
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                problems.Add($"jobs[{index}] is {JsonBody.Describe(element)}, not an object.");
            }
            else
            {
                var (job, jobErrors) = ParseCreate(element, nowUtc);
                problems.AddRange(jobErrors.Select(error => $"jobs[{index}]: {error}"));
                if (job is not null)
                {
                    if (firstIndexOfName.TryGetValue(job.Name, out var first))
                    {
                        problems.Add($"jobs[{index}]: name '{job.Name}' repeats jobs[{first}]; " +
                                     "names must be distinct.");
                    }
                    else
                    {
                        firstIndexOfName[job.Name] = index;
                        jobs.Add(job);
                    }
                }
            }

            index++;
        }

        if (problems.Count > 0)
        {
            errors.Add("No job was created.");
            errors.AddRange(problems.Take(MaxListedProblems));
            if (problems.Count > MaxListedProblems)
            {
                errors.Add($"And {problems.Count - MaxListedProblems} more problems.");
            }

            return (null, errors);
        }

        return (jobs, errors);
    }

    /// <summary>Lists names for an error message, quoted, the first 20 of them.</summary>
    public static string ListNames(IReadOnlyList<string> names) =>
        string.Join(", ", names.Take(MaxListedProblems).Select(name => $"'{name}'"))
        + (names.Count > MaxListedProblems ? $" and {names.Count - MaxListedProblems} more" : "");

    /// <summary>
    /// Reads a partial update of a job as column values, or returns every problem found. A
    /// change of schedule, time zone or enabled flag without a run_at moves a recurring job to
    /// its next occurrence after <paramref name="nowUtc"/>.
    /// </summary>
    public static (Dictionary<string, object?> Changes, List<string> Errors) ParsePatch(
        JsonElement body, Job current, DateTime nowUtc)
    {
        var errors = new List<string>();
        var changes = new Dictionary<string, object?>(StringComparer.Ordinal);
        RejectUnknownFields(body, errors);

        if (body.TryGetProperty("name", out _))
        {
            var name = RequiredString(body, "name", errors);
            CheckName(name, errors);
            changes["name"] = name?.Trim();
        }

        if (body.TryGetProperty("command", out _))
        {
            var command = RequiredString(body, "command", errors);
            CheckCommand(command, errors);
            changes["command"] = command;
        }

        AddInteger(body, "priority", int.MinValue, int.MaxValue, "lower runs first", false,
            changes, errors);
        AddInteger(body, "timeout_seconds", 0, 31_536_000, TimeoutMeaning, true, changes, errors);
        AddInteger(body, "max_attempts", 1, 100, MaxAttemptsMeaning, false, changes, errors);
        AddInteger(body, "retry_delay_seconds", 0, 86_400, RetryDelayMeaning, false, changes, errors);
        if (body.TryGetProperty("run_at", out var runAtValue))
        {
            var runAt = OptionalRunAt(body, errors);
            if (runAtValue.ValueKind == JsonValueKind.Null)
            {
                errors.Add("run_at cannot be null; give an ISO 8601 time such as '2030-01-31T02:30:00Z'.");
            }

            changes["run_at"] = runAt;
        }

        if (body.TryGetProperty("schedule", out _))
        {
            changes["schedule"] = OptionalString(body, "schedule", errors)?.Trim();
        }

        if (body.TryGetProperty("time_zone", out _))
        {
            var zone = OptionalString(body, "time_zone", errors);
            if (zone is null)
            {
                errors.Add("time_zone cannot be null; use an IANA name such as 'UTC'.");
            }

            changes["time_zone"] = zone?.Trim();
        }

        if (body.TryGetProperty("enabled", out var enabledValue))
        {
            var enabled = OptionalBoolean(body, "enabled", errors);
            if (enabledValue.ValueKind == JsonValueKind.Null)
            {
                errors.Add("enabled cannot be null; use true or false.");
            }

            changes["enabled"] = enabled;
        }

        if (changes.Count == 0 && errors.Count == 0)
        {
            errors.Add("The body names no field to change; the fields are " +
                       string.Join(", ", CreateFields) + ".");
        }

        var schedule = changes.TryGetValue("schedule", out var newSchedule)
            ? (string?)newSchedule
            : current.Schedule;
        var timeZone = (string?)changes.GetValueOrDefault("time_zone") ?? current.TimeZone;
        var recurrenceChanged = changes.ContainsKey("schedule") || changes.ContainsKey("time_zone")
            || changes.ContainsKey("enabled");
        if (schedule is not null && CheckSchedule(schedule, timeZone, errors) is { } recurrence)
        {
            if (recurrenceChanged && !changes.ContainsKey("run_at"))
            {
                changes["run_at"] = NextOccurrence(recurrence, schedule, nowUtc, errors);
            }
        }
        else if (schedule is null)
        {
            if (changes.ContainsKey("time_zone"))
            {
                CheckZoneOnly(timeZone, errors);
            }

            // A job that stops recurring while parked for its first occurrence becomes due now.
            if (changes.ContainsKey("schedule") && !changes.ContainsKey("run_at")
                && current.RunAt == DateTime.MaxValue)
            {
                changes["run_at"] = nowUtc;
            }
        }

        return (changes, errors);
    }

    private static Scheduling.Recurrence? CheckSchedule(string schedule, string timeZone, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(schedule))
        {
            errors.Add("schedule must not be empty; give a cron expression such as '30 2 * * *', " +
                       "or null for a one-off job.");
            return null;
        }

        var recurrence = Scheduling.Recurrence.TryCreate(schedule, timeZone, out var error);
        if (recurrence is null)
        {
            errors.Add(error!);
        }

        return recurrence;
    }

    private static void CheckZoneOnly(string timeZone, List<string> errors)
    {
        if (Scheduling.Recurrence.TryCreate("* * * * *", timeZone, out var error) is null)
        {
            errors.Add(error!);
        }
    }

    private static DateTime? NextOccurrence(
        Scheduling.Recurrence recurrence, string schedule, DateTime nowUtc, List<string> errors)
    {
        var next = recurrence.NextAfter(nowUtc);
        if (next is null)
        {
            errors.Add($"schedule '{schedule}' never fires; check the day and month fields.");
        }

        return next;
    }

    private static void RejectUnknownFields(JsonElement body, List<string> errors)
    {
        foreach (var property in body.EnumerateObject())
        {
            if (!CreateFields.Contains(property.Name))
            {
                errors.Add($"Unknown field '{property.Name}'; the fields are " +
                           string.Join(", ", CreateFields) + ".");
            }
        }
    }

    private static void AddInteger(
        JsonElement body, string field, int min, int max, string meaning, bool nullable,
        Dictionary<string, object?> changes, List<string> errors)
    {
        if (!body.TryGetProperty(field, out var value))
        {
            return;
        }

        if (value.ValueKind == JsonValueKind.Null && !nullable)
        {
            errors.Add($"{field} cannot be null ({meaning}).");
            return;
        }

        changes[field] = OptionalInteger(body, field, min, max, errors, meaning);
    }

    private static DateTime? OptionalRunAt(JsonElement body, List<string> errors)
    {
        if (!body.TryGetProperty("run_at", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return ParseRunAt(value.ValueKind == JsonValueKind.String ? value.GetString() : null,
            value.GetRawText(), errors);
    }

    private static string? OptionalString(JsonElement body, string field, List<string> errors)
    {
        if (!body.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add($"{field} must be a string, not {JsonBody.Describe(value)}.");
            return null;
        }

        return value.GetString();
    }

    private static bool? OptionalBoolean(JsonElement body, string field, List<string> errors)
    {
        if (!body.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            return value.GetBoolean();
        }

        errors.Add($"{field} must be true or false, not {JsonBody.Describe(value)} {value.GetRawText()}.");
        return null;
    }

    public static void CheckName(string? name, List<string> errors)
    {
        if (name is null)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            errors.Add("name must not be empty; give the job a unique name such as 'nightly-backup'.");
        }
        else if (name.Trim().Length > MaxNameLength)
        {
            errors.Add($"name is {name.Trim().Length} characters long; the limit is {MaxNameLength}.");
        }
        else if (name.Any(char.IsControl))
        {
            errors.Add("name must not contain control characters such as tabs or line breaks.");
        }
    }

    public static void CheckCommand(string? command, List<string> errors)
    {
        if (command is null)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(command))
        {
            errors.Add("command must not be empty; give the shell command to run, such as 'echo hello'.");
        }
        else if (command.Length > MaxCommandLength)
        {
            errors.Add($"command is {command.Length} characters long; the limit is {MaxCommandLength}.");
        }
        else if (command.Contains('\0'))
        {
            errors.Add("command must not contain NUL characters.");
        }
    }

    public static DateTime? ParseRunAt(string? text, string shown, List<string> errors)
    {
        if (text is not null
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None,
                out var parsed)
            && HasZone(text))
        {
            return parsed.UtcDateTime;
        }

        errors.Add($"run_at must be an ISO 8601 time with a zone, such as " +
                   $"'2030-01-31T02:30:00Z', not {shown}.");
        return null;
    }

    private static bool HasZone(string text)
    {
        var time = text.IndexOf('T', StringComparison.OrdinalIgnoreCase);
        var tail = time < 0 ? text : text[time..];
        return tail.EndsWith('Z') || tail.EndsWith('z') || tail.Contains('+') || tail.LastIndexOf('-') > 0;
    }

    private static int? OptionalInteger(
        JsonElement body, string field, int min, int max, List<string> errors, string meaning)
    {
        if (!body.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number)
            && number >= min && number <= max)
        {
            return number;
        }

        var range = min == int.MinValue ? "a whole number" : $"a whole number from {min} to {max}";
        errors.Add($"{field} must be {range} ({meaning}), not {JsonBody.Describe(value)} " +
                   $"{value.GetRawText()}.");
        return null;
    }

    private static string? RequiredString(JsonElement body, string field, List<string> errors)
    {
        if (!body.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            errors.Add($"{field} is required.");
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add($"{field} must be a string, not {JsonBody.Describe(value)}.");
            return null;
        }

        return value.GetString();
    }
}
