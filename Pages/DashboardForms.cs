using System.Globalization;
using System.Text.Json;
using JobScheduler.Api;
using JobScheduler.Data;

namespace JobScheduler.Pages;

/// <summary>The add-job form as submitted: its fields, the errors by field and the outcome.
/// It travels through TempData as JSON when a plain form post redirects.</summary>
public sealed class AddJobForm
{
    public const string NameField = "name";
    public const string CommandField = "command";
    public const string PriorityField = "priority";
    public const string TimeoutField = "timeout_seconds";
    public const string MaxAttemptsField = "max_attempts";
    public const string RetryDelayField = "retry_delay_seconds";
    public const string ScheduleField = "schedule";
    public const string TimeZoneField = "time_zone";
    public const string EnabledField = "enabled";

    /// <summary>The time zone of a job whose form leaves the field empty, as in the API.
    /// </summary>
    public const string DefaultTimeZone = "UTC";

    /// <summary>Maximum length kept of a schedule or a time zone. A longer value is cut, ends in
    /// an ellipsis and is rejected, which keeps the value echoed in the error and the TempData
    /// cookie small. No valid schedule or IANA name comes near this length.</summary>
    public const int MaxShortTextLength = 200;

    /// <summary>The optional whole-number fields, each with the meaning its error message gives.
    /// </summary>
    public static readonly (string Field, string Meaning)[] NumberFields =
    [
        (PriorityField, "lower runs first, default 0"),
        (TimeoutField, "seconds a run may take; 0 means no limit, empty uses " +
                       "default_timeout_seconds"),
        (MaxAttemptsField, "runs allowed before the job stays failed, default 1"),
        (RetryDelayField, "seconds before the first retry, doubled for each further one, " +
                          "default 10"),
    ];

    // A plain form post carries a rejected form through the TempData cookie, and a long command
    // would push the cookie past the request header limit.
    private const int MaxRedirectedCommandLength = 4000;

    // A number cut to this length ends in an ellipsis and is rejected, which keeps the echoed
    // value in the error and the TempData cookie small.
    public const int MaxNumberLength = 20;

    // Fields whose errors from JobRequests.ParseCreate start with their name.
    private static readonly string[] ParsedFields =
        [.. NumberFields.Select(number => number.Field), ScheduleField, TimeZoneField,
            EnabledField];

    public string Name { get; set; } = "";

    public string Command { get; set; } = "";

    public string Priority { get; set; } = "";

    public string TimeoutSeconds { get; set; } = "";

    public string MaxAttempts { get; set; } = "";

    public string RetryDelaySeconds { get; set; } = "";

    /// <summary>The cron expression, empty for a one-off job.</summary>
    public string Schedule { get; set; } = "";

    public string TimeZone { get; set; } = DefaultTimeZone;

    public bool Enabled { get; set; } = true;

    /// <summary>Validation errors by field name.</summary>
    public Dictionary<string, string> Errors { get; set; } = [];

    /// <summary>Failure that belongs to no single field, such as a database outage.</summary>
    public string? Failure { get; set; }

    public long? CreatedJobId { get; set; }

    public string? CreatedJobName { get; set; }

    public static AddJobForm FromSubmission(
        string? name, string? command, string? priority, string? timeoutSeconds,
        string? maxAttempts, string? retryDelaySeconds, string? schedule, string? timeZone,
        bool enabled)
    {
        return new AddJobForm
        {
            Name = name ?? "",
            // Browsers send a textarea's line breaks as CRLF, and /bin/sh would read each CR as
            // part of a word.
            Command = (command ?? "").Replace("\r\n", "\n"),
            Priority = NumberText(priority),
            TimeoutSeconds = NumberText(timeoutSeconds),
            MaxAttempts = NumberText(maxAttempts),
            RetryDelaySeconds = NumberText(retryDelaySeconds),
            Schedule = ShortText(schedule),
            TimeZone = ShortText(timeZone),
            Enabled = enabled,
        };
    }

    /// <summary>Reads a checkbox that the form sends together with a hidden field of the same
    /// name and the value "false", so that a cleared box still sends a value. The box is
    /// ticked when "true" is among the values. <paramref name="absent"/> applies when the form
    /// sent neither.</summary>
    public static bool CheckboxValue(string[]? values, bool absent) =>
        values is null || values.Length == 0 ? absent : values.Contains("true");

    /// <summary>Trims a short text field and cuts it to <see cref="MaxShortTextLength"/>.
    /// </summary>
    public static string ShortText(string? text) =>
        Display.Truncate((text ?? "").Trim(), MaxShortTextLength);

    public static AddJobForm Created(Job job) => new()
    {
        CreatedJobId = job.Id,
        CreatedJobName = job.Name,
    };

