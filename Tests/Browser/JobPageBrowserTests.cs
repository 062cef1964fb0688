using System.Text.RegularExpressions;
using JobScheduler.Data;
using JobScheduler.Tests.Support;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace JobScheduler.Tests.Browser;

/// <summary>The job page in a real browser: results, live output and the actions.</summary>
[TestClass]
public sealed class JobPageBrowserTests
{
    private static Chromium _chromium = null!;

    [ClassInitialize]
    public static async Task LaunchAsync(TestContext context) =>
        _chromium = await Chromium.LaunchAsync();

    [ClassCleanup]
    public static async Task CloseAsync() => await _chromium.DisposeAsync();

    [TestMethod]
    public async Task JobPage_FailedJob_ShowsExitCodeAndOutput()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync("breaks",
            "echo out-text; echo err-text >&2; exit 7");
        await app.WaitForStatusAsync(job.Id, JobStatus.Failed);
        var page = await _chromium.OpenAsync(app.Address);
        await using var context = page.Context;

        await page.GotoAsync($"/jobs/{job.Id}");
        await Chromium.ScreenshotAsync(page, "job-failed");

        await Expect(page.Locator("[data-field=status]")).ToHaveTextAsync("failed");
        await Expect(page.Locator("[data-field=exit-code]")).ToHaveTextAsync("7");
        await Expect(page.Locator("[data-field=output]")).ToContainTextAsync("out-text");
        await Expect(page.Locator("[data-field=output]")).ToContainTextAsync("err-text");
        await Expect(page.Locator("[data-field=error]")).ToContainTextAsync("7");
        await Expect(page.Locator("table.runs tbody tr")).ToHaveCountAsync(1);
        await Expect(Action(page, "Cancel").Locator("button")).ToBeDisabledAsync();
        await Expect(Action(page, "Cancel")).ToContainTextAsync(
            "Only queued or running jobs can be cancelled; this one is failed.");
        await Expect(Action(page, "Requeue").Locator("button")).ToBeEnabledAsync();
    }

    [TestMethod]
    public async Task JobPage_RunningJob_CancelRerunAndDelete()
    {
        var settings = await TestDatabase.CreateAsync(new() { ["HEARTBEAT_INTERVAL"] = "1" });
        await using var app = await TestApp.StartAsync(settings);
        var job = await app.CreateJobAsync("sleeper", "echo started; sleep 60");
        await app.WaitForStatusAsync(job.Id, JobStatus.Running);
        var page = await _chromium.OpenAsync(app.Address);
        await using var context = page.Context;
        await page.GotoAsync($"/jobs/{job.Id}");
        var status = page.Locator("[data-field=status]");

        await Expect(status).ToHaveTextAsync("running");
        await Expect(Action(page, "Delete").Locator("button")).ToBeDisabledAsync();
        await Expect(Action(page, "Delete")).ToContainTextAsync(
            "Running jobs cannot be deleted; cancel it first.");
        await Expect(Action(page, "Requeue").Locator("button")).ToBeDisabledAsync();
        await Expect(page.Locator("dd .elapsed")).ToHaveTextAsync(new Regex(@"^\d+ s$"));
        // The heartbeat stores the output of a running job, and the page polls it.
        await Expect(page.Locator("[data-field=output]")).ToContainTextAsync("started");

        // An open confirmation survives the page's polls while the job's state is the same.
        await page.GetByText("Cancel…").ClickAsync();
        await Chromium.WaitForSwapAsync(page, "Body");
        await Expect(Action(page, "Cancel").Locator("details")).ToHaveAttributeAsync("open", "");
        await Chromium.ScreenshotAsync(page, "job-running-cancel");
        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel job" }).ClickAsync();
        await Expect(page.Locator(".banner-success")).ToContainTextAsync("is being stopped");
        await Expect(status).ToHaveTextAsync("cancelled");

        await page.GetByRole(AriaRole.Button, new() { Name = "Run again" }).ClickAsync();
        await Expect(page.Locator(".banner-success")).ToContainTextAsync("queued to run again");
        await Expect(status).ToHaveTextAsync("running");
        await page.GetByText("Cancel…").ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel job" }).ClickAsync();
        await Expect(status).ToHaveTextAsync("cancelled");
        await Expect(page.Locator("table.runs tbody tr")).ToHaveCountAsync(2);

        await page.GetByText("Delete…").ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete job" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/$"));
        await Expect(page.Locator(".banner-success")).ToHaveTextAsync(
            $"Job {job.Id} and its run history were deleted.");
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "sleeper" })).ToHaveCountAsync(0);
        var jobs = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs");
        Assert.AreEqual(0L, jobs);
    }

    private static ILocator Action(IPage page, string handler) =>
        page.Locator($"[data-action={handler}]");
}
