using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using JobScheduler.Api;
using JobScheduler.Data;

namespace JobScheduler.Pages.Jobs;

/// <summary>
/// The job page's edit form as submitted, with its errors. Only the fields that the user changed
/// and that differ from the job as stored go into the change, as the body of a PATCH
/// /api/jobs/{id} would, so a new schedule moves run_at to its next occurrence as it does
/// through the API. It travels through TempData as JSON when a plain form post redirects.
/// </summary>
public sealed class EditJobForm
{
    public const string RunAtField = "run_at";

    /// <summary>Name of the hidden field with the fingerprints of the values as rendered.
    /// </summary>
    public const string OriginalField = "original";

    /// <summary>Formats of a run_at without a zone, read as UTC like every time the dashboard
    /// shows. Other text goes to the API's parser, which takes ISO 8601 with a zone.</summary>
    private static readonly string[] UtcRunAtFormats =
    [
        "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-ddTHH:mm", "yyyy-MM-ddTHH:mm:ss",
    ];

    // Fields whose errors from JobRequests.ParsePatch start with their name.
    private static readonly string[] Fields =
    [
        AddJobForm.NameField, AddJobForm.CommandField, AddJobForm.PriorityField,
        AddJobForm.TimeoutField, AddJobForm.MaxAttemptsField, AddJobForm.RetryDelayField,
        RunAtField, AddJobForm.ScheduleField, AddJobForm.TimeZoneField, AddJobForm.EnabledField,
    ];

    // Nine FIELD=HASH pairs take about 250 characters; more is not a form this page rendered.
    private const int MaxOriginalLength = 1000;

    // A plain form post carries a rejected form through the TempData cookie, and a long command
    // would push the cookie past the request header limit.
    private const int MaxRedirectedCommandLength = 4000;

    public string Name { get; set; } = "";

    public string Command { get; set; } = "";

    public string Priority { get; set; } = "";

    /// <summary>A new run_at, where empty keeps the stored one.</summary>
    public string RunAt { get; set; } = "";

    /// <summary>The timeout in seconds, where empty uses default_timeout_seconds.</summary>
    public string TimeoutSeconds { get; set; } = "";

    public string MaxAttempts { get; set; } = "";

    public string RetryDelaySeconds { get; set; } = "";

    /// <summary>The cron expression, where empty makes the job one-off.</summary>
    public string Schedule { get; set; } = "";

    public string TimeZone { get; set; } = AddJobForm.DefaultTimeZone;

    public bool Enabled { get; set; } = true;

    /// <summary>Fingerprints of the values the form showed when it was first rendered, as
    /// FIELD=HASH pairs. A field whose value still matches its fingerprint was left alone, so a
    /// change that someone else made to it meanwhile stays. Empty when a post came without
    /// them; every field is then compared with the job as stored.</summary>
    public string Original { get; set; } = "";

    /// <summary>Validation errors by field name.</summary>
    public Dictionary<string, string> Errors { get; set; } = [];

    /// <summary>Why nothing was stored when no single field is at fault: the job runs, was
    /// deleted, nothing differs, or the database is unreachable.</summary>
    public string? Failure { get; set; }

    /// <summary>Whether the form has something to show, so its section renders open.</summary>
    public bool HasOutcome => Errors.Count > 0 || Failure is not null;

    /// <summary>Returns the form filled with the job as stored, with the fingerprints of what
    /// it shows.</summary>
    public static EditJobForm From(Job job)
    {
        var form = new EditJobForm
        {
            Name = job.Name,
            Command = job.Command,
            Priority = Number(job.Priority),
            TimeoutSeconds = job.TimeoutSeconds is { } timeout ? Number(timeout) : "",
            MaxAttempts = Number(job.MaxAttempts),
            RetryDelaySeconds = Number(job.RetryDelaySeconds),
            Schedule = job.Schedule ?? "",
            TimeZone = job.TimeZone,
            Enabled = job.Enabled,
        };
        form.Original = string.Join(";",
            form.ShownValues().Select(item => item.Field + "=" + Fingerprint(item.Value)));
        return form;
    }