    public string? ErrorFor(string field) => Errors.GetValueOrDefault(field);

    /// <summary>Checks the fields with the API's rules. Returns the job to insert, or null with
    /// <see cref="Errors"/> or <see cref="Failure"/> filled.</summary>
    public NewJob? Validate()
    {
        CollectErrors(NameField, errors => JobRequests.CheckName(Name, errors));
        CollectErrors(CommandField, errors => JobRequests.CheckCommand(Command, errors));
        var body = new Dictionary<string, object>
        {
            ["name"] = Name,
            ["command"] = Command,
        };
        foreach (var (field, meaning) in NumberFields)
        {
            var text = NumberValue(field);
            if (text.Length == 0)
            {
                continue;
            }

            if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture,
                    out var number))
            {
                body[field] = number;
            }
            else
            {
                Errors[field] = $"{field} must be a whole number ({meaning}), not '{text}'.";
            }
        }

        if (Errors.Count > 0)
        {
            return null;
        }

        if (Schedule.Length > 0)
        {
            body[ScheduleField] = Schedule;
        }

        if (TimeZone.Length > 0)
        {
            body[TimeZoneField] = TimeZone;
        }

        body[EnabledField] = Enabled;

        // The API's parser builds the job, so its range, schedule and time zone checks apply,
        // and the fields left empty get the same defaults as a JSON request that omits them.
        var (job, apiErrors) = JobRequests.ParseCreate(JsonSerializer.SerializeToElement(body));
        foreach (var error in apiErrors)
        {
            var field = ParsedFields.FirstOrDefault(
                name => error.StartsWith(name + " ", StringComparison.Ordinal));
            if (field is null)
            {
                Failure = (Failure + " " + error).Trim();
            }
            else
            {
                Errors[field] = error;
            }
        }

        return apiErrors.Count == 0 ? job : null;
    }

    /// <summary>Returns the submitted text of one of the whole-number fields.</summary>
    public string NumberValue(string field) => field switch
    {
        PriorityField => Priority,
        TimeoutField => TimeoutSeconds,
        MaxAttemptsField => MaxAttempts,
        RetryDelayField => RetryDelaySeconds,
        _ => throw new ArgumentOutOfRangeException(nameof(field), field, "not a number field"),
    };

    /// <summary>Returns the copy that a redirect carries in the TempData cookie: the name cut
    /// to its limit, and no command that is too long for the cookie.</summary>
    public AddJobForm ForRedirect()
    {
        var copy = new AddJobForm
        {
            Name = Display.Truncate(Name, JobRequests.MaxNameLength),
            Command = Command,
            Priority = Priority,
            TimeoutSeconds = TimeoutSeconds,
            MaxAttempts = MaxAttempts,
            RetryDelaySeconds = RetryDelaySeconds,
            Schedule = Schedule,
            TimeZone = TimeZone,
            Enabled = Enabled,
            Errors = new Dictionary<string, string>(Errors),
            Failure = Failure,
            CreatedJobId = CreatedJobId,
            CreatedJobName = CreatedJobName,
        };
        if (Command.Length > MaxRedirectedCommandLength)
        {
            // NOTE: the user pastes such a command again after a rejected plain post. With htmx
            // the form is rendered from the request and keeps it.
            copy.Command = "";
            copy.Errors[CommandField] = (copy.ErrorFor(CommandField) + " The command was " +
                                         $"{Command.Length} characters long and was not kept, " +
                                         "so paste it again.").Trim();
        }

        return copy;
    }

    private static string NumberText(string? text) =>
        Display.Truncate((text ?? "").Trim(), MaxNumberLength);

    private void CollectErrors(string field, Action<List<string>> check)
    {
        var errors = new List<string>();
        check(errors);
        if (errors.Count > 0)
        {
            Errors[field] = string.Join(" ", errors);
        }
    }
}

/// <summary>The form that sets <c>max_concurrent_jobs</c>, as submitted, with its outcome.
/// </summary>
public sealed class LimitForm
{
    public string Value { get; set; } = "";

    /// <summary>Validation error of the value.</summary>
    public string? Error { get; set; }

    /// <summary>Failure that is not the value's fault, such as a database outage.</summary>
    public string? Failure { get; set; }

    /// <summary>The limit just stored.</summary>
    public int? StoredLimit { get; set; }

    /// <summary>Checks the value with the scheduler's rule. Returns the limit to store, or null
    /// with <see cref="Error"/> set.</summary>
    public int? Validate()
    {
        var error = LiveConfig.Validate(LiveConfig.MaxConcurrentJobsKey, Value);
        if (error is not null)
        {
            Error = error + ".";
            return null;
        }

        return LiveConfig.ParseLimit(Value);
    }
}
