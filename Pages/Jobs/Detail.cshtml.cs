using JobScheduler.Data;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace JobScheduler.Pages.Jobs;

/// <summary>One job with its output and run history. The page polls its own body every 2 s
/// while the job can still change or the database is unreachable.</summary>
public sealed class DetailModel(JobQueries queries, DatabaseStatus database) : PageModel
{
    public long Id { get; private set; }

    public Job? Job { get; private set; }

    public IReadOnlyList<JobRun> Runs { get; private set; } = [];

    /// <summary>Why the database could not be read; null when it was.</summary>
    public string? DatabaseProblem { get; private set; }

    public bool Refreshes =>
        DatabaseProblem is not null || Job?.Status is JobStatus.Queued or JobStatus.Running;

    public async Task<IActionResult> OnGetAsync(long id, CancellationToken cancellationToken)
    {
        await ReadAsync(id, cancellationToken);
        if (DatabaseProblem is null && Job is null)
        {
            Response.StatusCode = StatusCodes.Status404NotFound;
        }

        return Page();
    }

    /// <summary>Renders the page body alone for the htmx poll. An absent job returns 200 with
    /// its message, because htmx does not swap a 404 and would keep polling.</summary>
    public async Task<IActionResult> OnGetBodyAsync(long id, CancellationToken cancellationToken)
    {
        await ReadAsync(id, cancellationToken);
        return Partial("_JobDetail", this);
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