    public static EditJobForm FromSubmission(
        string? name, string? command, string? priority, string? runAt, string? timeoutSeconds,
        string? maxAttempts, string? retryDelaySeconds, string? schedule, string? timeZone,
        bool enabled, string? original = null)
    {
        return new EditJobForm
        {
            Name = name ?? "",
            // Browsers send a textarea's line breaks as CRLF, and /bin/sh would read each CR as
            // part of a word.
            Command = (command ?? "").Replace("\r\n", "\n"),
            Priority = NumberText(priority),
            RunAt = AddJobForm.ShortText(runAt),
            TimeoutSeconds = NumberText(timeoutSeconds),
            MaxAttempts = NumberText(maxAttempts),
            RetryDelaySeconds = NumberText(retryDelaySeconds),
            Schedule = AddJobForm.ShortText(schedule),
            TimeZone = AddJobForm.ShortText(timeZone),
            Enabled = enabled,
            Original = Display.Truncate((original ?? "").Trim(), MaxOriginalLength),
        };
    }

    public string? ErrorFor(string field) => Errors.GetValueOrDefault(field);

    /// <summary>Returns the submitted text of one of the whole-number fields.</summary>
    public string NumberValue(string field) => field switch
    {
        AddJobForm.PriorityField => Priority,
        AddJobForm.TimeoutField => TimeoutSeconds,
        AddJobForm.MaxAttemptsField => MaxAttempts,
        AddJobForm.RetryDelayField => RetryDelaySeconds,
        _ => throw new ArgumentOutOfRangeException(nameof(field), field, "not a number field"),
    };

    /// <summary>Builds the body of a PATCH with the fields that the user changed and that differ
    /// from <paramref name="current"/>, which is an empty object when none does. Returns null with
    /// <see cref="Errors"/> filled when a number is not a whole number.</summary>
    /// <remarks>A field that the user left as rendered is not sent, so a change that someone
    /// else made to it after the form was rendered stays. When two people change the same field,
    /// the later save wins. run_at is sent only when the user types one.</remarks>
    public JsonElement? ToPatch(Job current)
    {
        var fingerprints = ReadOriginal();
        var body = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (Edited(fingerprints, AddJobForm.NameField, Name) && Name.Trim() != current.Name)
        {
            body[AddJobForm.NameField] = Name;
        }

        if (Edited(fingerprints, AddJobForm.CommandField, Command) && Command != current.Command)
        {
            body[AddJobForm.CommandField] = Command;
        }

        AddNumber(body, fingerprints, AddJobForm.PriorityField, current.Priority, required: true);
        AddNumber(body, fingerprints, AddJobForm.TimeoutField, current.TimeoutSeconds, required: false);
        AddNumber(body, fingerprints, AddJobForm.MaxAttemptsField, current.MaxAttempts, required: true);
        AddNumber(body, fingerprints, AddJobForm.RetryDelayField, current.RetryDelaySeconds,
            required: true);
        if (RunAt.Length > 0)
        {
            body[RunAtField] = DateTime.TryParseExact(RunAt, UtcRunAtFormats,
                CultureInfo.InvariantCulture, DateTimeStyles.None, out var utc)
                ? utc.ToString("yyyy-MM-ddTHH:mm:ss'Z'", CultureInfo.InvariantCulture)
                : RunAt;
        }

        var schedule = Schedule.Length == 0 ? null : Schedule;
        if (Edited(fingerprints, AddJobForm.ScheduleField, Schedule) && schedule != current.Schedule)
        {
            body[AddJobForm.ScheduleField] = schedule;
        }

        var timeZone = TimeZone.Length == 0 ? AddJobForm.DefaultTimeZone : TimeZone;
        if (Edited(fingerprints, AddJobForm.TimeZoneField, TimeZone) && timeZone != current.TimeZone)
        {
            body[AddJobForm.TimeZoneField] = timeZone;
        }

        if (Edited(fingerprints, AddJobForm.EnabledField, EnabledText) && Enabled != current.Enabled)
        {
            body[AddJobForm.EnabledField] = Enabled;
        }

        return Errors.Count > 0 ? null : JsonSerializer.SerializeToElement(body);
    }

