using System.Text.Json;
using JobScheduler.Data;
using JobScheduler.Scheduling;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace JobScheduler.Pages.Jobs;

/// <summary>The outcome of an action on the job page, shown once after the redirect.</summary>
public sealed record ActionOutcome(string Message, bool Failed);

/// <summary>
/// One job with its output, run history, actions and edit form. The page polls its own body
/// every 2 s while the job can still change or the database is unreachable. The actions are
/// plain form posts that redirect back (Post/Redirect/Get), so they work the same without
/// JavaScript. The handlers that change the job's fields are in Detail.Edit.cs.
/// </summary>
public sealed partial class DetailModel(
    JobQueries queries,
    DatabaseStatus database,
    Scheduler scheduler,
    WakeSignal wake,
    LiveConfig liveConfig,
    TimeProvider time,
    ILogger<DetailModel> logger) : PageModel
{
    private const string OutcomeTempDataKey = "Detail.Outcome";
    private const string EditTempDataKey = "Detail.Edit";

    public long Id { get; private set; }

    public Job? Job { get; private set; }

    public IReadOnlyList<JobRun> Runs { get; private set; } = [];

    /// <summary>Why the database could not be read; null when it was.</summary>
    public string? DatabaseProblem { get; private set; }

    /// <summary>The outcome of the action just taken; null when none was.</summary>
    public ActionOutcome? Outcome { get; private set; }

    /// <summary>The edit form: as rejected by the last post, else the job as stored.</summary>
    public EditJobForm? EditForm { get; private set; }

    /// <summary>Set for the poll's response, whose history block replaces the page's by id.
    /// </summary>
    public bool HistoryOutOfBand { get; private set; }

    /// <summary>default_timeout_seconds as this instance applies it, for jobs that set no
    /// timeout.</summary>
    public int DefaultTimeoutSeconds => liveConfig.DefaultTimeoutSeconds;

    public bool Refreshes =>
        DatabaseProblem is not null || Job?.Status is JobStatus.Queued or JobStatus.Running;

    public async Task<IActionResult> OnGetAsync(long id, CancellationToken cancellationToken)
    {
        if (TempData[OutcomeTempDataKey] is string outcome)
        {
            Outcome = JsonSerializer.Deserialize<ActionOutcome>(outcome);
        }

        await ReadAsync(id, cancellationToken);
        if (DatabaseProblem is null && Job is null)
        {
            Response.StatusCode = StatusCodes.Status404NotFound;
        }

        EditForm = TempData[EditTempDataKey] is string edit
            ? JsonSerializer.Deserialize<EditJobForm>(edit)
            : null;
        if (EditForm is null && Job is not null)
        {
            EditForm = EditJobForm.From(Job);
        }

        return Page();
    }

    /// <summary>Renders the page body alone for the htmx poll. An absent job returns 200 with
    /// its message, because htmx does not swap a 404 and would keep polling.</summary>
    public async Task<IActionResult> OnGetBodyAsync(long id, CancellationToken cancellationToken)
    {
        await ReadAsync(id, cancellationToken);
        HistoryOutOfBand = true;
        return Partial("_JobBody", this);
    }

    public async Task<IActionResult> OnPostCancelAsync(
        long id, CancellationToken cancellationToken)
    {
        var message = await ChangeAsync(id, "cancelling a job from the dashboard", async () =>
        {
            var (found, changed) = await queries.CancelAsync(id, cancellationToken);
            if (found is null || !changed)
            {
                return Refusal(id, found, "only queued or running jobs can be cancelled");
            }

            if (found == JobStatus.Running)
            {
                scheduler.RequestCancel(id);
                logger.LogInformation("Dashboard requested cancellation of running job {JobId}",
                    id);
                return new ActionOutcome($"Job {id} is being stopped: its processes are " +
                                         "killed and it ends as cancelled.", Failed: false);
            }

            logger.LogInformation("Dashboard cancelled queued job {JobId}", id);
            return new ActionOutcome($"Job {id} was cancelled before it started.", Failed: false);
        });
        return RedirectWith(id, message);
    }

    public async Task<IActionResult> OnPostRequeueAsync(
        long id, CancellationToken cancellationToken)
    {
        var message = await ChangeAsync(id, "requeueing a job from the dashboard", async () =>
        {
            var (found, changed) = await queries.RequeueAsync(id, cancellationToken);
            if (found is null || !changed)
            {
                return Refusal(id, found, found == JobStatus.Running
                    ? "wait for it to finish or cancel it first"
                    : "it is already waiting to run");
            }

            wake.Signal();
            logger.LogInformation("Dashboard queued job {JobId} to run again", id);
            return new ActionOutcome($"Job {id} is queued to run again.", Failed: false);
        });
        return RedirectWith(id, message);
    }

    public async Task<IActionResult> OnPostDeleteAsync(
        long id, CancellationToken cancellationToken)
    {
        var message = await ChangeAsync(id, "deleting a job from the dashboard", async () =>
        {
            var (found, changed) = await queries.DeleteAsync(id, cancellationToken);
            if (found is null || !changed)
            {
                return Refusal(id, found, "cancel it first, then delete it");
            }

            logger.LogInformation("Dashboard deleted job {JobId}", id);
            return new ActionOutcome($"Job {id} and its run history were deleted.",
                Failed: false);
        });
        if (message.Failed)
        {
            return RedirectWith(id, message);
        }

        TempData[IndexModel.NoticeTempDataKey] = message.Message;
        return RedirectToPage("/Index");
    }

    private static ActionOutcome Refusal(long id, string? found, string rule) => found is null
        ? new ActionOutcome($"No job has id {id}; it may have been deleted.", Failed: true)
        : new ActionOutcome($"Job {id} is {found}, so nothing was changed: {rule}.",
            Failed: true);

    private async Task<ActionOutcome> ChangeAsync(
        long id, string activity, Func<Task<ActionOutcome>> change)
    {
        ActionOutcome? outcome = null;
        var problem = await DatabaseGuard.RunAsync(database, activity,
            async () => outcome = await change());
        return outcome ?? new ActionOutcome($"Database unreachable: {problem}. Job {id} may " +
                                            "not have changed; check it once the database is " +
                                            "back.", Failed: true);
    }

    private RedirectToPageResult RedirectWith(long id, ActionOutcome outcome)
    {
        TempData[OutcomeTempDataKey] = JsonSerializer.Serialize(outcome);
        return RedirectToPage("/Jobs/Detail", new { id });
    }

    private async Task ReadAsync(long id, CancellationToken cancellationToken)
    {
        Id = id;
        DatabaseProblem = await DatabaseGuard.RunAsync(database, "rendering a job page", async () =>
        {
            Job = await queries.GetAsync(id, cancellationToken);
            if (Job is not null)
            {
                Runs = await queries.RunsAsync(id, cancellationToken);
            }
        });
    }
}
