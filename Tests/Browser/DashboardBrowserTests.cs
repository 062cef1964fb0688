using System.Text.RegularExpressions;
using JobScheduler.Data;
using JobScheduler.Tests.Support;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace JobScheduler.Tests.Browser;

/// <summary>The overview page in a real browser: forms, live updates, filter and search.
/// </summary>
[TestClass]
public sealed class DashboardBrowserTests
{
    private const string XssName = "<script>alert(1)</script>";

    private static Chromium _chromium = null!;

    [ClassInitialize]
    public static async Task LaunchAsync(TestContext context) =>
        _chromium = await Chromium.LaunchAsync();

    [ClassCleanup]
    public static async Task CloseAsync() => await _chromium.DisposeAsync();

    [TestMethod]
    public async Task AddJobForm_NewJob_CompletesWithoutReload()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await SeedJobsOfEveryStatusAsync(app);
        var sleeper = await app.CreateJobAsync("long-sleeper", "sleep 60");
        await app.WaitForStatusAsync(sleeper.Id, JobStatus.Running);
        var page = await _chromium.OpenAsync(app.Address);
        await using var context = page.Context;
        await page.GotoAsync("/");
        await page.EvaluateAsync("() => window.__sameDocument = true");

        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("from-browser");
        await page.GetByLabel("Command").FillAsync("echo from-browser; sleep 1");
        await page.GetByLabel("Max attempts").FillAsync("2");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add job" }).ClickAsync();

        await Expect(page.Locator("#add-job-form .form-success")).ToContainTextAsync("Created");
        await Expect(JobRow(page, "from-browser")).ToBeVisibleAsync();
        await Expect(JobRow(page, "long-sleeper").Locator(".elapsed")).ToHaveTextAsync(
            new Regex(@"^\d+ s$"));
        await Chromium.ScreenshotAsync(page, "overview");
        await Expect(JobRow(page, "from-browser").Locator(".badge")).ToHaveTextAsync("completed");
        await Expect(page.Locator("[data-count=completed]")).ToHaveTextAsync("2");
        var maxAttempts = await Sql.ScalarAsync<int>(app.Settings.ConnectionString(),
            "SELECT max_attempts FROM jobs WHERE name = 'from-browser'");
        var sameDocument = await page.EvaluateAsync<bool>("() => window.__sameDocument === true");
        await app.Client.PostAsync($"/api/jobs/{sleeper.Id}/cancel", null);
        await app.WaitForStatusAsync(sleeper.Id, JobStatus.Cancelled);