    private string EnabledText => Enabled ? "true" : "false";

    /// <summary>Returns the field values, as the form shows them, that Original fingerprints.
    /// </summary>
    private IEnumerable<(string Field, string Value)> ShownValues() =>
    [
        (AddJobForm.NameField, Name), (AddJobForm.CommandField, Command),
        (AddJobForm.PriorityField, Priority), (AddJobForm.TimeoutField, TimeoutSeconds),
        (AddJobForm.MaxAttemptsField, MaxAttempts), (AddJobForm.RetryDelayField, RetryDelaySeconds),
        (AddJobForm.ScheduleField, Schedule), (AddJobForm.TimeZoneField, TimeZone),
        (AddJobForm.EnabledField, EnabledText),
    ];

    /// <summary>Returns the first 8 bytes of the value's SHA-256 in hex: enough to tell an
    /// edited field from one left as rendered.</summary>
    private static string Fingerprint(string value) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(value)), 0, 8);

    /// <summary>Reads Original into fingerprints by field, or returns null when it is missing or
    /// not in the FIELD=HASH form.</summary>
    private Dictionary<string, string>? ReadOriginal()
    {
        var fingerprints = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in Original.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=');
            if (parts.Length != 2)
            {
                return null;
            }

            fingerprints[parts[0]] = parts[1];
        }

        return fingerprints.Count == 0 ? null : fingerprints;
    }

    /// <summary>Tells whether the user changed a field: true when its value no longer matches
    /// the fingerprint of the rendered one, or when there is no fingerprint to compare.</summary>
    private static bool Edited(
        IReadOnlyDictionary<string, string>? fingerprints, string field, string value) =>
        fingerprints is null || !fingerprints.TryGetValue(field, out var rendered)
        || rendered != Fingerprint(value);

    /// <summary>Shows each error of JobRequests.ParsePatch under the field it names.</summary>
    public void AddErrors(IEnumerable<string> errors)
    {
        foreach (var error in errors)
        {
            var field = Fields.FirstOrDefault(
                name => error.StartsWith(name + " ", StringComparison.Ordinal));
            if (field is null)
            {
                Failure = (Failure + " " + error).Trim();
            }
            else
            {
                Errors[field] = (ErrorFor(field) + " " + error).Trim();
            }
        }
    }

    /// <summary>Returns the copy that a redirect carries in the TempData cookie: the name cut
    /// to its limit, and no command that is too long for the cookie.</summary>
    public EditJobForm ForRedirect()
    {
        var copy = (EditJobForm)MemberwiseClone();
        copy.Name = Display.Truncate(Name, JobRequests.MaxNameLength);
        copy.Errors = new Dictionary<string, string>(Errors);
        if (Command.Length > MaxRedirectedCommandLength)
        {
            // NOTE: the user pastes such a command again after a rejected plain post. With htmx
            // the form is rendered from the request and keeps it.
            copy.Command = "";
            copy.Errors[AddJobForm.CommandField] = (copy.ErrorFor(AddJobForm.CommandField) +
                                                    $" The command was {Command.Length} " +
                                                    "characters long and was not kept, so " +
                                                    "paste it again.").Trim();
        }

        return copy;
    }

    private void AddNumber(
        Dictionary<string, object?> body, IReadOnlyDictionary<string, string>? fingerprints,
        string field, int? current, bool required)
    {
        var text = NumberValue(field);
        if (!Edited(fingerprints, field, text))
        {
            return;
        }

        var meaning = AddJobForm.NumberFields.First(number => number.Field == field).Meaning;
        if (text.Length == 0)
        {
            if (required)
            {
                Errors[field] = $"{field} must not be empty; give a whole number ({meaning}).";
            }
            else if (current is not null)
            {
                body[field] = null;
            }

            return;
        }

        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture,
                out var number))
        {
            Errors[field] = $"{field} must be a whole number ({meaning}), not '{text}'.";
        }
        else if (number != current)
        {
            body[field] = number;
        }
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string NumberText(string? text) =>
        Display.Truncate((text ?? "").Trim(), AddJobForm.MaxNumberLength);
}
