using System.ComponentModel;
using JobScheduler.Data;

namespace JobScheduler.Api;

// Request bodies as the OpenAPI document describes them. The endpoints read bodies themselves
// (JsonBody, JobRequests) so every mistake gets a message naming the field; these records only
// document the shape.

[Description("A new job. name and command are required.")]
public sealed record CreateJobBody(
    [property: Description("Unique name, up to 200 characters.")] string Name,
    [property: Description("Shell command, run with /bin/sh -c (cmd.exe /d /s /c on Windows).")] string Command,
    [property: Description("Lower runs first; default 0.")] int? Priority,
    [property: Description("Earliest start, ISO 8601 with a zone; default now, or the next occurrence of schedule.")] DateTime? RunAt,
    [property: Description("Seconds a run may take; 0 means no limit; absent uses default_timeout_seconds.")] int? TimeoutSeconds,
    [property: Description("Runs allowed before the job stays failed, 1 to 100; default 1.")] int? MaxAttempts,
    [property: Description("Seconds before the first retry, doubled for each further one; default 10.")] int? RetryDelaySeconds,
    [property: Description("Cron expression, five fields or six with seconds first; makes the job recurring.")] string? Schedule,
    [property: Description("IANA time zone the schedule is read in; default UTC.")] string? TimeZone,
    [property: Description("A disabled job is never claimed; default true.")] bool? Enabled);

[Description("Jobs to create at once, all or none: 1 to 10000 of them, with distinct names.")]
public sealed record CreateJobsBody(
    [property: Description("The new jobs, each with the fields of POST /api/jobs.")] IReadOnlyList<CreateJobBody> Jobs);

[Description("The jobs created, in the order of the request.")]
public sealed record CreatedJobs(
    [property: Description("How many jobs were created.")] int Created,
    [property: Description("Their ids, in the order of the request.")] IReadOnlyList<long> Ids);

[Description("Fields to change on a job that is not running; absent fields stay as they are.")]
public sealed record UpdateJobBody(
    string? Name,
    string? Command,
    int? Priority,
    DateTime? RunAt,
    int? TimeoutSeconds,
    int? MaxAttempts,
    int? RetryDelaySeconds,
    [property: Description("Cron expression, or null to make the job one-off.")] string? Schedule,
    string? TimeZone,
    bool? Enabled);

[Description("Live settings to change; absent ones stay as they are.")]
public sealed record ConfigBody(
    [property: Description("Jobs running at once across every instance, 1 to 10000.")] int? MaxConcurrentJobs,
    [property: Description("Time limit for jobs that set none; 0 means none.")] int? DefaultTimeoutSeconds,
    [property: Description("true stops all claiming; running jobs go on.")] bool? Paused,
    [property: Description("Days finished runs are kept; 0 keeps them for ever.")] int? RunRetentionDays,
    [property: Description("Days finished one-off jobs are kept; 0 keeps them for ever.")] int? JobRetentionDays);

/// <summary>OpenAPI metadata shared by the endpoints.</summary>
public static class ApiDocs
{
    public static RouteHandlerBuilder WithJsonBody<TBody>(this RouteHandlerBuilder endpoint)
        where TBody : notnull =>
        endpoint.Accepts<TBody>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);

    public static RouteHandlerBuilder WithCommonProblems(this RouteHandlerBuilder endpoint) =>
        endpoint.ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

    public static RouteHandlerBuilder ReturnsJob(this RouteHandlerBuilder endpoint, int status = StatusCodes.Status200OK) =>
        endpoint.Produces<Job>(status);
}
