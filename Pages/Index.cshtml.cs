using System.Globalization;
using System.Text.Json;
using JobScheduler.Api;
using JobScheduler.Data;
using JobScheduler.Scheduling;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace JobScheduler.Pages;

/// <summary>
/// The dashboard with counts per status, the limit in force, the pause control, the add-job,
/// limit and settings forms, and the job table with its status filter, name search and pages.
/// The stats and the table also render alone as partials that the page polls every 2 s and that
/// filter links and the search load. A plain form post redirects back with the outcome in
/// TempData. An htmx form post gets the form back with an event that makes the stats and the
/// table reload at once. The handlers that change the live settings are in Index.Config.cs.
/// </summary>
public sealed partial class IndexModel(
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
    public const string SettingsFormName = "settings";

    /// <summary>The id of the search form, which htmx sends in the HX-Trigger header.</summary>
    public const string SearchFormId = "job-search";

    /// <summary>The event that an htmx form response raises so the stats and the table reload.
    /// </summary>
    public const string JobsChangedEvent = "jobs-changed";

    /// <summary>TempData key of a one-time message, such as the outcome of a deletion on the
    /// job page.</summary>
    public const string NoticeTempDataKey = "Dashboard.Notice";

    private const string AddJobTempDataKey = "Dashboard.AddJob";
    private const string LimitTempDataKey = "Dashboard.Limit";
    private const string SettingsTempDataKey = "Dashboard.Settings";
    private const string PauseFailureTempDataKey = "Dashboard.PauseFailure";

    // A submitted limit or pause value is cut to this length. The cut value ends in an
    // ellipsis and is rejected, which keeps the value echoed in the error and the TempData
    // cookie small.
    private const int MaxSettingInputLength = 20;

    public JobFilter Filter { get; private set; } = JobFilter.All;

    public JobStats? Stats { get; private set; }

    /// <summary>The live settings in force; null until the database was read.</summary>
    public ConfigEndpoints.ConfigView? Config { get; private set; }

    /// <summary>Invalid stored configuration values, each with the value in force instead.
    /// </summary>
    public IReadOnlyList<string> ConfigProblems { get; private set; } = [];

    public IReadOnlyList<Job> Jobs { get; private set; } = [];

    /// <summary>The cursor of the next older page; null on the oldest page.</summary>
    public long? OlderCursor { get; private set; }

    /// <summary>Set when a short search stopped before the oldest job: the lowest id it read.
    /// </summary>
    public long? SearchedDownTo { get; private set; }

    /// <summary>A one-time message from the previous request, such as a deletion.</summary>
    public string? Notice { get; private set; }

    /// <summary>Why the database could not be read; null when it was.</summary>
    public string? DatabaseProblem { get; private set; }

    public AddJobForm AddJob { get; private set; } = new();

    public LimitForm Limit { get; private set; } = new();

    public SettingsForm Settings { get; private set; } = new();

    /// <summary>Why the last pause or resume failed; null when it did not.</summary>
    public string? PauseFailure { get; private set; }

    private bool IsHtmxRequest =>
        Request.Headers["HX-Request"] == "true" && Request.Headers["HX-Boosted"] != "true";

    public async Task<IActionResult> OnGetAsync(
        string? status, string? q, string? cursor, CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, q, cursor);
        RestoreForms();
        Notice = TempData[NoticeTempDataKey] as string;
        await ReadAsync(includeStats: true, includeTable: true, cancellationToken);
        return Page();
    }

    public async Task<IActionResult> OnGetStatsAsync(CancellationToken cancellationToken)
    {
        await ReadAsync(includeStats: true, includeTable: false, cancellationToken);
        return Partial("_Stats", this);
    }

    /// <summary>Renders the job table for a poll, a filter link or the search form. A search
    /// also replaces the address in the browser, so a reload or a shared link keeps it.
    /// </summary>
    public async Task<IActionResult> OnGetTableAsync(
        string? status, string? q, string? cursor, CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, q, cursor);
        if (Request.Headers["HX-Trigger"] == SearchFormId)
        {
            Response.Headers["HX-Replace-Url"] = Url.Page("/Index", Filter.RouteValues);
        }

        await ReadAsync(includeStats: false, includeTable: true, cancellationToken);
        return Partial("_TableResponse", this);
    }

    public async Task<IActionResult> OnPostCreateAsync(
        string? name, string? command, string? priority,
        [FromForm(Name = AddJobForm.TimeoutField)] string? timeoutSeconds,
        [FromForm(Name = AddJobForm.MaxAttemptsField)] string? maxAttempts,
        [FromForm(Name = AddJobForm.RetryDelayField)] string? retryDelaySeconds,
        string? schedule,
        [FromForm(Name = AddJobForm.TimeZoneField)] string? timeZone,
        [FromForm(Name = AddJobForm.EnabledField)] string[]? enabled,
        string? status, string? q, string? cursor, CancellationToken cancellationToken)
    {
        Filter = JobFilter.Parse(status, q, cursor);
        AddJob = AddJobForm.FromSubmission(name, command, priority, timeoutSeconds, maxAttempts,
            retryDelaySeconds, schedule, timeZone,
            AddJobForm.CheckboxValue(enabled, absent: true));
        if (AddJob.Validate() is { } newJob)
        {
            await CreateJobAsync(newJob, cancellationToken);
        }

        return RespondToForm(AddJobFormName);
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

    /// <summary>Redirects a plain post back to the page it came from (Post/Redirect/Get), or
    /// returns the form for an htmx post, with an event that reloads the stats and the table
    /// with the filter the page shows now.</summary>
    private IActionResult RespondToForm(string formName)
    {
        if (!IsHtmxRequest)
        {
            var (key, form) = formName switch
            {
                AddJobFormName => (AddJobTempDataKey, (object)AddJob.ForRedirect()),
                LimitFormName => (LimitTempDataKey, Limit),
                _ => (SettingsTempDataKey, Settings),
            };
            TempData[key] = JsonSerializer.Serialize(form, form.GetType());
            return RedirectToPage("/Index", Filter.RouteValues);
        }

        Response.Headers["HX-Trigger"] = JobsChangedEvent;
        return Partial(formName switch
        {
            AddJobFormName => "_AddJobForm",
            LimitFormName => "_LimitForm",
            _ => "_SettingsForm",
        }, this);
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

        if (TempData[SettingsTempDataKey] is string settings)
        {
            Settings = JsonSerializer.Deserialize<SettingsForm>(settings) ?? new SettingsForm();
        }

        PauseFailure = TempData[PauseFailureTempDataKey] as string;
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
        Config = config;
        ConfigProblems = config.Problems;
        Stats = await queries.StatsAsync(config.MaxConcurrentJobs, cancellationToken);
        if (Limit.Value.Length == 0)
        {
            Limit.Value = config.MaxConcurrentJobs.ToString(CultureInfo.InvariantCulture);
        }

        if (Settings.Values.Count == 0)
        {
            Settings.Prefill(config);
        }
    }

    private async Task ReadPageAsync(CancellationToken cancellationToken)
    {
        var page = await queries.PageAsync(Filter.Status, Filter.Search, Filter.Cursor, PageSize,
            cancellationToken);
        Jobs = page.Jobs;
        OlderCursor = page.OlderCursor;
        SearchedDownTo = page.SearchedDownTo;
    }
}
