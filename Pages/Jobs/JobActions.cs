using JobScheduler.Data;

namespace JobScheduler.Pages.Jobs;

/// <summary>An action on the job page: the page handler that performs it, and why it is
/// disabled when the job's state does not allow it.</summary>
/// <param name="Confirmation">The question shown before a destructive action runs; null for an
/// action that runs at once.</param>
public sealed record JobAction(
    string Handler, string Label, string? Confirmation, string ConfirmLabel,
    string? DisabledReason)
{
    public const string Requeue = "Requeue";
    public const string Cancel = "Cancel";
    public const string Delete = "Delete";
    public const string Enable = "Enable";
    public const string Disable = "Disable";

    public bool IsEnabled => DisabledReason is null;
}

/// <summary>The actions a job's state allows, with the rules of the API: cancel a queued or
/// running job, run a finished one again, enable or disable or delete one that is not running.
/// </summary>
public static class JobActions
{
    public static IReadOnlyList<JobAction> For(Job job) =>
        [RequeueAction(job), EnabledAction(job), CancelAction(job), DeleteAction(job)];

    /// <summary>A key that changes whenever the allowed actions change, so the page keeps an
    /// open confirmation across polls until the job's state makes it stale.</summary>
    public static string StateKey(Job job) =>
        job.Status + (job.Enabled ? "" : "-disabled") +
        (job.CancelRequestedAt is null ? "" : "-cancelling");

    private static JobAction RequeueAction(Job job)
    {
        var reason = job.Status switch
        {
            JobStatus.Queued => "Queued jobs are already waiting to run.",
            JobStatus.Running => "Running jobs cannot be run again until they finish; wait or " +
                                 "cancel it first.",
            _ => null,
        };
        return new JobAction(JobAction.Requeue, "Run again", null, "Run again", reason);
    }

    private static JobAction EnabledAction(Job job)
    {
        var reason = job.Status == JobStatus.Running
            ? "Running jobs cannot be changed; wait for this run to finish, or cancel it."
            : null;
        return job.Enabled
            ? new JobAction(JobAction.Disable, "Disable", null, "Disable", reason)
            : new JobAction(JobAction.Enable, "Enable", null, "Enable", reason);
    }

    private static JobAction CancelAction(Job job)
    {
        string? reason = null;
        if (job.Status is not (JobStatus.Queued or JobStatus.Running))
        {
            reason = $"Only queued or running jobs can be cancelled; this one is {job.Status}.";
        }
        else if (job.CancelRequestedAt is { } requested)
        {
            reason = $"Cancellation was requested at {Display.Time(requested)} UTC; the job " +
                     "ends as cancelled once its processes have stopped.";
        }

        var question = job.Status == JobStatus.Running
            ? $"Stop job {job.Id} '{job.Name}'? Its command and every process it started are " +
              "killed, and the job ends as cancelled."
            : $"Cancel job {job.Id} '{job.Name}'? It will not run unless you run it again.";
        return new JobAction(JobAction.Cancel, "Cancel…", question, "Cancel job", reason);
    }

    private static JobAction DeleteAction(Job job)
    {
        var reason = job.Status == JobStatus.Running
            ? "Running jobs cannot be deleted; cancel it first."
            : null;
        var question = $"Delete job {job.Id} '{job.Name}' and its run history? This cannot be " +
                       "undone.";
        return new JobAction(JobAction.Delete, "Delete…", question, "Delete job", reason);
    }
}
