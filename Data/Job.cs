using System.Text.Json.Serialization;

namespace JobScheduler.Data;

public static class JobStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static IReadOnlyList<string> All { get; } =
        [Queued, Running, Completed, Failed, Cancelled];

    public static bool IsKnown(string? status) => status is not null && All.Contains(status);
}

/// <summary>A job as stored, with the result of its latest run.</summary>
public sealed record Job(
    long Id,
    string Name,
    string Command,
    string Status,
    int Priority,
    DateTime RunAt,
    int Attempt,
    string? Node,
    DateTime? LastRun,
    DateTime? HeartbeatAt,
    DateTime? FinishedAt,
    int? ExitCode,
    string? Error,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    int? TimeoutSeconds,
    int MaxAttempts,
    int RetryDelaySeconds,
    int Tries,
    DateTime? CancelRequestedAt,
    string? Schedule,
    string TimeZone,
    bool Enabled,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Output)
{
    /// <summary>Run time of the latest run: to its finish, or so far while it runs.</summary>
    public double? DurationSeconds => LastRun is null
        ? null
        : Status == JobStatus.Running
            ? (DateTime.UtcNow - LastRun.Value).TotalSeconds
            : FinishedAt is { } finished && finished >= LastRun ? (finished - LastRun.Value).TotalSeconds : null;
}

/// <summary>One execution of a job, from the run history.</summary>
public sealed record JobRun(
    long Id,
    long JobId,
    int Attempt,
    string Node,
    string Status,
    DateTime StartedAt,
    DateTime? FinishedAt,
    int? ExitCode,
    string? Error,
    string? Output);

/// <summary>A job this instance has claimed and now runs. <see cref="TimeoutSeconds"/> is the
/// limit in force, job or default; 0 means none.</summary>
public sealed record ClaimedJob(
    long Id,
    string Name,
    string Command,
    int Attempt,
    DateTime StartedAt,
    int TimeoutSeconds,
    DateTime RunAt,
    string? Schedule,
    string TimeZone);

/// <summary>The outcome of one run, written back to the job and its run history.</summary>
public sealed record JobResult(
    long JobId,
    int Attempt,
    string Status,
    int? ExitCode,
    string? Error,
    string Output,
    DateTime FinishedAt)
{
    /// <summary>For a recurring job, its next occurrence, which becomes its run_at.</summary>
    public DateTime? NextRunAt { get; init; }
}

public sealed record NewJob(
    string Name,
    string Command,
    int Priority,
    DateTime? RunAt,
    int? TimeoutSeconds,
    int MaxAttempts,
    int RetryDelaySeconds,
    string? Schedule,
    string TimeZone,
    bool Enabled);

public sealed record JobStats(
    long Queued,
    long Running,
    long Completed,
    long Failed,
    long Cancelled,
    long Total,
    int MaxConcurrentJobs);

/// <summary>One claim cycle: the limit in force, the jobs running before it, those claimed, and
/// the time until the earliest queued job that is not yet due becomes due.</summary>
public sealed record ClaimOutcome(
    int Limit, long RunningBefore, IReadOnlyList<ClaimedJob> Claimed, TimeSpan? NextDueIn);

/// <summary>A running job released by this instance because its owner stopped heartbeating,
/// with the status it was given: failed, queued for a retry, or cancelled.</summary>
public sealed record ReleasedJob(long Id, string Name, string? Node, int Attempt, string Status);

/// <summary>A running job of this node as the heartbeat found it.</summary>
public sealed record HeartbeatRow(long Id, bool CancelRequested);