        Assert.IsTrue(sameDocument, "The page reloaded; the new job should appear through htmx.");
        Assert.AreEqual(2, maxAttempts);
        await Expect(page.GetByLabel("Name", new() { Exact = true })).ToHaveValueAsync("");
    }

    [TestMethod]
    public async Task LimitForm_BadThenGoodValue_ValidatesAndApplies()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var page = await _chromium.OpenAsync(app.Address);
        await using var context = page.Context;
        await page.GotoAsync("/");
        var limit = page.GetByLabel("max_concurrent_jobs");
        var setLimit = page.GetByRole(AriaRole.Button, new() { Name = "Set limit" });

        await limit.FillAsync("0");
        await setLimit.ClickAsync();
        await Expect(page.Locator("#limit-value-error")).ToHaveTextAsync(
            "max_concurrent_jobs must be a whole number from 1 to 10000, not '0'.");
        await Expect(limit).ToHaveAttributeAsync("aria-invalid", "true");
        var storedAfterBad = await StoredLimitAsync(app);

        await limit.FillAsync("5");
        await setLimit.ClickAsync();
        await Expect(page.Locator("#limit-form .form-success")).ToContainTextAsync(
            "max_concurrent_jobs is now 5");
        await Expect(page.Locator("#limit-in-force")).ToHaveTextAsync("5");
        var live = app.Service<LiveConfig>();
        await Eventually.WaitAsync(() => live.MaxConcurrentJobs == 5,
            "the scheduler to apply max_concurrent_jobs = 5");

        Assert.AreEqual("2", storedAfterBad);
        Assert.AreEqual("5", await StoredLimitAsync(app));
        await Expect(page.Locator("#limit-value-error")).ToHaveCountAsync(0);
    }

    [TestMethod]
    public async Task Table_FilterAndSearch_SurvivePollsAndReload()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(), """
            INSERT INTO jobs (name, command, status) VALUES
                ('alpha-report', 'true', 'completed'),
                ('Alpha-backup', 'false', 'failed'),
                ('beta-backup', 'false', 'failed'),
                ('disk_100%', 'true', 'completed'),
                ('disk-1000', 'true', 'completed')
            """);
        var page = await _chromium.OpenAsync(app.Address);
        await using var context = page.Context;
        await page.GotoAsync("/");
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("half-typed");

        await page.GetByRole(AriaRole.Searchbox).FillAsync("ALPHA");
        await Expect(page.Locator("#jobs tbody tr")).ToHaveCountAsync(2);
        await Expect(page).ToHaveURLAsync(new Regex(@"\?q=ALPHA$"));
        await page.Locator("#jobs .filter").GetByRole(AriaRole.Link, new() { Name = "failed" })
            .ClickAsync();
        await Expect(page.Locator("#jobs tbody tr")).ToHaveCountAsync(1);
        await Expect(JobRow(page, "Alpha-backup")).ToBeVisibleAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"\?status=failed&q=ALPHA$"));
        await Chromium.WaitForSwapAsync(page, "Table");
        await Chromium.WaitForSwapAsync(page, "Stats");

        await Expect(page.Locator("#jobs tbody tr")).ToHaveCountAsync(1);
        await Expect(JobRow(page, "Alpha-backup")).ToBeVisibleAsync();
        await Expect(page.GetByLabel("Name", new() { Exact = true })).ToHaveValueAsync("half-typed");
        await Expect(page.GetByRole(AriaRole.Searchbox)).ToHaveValueAsync("ALPHA");

        await page.ReloadAsync();
        await Expect(page.Locator("#jobs tbody tr")).ToHaveCountAsync(1);
        await Expect(page.GetByRole(AriaRole.Searchbox)).ToHaveValueAsync("ALPHA");
        await Expect(page.Locator("#jobs .filter [aria-current=page]")).ToHaveTextAsync("failed");

        // % and _ are matched literally, and a status link clears no search.
        await page.Locator("#jobs .filter").GetByRole(AriaRole.Link, new() { Name = "all" })
            .ClickAsync();
        await page.GetByRole(AriaRole.Searchbox).FillAsync("_100%");
        await Expect(page.Locator("#jobs tbody tr")).ToHaveCountAsync(1);
        await Expect(JobRow(page, "disk_100%")).ToBeVisibleAsync();
    }

    [TestMethod]
    public async Task JobName_WithScriptTag_RendersAsText()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(XssName, "echo '<img src=x onerror=alert(2)>'");
        await app.WaitForStatusAsync(job.Id, JobStatus.Completed);
        var page = await _chromium.OpenAsync(app.Address);
        await using var context = page.Context;
        var dialogs = new List<string>();
        page.Dialog += (_, dialog) => dialogs.Add(dialog.Message);

        await page.GotoAsync("/");
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = XssName })).ToBeVisibleAsync();
        await Chromium.WaitForSwapAsync(page, "Table");
        await page.GetByRole(AriaRole.Link, new() { Name = XssName }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = XssName }))
            .ToBeVisibleAsync();
        await Expect(page.Locator("[data-field=output]")).ToContainTextAsync(
            "<img src=x onerror=alert(2)>");

        Assert.AreEqual(0, dialogs.Count, string.Join("; ", dialogs));
        Assert.AreEqual(0, await page.Locator("img").CountAsync());
        Assert.AreEqual(XssName + " · JobScheduler", await page.TitleAsync());
    }

    [TestMethod]
    public async Task Forms_WithoutJavaScript_AddSearchAndDelete()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var page = await _chromium.OpenAsync(app.Address, javaScript: false);
        await using var context = page.Context;
        await page.GotoAsync("/");

        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("plain-post");
        await page.GetByLabel("Command").FillAsync("true");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add job" }).ClickAsync();
        await Expect(page.Locator("#add-job-form .form-success")).ToContainTextAsync("Created");
        var id = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT id FROM jobs WHERE name = 'plain-post'");
        await app.WaitForStatusAsync(id, JobStatus.Completed);
        await page.GetByRole(AriaRole.Searchbox).FillAsync("plain");
        await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"\?status=&q=plain$"));
        await page.GetByRole(AriaRole.Link, new() { Name = "plain-post" }).ClickAsync();
        await Expect(page.Locator("[data-field=status]")).ToHaveTextAsync("completed");
        await page.GetByText("Delete…").ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete job" }).ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex("/$"));
        await Expect(page.Locator(".banner-success")).ToContainTextAsync("were deleted");
        var jobs = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs");
        Assert.AreEqual(0L, jobs);
    }

    [TestMethod]
    public async Task Overview_NarrowWindow_FitsWithoutSideScroll()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await SeedJobsOfEveryStatusAsync(app);
        var page = await _chromium.OpenAsync(app.Address, colorScheme: ColorScheme.Light,
            width: 390, height: 844);
        await using var context = page.Context;

        await page.GotoAsync("/");
        await Expect(page.Locator("#jobs tbody tr").First).ToBeVisibleAsync();
        await Chromium.ScreenshotAsync(page, "overview-narrow-light");
        var pageWidth = await page.EvaluateAsync<int>(
            "() => document.documentElement.scrollWidth");

        // The job table scrolls inside its own box; the page itself does not.
        Assert.IsTrue(pageWidth <= 390, $"The page is {pageWidth} px wide in a 390 px window.");
        await page.Keyboard.PressAsync("Tab");
        var focused = await page.EvaluateAsync<string>(
            "() => getComputedStyle(document.activeElement).outlineStyle");
        Assert.AreEqual("solid", focused, "The focused element shows no outline.");
    }

    private static ILocator JobRow(IPage page, string name) =>
        page.Locator("#jobs tbody tr", new()
        {
            Has = page.GetByRole(AriaRole.Link, new() { Name = name, Exact = true }),
        });

    private static Task<string> StoredLimitAsync(TestApp app) =>
        Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = 'max_concurrent_jobs'");

    /// <summary>Inserts finished jobs of each status, a long command and a job due tomorrow, so
    /// the screenshots show every badge.</summary>
    private static async Task SeedJobsOfEveryStatusAsync(TestApp app)
    {
        await Sql.ExecuteAsync(app.Settings.ConnectionString(), """
            INSERT INTO jobs (name, command, status, last_run, finished_at, exit_code)
            VALUES
                ('nightly-backup', 'pg_dump --format=custom --file=/var/backups/app.dump app',
                 'completed', now() - interval '65 seconds', now() - interval '3 seconds', 0),
                ('sync-mirrors', 'rsync -a --delete /srv/mirror/ backup:/srv/mirror/',
                 'failed', now() - interval '2 minutes', now() - interval '1 minute', 23),
                ('rebuild-index', 'echo rebuilding', 'cancelled', NULL, now(), NULL);
            INSERT INTO jobs (name, command, run_at)
            VALUES ('report-tomorrow', 'make report', now() + interval '1 day');
            """);
    }
}
