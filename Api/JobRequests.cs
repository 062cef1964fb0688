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

    private static readonly string[] CreateFields =
        ["name", "command", "priority", "run_at", "timeout_seconds", "max_attempts", "retry_delay_seconds"];

    /// <summary>Builds a new job from a JSON object, or returns every problem found.</summary>
    public static (NewJob? Job, List<string> Errors) ParseCreate(JsonElement body)
    {
        var errors = new List<string>();
        foreach (var property in body.EnumerateObject())
        {
            if (!CreateFields.Contains(property.Name))
            {
                errors.Add($"Unknown field '{property.Name}'; the fields are " +
                           string.Join(", ", CreateFields) + ".");
            }
        }

        var name = RequiredString(body, "name", errors);
        var command = RequiredString(body, "command", errors);
        var priority = OptionalInteger(body, "priority", int.MinValue, int.MaxValue, errors,
            "lower runs first, default 0") ?? 0;
        var timeout = OptionalInteger(body, "timeout_seconds", 0, 31_536_000, errors,
            "seconds a run may take; 0 means no limit, absent uses default_timeout_seconds");
        var maxAttempts = OptionalInteger(body, "max_attempts", 1, 100, errors,
            "runs allowed before the job stays failed, default 1") ?? 1;
        var retryDelay = OptionalInteger(body, "retry_delay_seconds", 0, 86_400, errors,
            "seconds before the first retry, doubled for each further one, default 10") ?? 10;
        DateTime? runAt = null;
        if (body.TryGetProperty("run_at", out var runAtValue) && runAtValue.ValueKind != JsonValueKind.Null)
        {
            runAt = ParseRunAt(runAtValue.ValueKind == JsonValueKind.String ? runAtValue.GetString() : null,
                runAtValue.GetRawText(), errors);
        }

        CheckName(name, errors);
        CheckCommand(command, errors);
        return errors.Count > 0 || name is null || command is null
            ? (null, errors)
            : (new NewJob(name.Trim(), command, priority, runAt, timeout, maxAttempts, retryDelay),
                errors);
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
