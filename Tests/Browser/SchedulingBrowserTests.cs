using System.Text.RegularExpressions;
using JobScheduler.Data;
using JobScheduler.Tests.Support;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace JobScheduler.Tests.Browser;

/// <summary>Recurring jobs, enabling, editing, pausing and settings in a real browser, with
/// and without JavaScript.</summary>
[TestClass]
public sealed class SchedulingBrowserTests
{
    private const string PausedText = "Paused: no new jobs start; running jobs go on.";

    private static Chromium _chromium = null!;

    [ClassInitialize]
    public static async Task LaunchAsync(TestContext context) =>
        _chromium = await Chromium.LaunchAsync();

    [ClassCleanup]
    public static async Task CloseAsync() => await _chromium.DisposeAsync();

    [TestMethod]
    public async Task RecurringJob_FromForm_RunsAndStops()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await SeedJobsAsync(app);
        var page = await _chromium.OpenAsync(app.Address);
        await using var context = page.Context;
        await page.GotoAsync("/");
        await page.EvaluateAsync("() => window.__sameDocument = true");

        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("every-two-seconds");
        await page.GetByLabel("Command").FillAsync("echo tick");
        await page.GetByLabel("Schedule").FillAsync("*/2 * * * * *");
        await page.GetByLabel("Time zone").FillAsync("Europe/Berlin");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add job" }).ClickAsync();
        await Expect(page.Locator("#add-job-form .form-success")).ToContainTextAsync("Created");

        // Two runs without a reload: the row's last run changes from one time to another.
        var row = JobRow(page, "every-two-seconds");
        await Expect(row.Locator(".recurring")).ToContainTextAsync("*/2 * * * * *");
        var lastRun = row.Locator("td.time").Nth(1);
        await Expect(lastRun).ToHaveTextAsync(new Regex(@"\d\d:\d\d:\d\d"));
        var firstRun = await lastRun.InnerTextAsync();
        await Expect(lastRun).Not.ToHaveTextAsync(firstRun);
        var id = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT id FROM jobs WHERE name = 'every-two-seconds'");
        await Chromium.ScreenshotAsync(page, "overview-recurring");
        var sameDocument = await page.EvaluateAsync<bool>("() => window.__sameDocument === true");

        Assert.IsTrue(sameDocument, "The page reloaded; the runs should appear through htmx.");
        Assert.IsTrue(await RunCountAsync(app, id) >= 2, "fewer than two runs stored");

        await row.GetByRole(AriaRole.Link, new() { Name = "every-two-seconds" }).ClickAsync();
        await Expect(page.Locator("[data-field=schedule]")).ToHaveTextAsync("*/2 * * * * *");
        await Expect(page.Locator("[data-field=time-zone]")).ToHaveTextAsync("Europe/Berlin");
        // The page polls while the job is queued, so its run history grows by itself.
        var runCount = await page.Locator("table.runs tbody tr").CountAsync();
        await Expect(page.Locator("table.runs tbody tr")).Not.ToHaveCountAsync(runCount);

        await DisableAsync(page);
        await Expect(page.Locator("[data-field=enabled]")).ToHaveTextAsync("no, never claimed");
        await Expect(page.Locator("[data-field=disabled]")).ToBeVisibleAsync();
        await app.WaitForStatusAsync(id, JobStatus.Queued);
        await page.GetByText("Edit job").ClickAsync();
        await Expect(page.GetByLabel("Schedule")).ToHaveValueAsync("*/2 * * * * *");
        await Expect(page.GetByLabel("Schedule")).ToBeEnabledAsync();
        await Chromium.ScreenshotAsync(page, "job-recurring-edit");
        var runsWhenDisabled = await RunCountAsync(app, id);
        // Two polls of the page take longer than the schedule's 2 s period.
        await Chromium.WaitForSwapAsync(page, "Body");
        await Chromium.WaitForSwapAsync(page, "Body");

        Assert.AreEqual(runsWhenDisabled, await RunCountAsync(app, id), "ran while disabled");
        Assert.IsFalse((await app.GetJobAsync(id)).Enabled);

        await page.GotoAsync("/");
        await page.GetByRole(AriaRole.Button, new() { Name = "Pause" }).ClickAsync();
        await Expect(page.Locator("[data-field=paused]")).ToHaveTextAsync(PausedText);
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("while-paused");
        await page.GetByLabel("Command").FillAsync("echo waited");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add job" }).ClickAsync();
        await Expect(JobRow(page, "while-paused").Locator(".badge").First).ToHaveTextAsync("queued");
        await Chromium.WaitForSwapAsync(page, "Stats");
        await Chromium.WaitForSwapAsync(page, "Table");
        await Expect(JobRow(page, "while-paused").Locator(".badge").First).ToHaveTextAsync("queued");
        await Chromium.ScreenshotAsync(page, "overview-paused");
        var storedPaused = await Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = 'paused'");

