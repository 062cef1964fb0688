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

    // A plain form post carries a rejected form through the TempData cookie, and a long command
    // would push the cookie past the request header limit.
    private const int MaxRedirectedCommandLength = 4000;

    // A priority cut to this length ends in an ellipsis and is rejected, which keeps the echoed
    // value in the error and the TempData cookie small.
    private const int MaxPriorityLength = 20;

    public string Name { get; set; } = "";

    public string Command { get; set; } = "";

    public string Priority { get; set; } = "";

    /// <summary>Validation errors by field name.</summary>
    public Dictionary<string, string> Errors { get; set; } = [];

    /// <summary>Failure that belongs to no single field, such as a database outage.</summary>
    public string? Failure { get; set; }

    public long? CreatedJobId { get; set; }

    public string? CreatedJobName { get; set; }

    public static AddJobForm FromSubmission(string? name, string? command, string? priority)
    {
        return new AddJobForm
        {
            Name = name ?? "",
            // Browsers send a textarea's line breaks as CRLF, and /bin/sh would read each CR as
            // part of a word.
            Command = (command ?? "").Replace("\r\n", "\n"),
            Priority = Display.Truncate((priority ?? "").Trim(), MaxPriorityLength),
        };
    }

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
        var priority = 0;
        if (Priority.Length > 0
            && !int.TryParse(Priority, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture,
                out priority))
        {
            Errors[PriorityField] = "priority must be a whole number (lower runs first, default " +
                                    $"0), not '{Priority}'.";
        }

        if (Errors.Count > 0)
        {
            return null;
        }

        // The API's parser builds the job, so the fields this form leaves out get the same
        // defaults as a JSON request that omits them.
        var body = JsonSerializer.SerializeToElement(new Dictionary<string, object>
        {
            ["name"] = Name,
            ["command"] = Command,
            ["priority"] = priority,
        });
        var (job, apiErrors) = JobRequests.ParseCreate(body);
        if (job is null)
        {
            Failure = string.Join(" ", apiErrors);
        }

        return job;
    }

    /// <summary>Returns the copy that a redirect carries in the TempData cookie: the name cut
    /// to its limit, and no command that is too long for the cookie.</summary>
    public AddJobForm ForRedirect()
    {
        var copy = new AddJobForm
        {
            Name = Display.Truncate(Name, JobRequests.MaxNameLength),
            Command = Command,
            Priority = Priority,
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
