using System.Globalization;
using System.Text.Json;
using JobScheduler.Api;
using JobScheduler.Data;
using JobScheduler.Scheduling;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace JobScheduler.Pages;

/// <summary>
/// The dashboard with counts per status, the limit in force, the add-job and limit forms, and
/// the job table. The stats and the table also render alone as partials that the page polls
/// every 2 s. A plain form post redirects back with the outcome in TempData. An htmx form post
/// gets the form back, with the stats and the table to swap out of band.
/// </summary>
public sealed class IndexModel(
    JobQueries queries,
    ConfigStore configStore,
    LiveConfig liveConfig,
    DatabaseStatus database,
    WakeSignal wake,
    ILogger<IndexModel> logger) : PageModel
{
    public const int PageSize = 50;
    public const string AddJobFormName = "add-job";
    public const string LimitFormName = "limit";

    private const string AddJobTempDataKey = "Dashboard.AddJob";
    private const string LimitTempDataKey = "Dashboard.Limit";

    // A submitted limit is cut to this length. The cut value ends in an ellipsis and is
    // rejected, which keeps the value echoed in the error and the TempData cookie small.
    private const int MaxLimitInputLength = 20;

    public JobFilter Filter { get; private set; } = JobFilter.All;

    public JobStats? Stats { get; private set; }

    /// <summary>Invalid stored configuration values, each with the value in force instead.
    /// </summary>
    public IReadOnlyList<string> ConfigProblems { get; private set; } = [];

    public IReadOnlyList<Job> Jobs { get; private set; } = [];

    /// <summary>The cursor of the next older page; null on the oldest page.</summary>
    public long? OlderCursor { get; private set; }

    /// <summary>Why the database could not be read; null when it was.</summary>
    public string? DatabaseProblem { get; private set; }

    public AddJobForm AddJob { get; private set; } = new();

    public LimitForm Limit { get; private set; } = new();

    /// <summary>The form that an htmx post returns, <see cref="AddJobFormName"/> or
    /// <see cref="LimitFormName"/>.</summary>
    public string SubmittedForm { get; private set; } = AddJobFormName;

    private bool IsHtmxRequest =>
        Request.Headers["HX-Request"] == "true" && Request.Headers["HX-Boosted"] != "true";

    public async Task<IActionResult> OnGetAsync(
        string? status, string? cursor, CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, cursor);
        RestoreForms();
        await ReadAsync(includeStats: true, includeTable: true, cancellationToken);
        return Page();
    }

    public async Task<IActionResult> OnGetStatsAsync(
        string? status, CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, null);
        await ReadAsync(includeStats: true, includeTable: false, cancellationToken);
        return Partial("_Stats", this);
    }

    public async Task<IActionResult> OnGetTableAsync(
        string? status, string? cursor, CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, cursor);
        await ReadAsync(includeStats: false, includeTable: true, cancellationToken);
        return Partial("_JobTable", this);
    }

    public async Task<IActionResult> OnPostCreateAsync(
        string? name, string? command, string? priority, string? status, string? cursor,
        CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, cursor);
        AddJob = AddJobForm.FromSubmission(name, command, priority);
        if (AddJob.Validate() is { } newJob)
        {
            await CreateJobAsync(newJob, cancellationToken);
        }

        return await RespondToFormAsync(AddJobFormName, cancellationToken);
    }

    public async Task<IActionResult> OnPostLimitAsync(
        [FromForm(Name = LiveConfig.MaxConcurrentJobsKey)] string? value,
        string? status, string? cursor, CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, cursor);
        Limit = new LimitForm
        {
            Value = Display.Truncate((value ?? "").Trim(), MaxLimitInputLength),
        };
        if (Limit.Validate() is { } limit)
        {
            await StoreLimitAsync(limit, cancellationToken);
        }

        return await RespondToFormAsync(LimitFormName, cancellationToken);
    }

    private async Task CreateJobAsync(NewJob newJob, CancellationToken cancellationToken)
    {
        var problem = await DatabaseGuard.RunAsync(database, "creating a job from the dashboard",
            async () =>
            {
                var job = await queries.CreateAsync(newJob, cancellationToken);
                if (job is null)
                {
                    AddJob.Errors[AddJobForm.NameField] =
                        $"A job named '{newJob.Name}' already exists; choose another name.";
                    return;
                }

                wake.Signal();
                logger.LogInformation("Dashboard created job {JobId} {JobName}", job.Id, job.Name);
                AddJob = AddJobForm.Created(job);
            });
        if (problem is not null)
        {
            AddJob.Failure = $"Database unreachable: {problem}. The job may not have been " +
                             "created; check the table once the database is back.";
        }
    }

    private async Task StoreLimitAsync(int limit, CancellationToken cancellationToken)
    {
        var text = limit.ToString(CultureInfo.InvariantCulture);
        var problem = await DatabaseGuard.RunAsync(database, "setting the limit from the dashboard",
            async () =>
            {
                var values = new Dictionary<string, string>
                {
                    [LiveConfig.MaxConcurrentJobsKey] = text,
                };
                await configStore.WriteAsync(values, cancellationToken);
                wake.Signal();
                logger.LogInformation("Dashboard set {Key} to {Value}",
                    LiveConfig.MaxConcurrentJobsKey, limit);
                Limit = new LimitForm { Value = text, StoredLimit = limit };
            });
        if (problem is not null)
        {
            Limit.Failure = $"Database unreachable: {problem}. The limit may not have been " +
                            "stored; try again once the database is back.";
        }
    }

    /// <summary>Redirects a plain post back to the page it came from (Post/Redirect/Get), or
    /// returns the form with the stats and table to swap out of band for an htmx post.</summary>
    private async Task<IActionResult> RespondToFormAsync(
        string formName, CancellationToken cancellationToken)
    {
        if (!IsHtmxRequest)
        {
            if (formName == AddJobFormName)
            {
                TempData[AddJobTempDataKey] = JsonSerializer.Serialize(AddJob.ForRedirect());
            }
            else
            {
                TempData[LimitTempDataKey] = JsonSerializer.Serialize(Limit);
            }

            return RedirectToPage("/Index", Filter.RouteValues);
        }

        SubmittedForm = formName;
        await ReadAsync(includeStats: true, includeTable: true, cancellationToken);
        return Partial("_FormResponse", this);
    }

    private void RestoreForms()
    {
        if (TempData[AddJobTempDataKey] is string addJob)
        {
            AddJob = JsonSerializer.Deserialize<AddJobForm>(addJob) ?? new AddJobForm();
        }

        if (TempData[LimitTempDataKey] is string limit)
        {
            Limit = JsonSerializer.Deserialize<LimitForm>(limit) ?? new LimitForm();
        }
    }

    private async Task ReadAsync(
        bool includeStats, bool includeTable, CancellationToken cancellationToken)
    {
        DatabaseProblem = await DatabaseGuard.RunAsync(database, "rendering the dashboard",
            async () =>
            {
                if (includeStats)
                {
                    await ReadStatsAsync(cancellationToken);
                }

                if (includeTable)
                {
                    await ReadPageAsync(cancellationToken);
                }
            });
    }

    private async Task ReadStatsAsync(CancellationToken cancellationToken)
    {
        var config = await ConfigEndpoints.ReadViewAsync(configStore, liveConfig,
            cancellationToken);
        ConfigProblems = config.Problems;
        Stats = await queries.StatsAsync(config.MaxConcurrentJobs, cancellationToken);
        if (Limit.Value.Length == 0)
        {
            Limit.Value = config.MaxConcurrentJobs.ToString(CultureInfo.InvariantCulture);
        }
    }

    private async Task ReadPageAsync(CancellationToken cancellationToken)
    {
        // The row after a full page only shows whether an older page exists.
        var rows = await queries.ListAsync(Filter.Status, Filter.Cursor, PageSize + 1,
            cancellationToken);
        Jobs = rows.Take(PageSize).ToList();
        OlderCursor = rows.Count > PageSize ? Jobs[^1].Id : null;
    }
}