        Assert.AreEqual("true", storedPaused);
        await page.GetByRole(AriaRole.Button, new() { Name = "Resume" }).ClickAsync();
        await Expect(page.Locator("[data-field=paused]")).ToHaveCountAsync(0);
        await Expect(JobRow(page, "while-paused").Locator(".badge").First)
            .ToHaveTextAsync("completed");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Pause" })).ToBeVisibleAsync();
    }

    [TestMethod]
    public async Task Forms_WithoutJavaScript_EditPauseAndSettings()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync("held", "true");
        await app.WaitForStatusAsync(job.Id, JobStatus.Completed);
        var page = await _chromium.OpenAsync(app.Address, javaScript: false,
            colorScheme: ColorScheme.Light);
        await using var context = page.Context;

        await page.GotoAsync($"/jobs/{job.Id}");
        await page.GetByText("Edit job").ClickAsync();
        await page.GetByLabel("Schedule").FillAsync("0 3 * * *");
        await page.GetByLabel("Time zone").FillAsync("Mars/Olympus");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();
        await Expect(page.Locator("#edit-time-zone-error")).ToContainTextAsync(
            "time_zone 'Mars/Olympus' is not a known IANA time zone");
        await Expect(page.GetByLabel("Schedule")).ToHaveValueAsync("0 3 * * *");
        await Chromium.ScreenshotAsync(page, "job-edit-error-light");
        await page.GetByLabel("Time zone").FillAsync("America/New_York");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();
        await Expect(page.Locator(".banner-success")).ToContainTextAsync(
            $"Job {job.Id} was updated: schedule, time_zone, run_at.");
        await Expect(page.Locator("[data-field=schedule]")).ToHaveTextAsync("0 3 * * *");
        await Expect(page.Locator("[data-field=time-zone]")).ToHaveTextAsync("America/New_York");

        await page.GotoAsync("/");
        await page.GetByRole(AriaRole.Button, new() { Name = "Pause" }).ClickAsync();
        await Expect(page.Locator("[data-field=paused]")).ToHaveTextAsync(PausedText);
        await page.GetByRole(AriaRole.Button, new() { Name = "Resume" }).ClickAsync();
        await Expect(page.Locator("[data-field=paused]")).ToHaveCountAsync(0);

        await page.GetByText("Settings", new() { Exact = true }).ClickAsync();
        var timeout = page.GetByLabel("default_timeout_seconds");
        await timeout.FillAsync("-5");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save settings" }).ClickAsync();
        await Expect(page.Locator("#setting-default-timeout-seconds-error")).ToHaveTextAsync(
            "default_timeout_seconds must be a whole number from 0 to 31536000, not '-5'.");
        await timeout.FillAsync("90");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save settings" }).ClickAsync();
        await Expect(page.Locator("#settings .form-success")).ToContainTextAsync(
            "default_timeout_seconds = 90");
        var stored = await Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = 'default_timeout_seconds'");
        var edited = await app.GetJobAsync(job.Id);

        Assert.AreEqual("90", stored);
        Assert.AreEqual("America/New_York", edited.TimeZone);
        Assert.IsTrue(edited.RunAt > DateTime.UtcNow, $"run_at {edited.RunAt:O}");
    }

    /// <summary>Clicks Disable on the job page. A click that lands while a run is in progress,
    /// which takes a fraction of a second each time, is refused and repeated.</summary>
    private static async Task DisableAsync(IPage page)
    {
        var banner = page.Locator("p.banner");
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            await page.Locator("[data-action=Disable] button").ClickAsync();
            await Expect(banner).ToBeVisibleAsync();
            if ((await banner.InnerTextAsync()).Contains("is disabled"))
            {
                return;
            }
        }

        Assert.Fail("Disable was refused five times: " + await banner.InnerTextAsync());
    }

    private static Task<long> RunCountAsync(TestApp app, long id) =>
        Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM job_runs WHERE job_id = $1", id);

    private static ILocator JobRow(IPage page, string name) =>
        page.Locator("#jobs tbody tr", new()
        {
            Has = page.GetByRole(AriaRole.Link, new() { Name = name, Exact = true }),
        });

    /// <summary>Inserts a finished job, a disabled one and one due tomorrow, so the screenshots
    /// show the table's marks beside the recurring job.</summary>
    private static Task SeedJobsAsync(TestApp app) =>
        Sql.ExecuteAsync(app.Settings.ConnectionString(), """
            INSERT INTO jobs (name, command, status, last_run, finished_at, exit_code)
            VALUES ('nightly-backup', 'pg_dump --format=custom --file=/var/backups/app.dump app',
                    'completed', now() - interval '65 seconds', now() - interval '3 seconds', 0);
            INSERT INTO jobs (name, command, run_at, enabled)
            VALUES ('report-tomorrow', 'make report', now() + interval '1 day', true),
                   ('switched-off', 'make cleanup', now(), false);
            INSERT INTO jobs (name, command, schedule, time_zone, run_at)
            VALUES ('weekday-digest', 'send-digest', '0 9 * * 1-5', 'America/New_York',
                    now() + interval '10 hours');
            """);
}
