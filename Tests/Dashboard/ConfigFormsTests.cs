using System.Net;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Dashboard;

/// <summary>The overview's pause control and settings form, which write
/// <c>scheduler_config</c> with the rules of PUT /api/config.</summary>
[TestClass]
public sealed class ConfigFormsTests
{
    private const string PausedText =
        "<strong>Paused:</strong> no new jobs start; running jobs go on.";

    [TestMethod]
    public async Task PauseForm_PauseThenResume_Applies()
    {
        // A 60 s poll leaves only the form's wake-up to apply the change within the wait.
        var settings = await TestDatabase.CreateAsync(new() { ["CHECK_INTERVAL"] = "60" });
        await using var app = await TestApp.StartAsync(settings);
        using var client = new DashboardClient(app.Address);
        var live = app.Service<LiveConfig>();

        var before = await client.GetStringAsync("/");
        var paused = await client.SubmitAsync("Pause",
            new Dictionary<string, string> { ["paused"] = "true", ["status"] = "failed" });
        var storedPaused = await StoredAsync(app, "paused");
        await Eventually.WaitAsync(() => live.Paused, "the scheduler to apply paused = true",
            TimeSpan.FromSeconds(10));
        var resumed = await client.SubmitAsync("Pause",
            new Dictionary<string, string> { ["paused"] = "false" });
        await Eventually.WaitAsync(() => !live.Paused, "the scheduler to apply paused = false",
            TimeSpan.FromSeconds(10));

        Assert.IsFalse(before.Contains(PausedText), "paused before the post");
        StringAssert.Contains(before, ">Pause</button>");
        Assert.AreEqual("true", storedPaused);
        StringAssert.Contains(paused, PausedText);
        StringAssert.Contains(paused, ">Resume</button>");
        // The redirect keeps the view the page showed.
        StringAssert.Contains(paused, """<input type="hidden" name="status" value="failed">""");
        Assert.AreEqual("false", await StoredAsync(app, "paused"));
        Assert.IsFalse(resumed.Contains(PausedText), "paused after resuming");
        StringAssert.Contains(resumed, ">Pause</button>");
    }

    [TestMethod]
    public async Task PauseForm_HtmxPost_ReturnsStats()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        var fragment = await client.SubmitAsync("Pause",
            new Dictionary<string, string> { ["paused"] = "true" }, htmx: true);

        StringAssert.Contains(fragment, PausedText);
        StringAssert.Contains(fragment, "id=\"claiming-paused\"");
        StringAssert.Contains(fragment, "data-count=\"total\"");
        Assert.IsFalse(fragment.Contains("<html"), fragment);
        Assert.AreEqual("true", await StoredAsync(app, "paused"));
    }

    [TestMethod]
    [DataRow(false, DisplayName = "plain post, redirected")]
    [DataRow(true, DisplayName = "htmx post")]
    public async Task PauseForm_InvalidValue_ShowsErrorAndStoresNothing(bool htmx)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        var body = await client.SubmitAsync("Pause",
            new Dictionary<string, string> { ["paused"] = "maybe" }, htmx);

        StringAssert.Contains(body,
            "paused must be true or false, not &#x27;maybe&#x27;.</p>");
        Assert.AreEqual("false", await StoredAsync(app, "paused"));
    }

    [TestMethod]
    [DataRow(false, DisplayName = "plain post, redirected")]
    [DataRow(true, DisplayName = "htmx post")]
    public async Task SettingsForm_ValidValues_AreStoredAndApplied(bool htmx)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);
        var live = app.Service<LiveConfig>();

        var body = await client.SubmitAsync("Settings", new Dictionary<string, string>
        {
            ["default_timeout_seconds"] = " 60 ",
            ["run_retention_days"] = "07",
            ["job_retention_days"] = "14",
        }, htmx);
        await Eventually.WaitAsync(() => live.DefaultTimeoutSeconds == 60,
            "the scheduler to apply default_timeout_seconds = 60");

        Assert.AreEqual("60", await StoredAsync(app, "default_timeout_seconds"));
        Assert.AreEqual("7", await StoredAsync(app, "run_retention_days"));
        Assert.AreEqual("14", await StoredAsync(app, "job_retention_days"));
        StringAssert.Contains(body, "Stored default_timeout_seconds = 60, run_retention_days = 7, " +
                                    "job_retention_days = 14.");
        StringAssert.Contains(body, """<details id="settings" class="settings" open="open">""");
        Assert.AreEqual(!htmx, body.Contains("<html"), "a whole page only for a plain post");
    }

    [TestMethod]
    [DataRow(false, DisplayName = "plain post, redirected")]
    [DataRow(true, DisplayName = "htmx post")]
    public async Task SettingsForm_OneInvalidValue_StoresNothing(bool htmx)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        var body = await client.SubmitAsync("Settings", new Dictionary<string, string>
        {
            ["default_timeout_seconds"] = "60",
            ["run_retention_days"] = "-1",
            ["job_retention_days"] = "",
        }, htmx);

        StringAssert.Contains(body, """<p id="setting-run-retention-days-error" class="field-error">""" +
                                    "run_retention_days must be a whole number from 0 to 36500, " +
                                    "not &#x27;-1&#x27;.</p>");
        StringAssert.Contains(body, """<p id="setting-job-retention-days-error" class="field-error">""" +
                                    "job_retention_days must be a whole number from 0 to 36500, " +
                                    "not &#x27;&#x27;.</p>");
        Assert.IsFalse(body.Contains("setting-default-timeout-seconds-error"), body);
        // The valid value is not written either: the form stores all of its values or none.
        Assert.AreEqual("0", await StoredAsync(app, "default_timeout_seconds"));
        Assert.AreEqual("30", await StoredAsync(app, "run_retention_days"));
        Assert.AreEqual("0", await StoredAsync(app, "job_retention_days"));
        // The submitted values stay in the fields for the user to correct.
        StringAssert.Contains(body, "value=\"-1\"");
        StringAssert.Contains(body, "open=\"open\"");
    }

    [TestMethod]
    public async Task SettingsForm_OnPage_ShowsValuesInForce()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(),
            "UPDATE scheduler_config SET value = '45' WHERE key = 'default_timeout_seconds'");
        using var client = new DashboardClient(app.Address);

        var page = await client.GetStringAsync("/");

        StringAssert.Contains(page, "<details id=\"settings\" class=\"settings\">");
        StringAssert.Contains(page, "name=\"default_timeout_seconds\"");
        StringAssert.Contains(page, "value=\"45\"");
    }

    [TestMethod]
    [DataRow("Pause", "paused", "true")]
    [DataRow("Settings", "default_timeout_seconds", "60")]
    public async Task ConfigForms_WithoutToken_Return400(string handler, string key, string value)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);
        await client.ReadTokenAsync();
        var before = await StoredAsync(app, key);
        var fields = new Dictionary<string, string> { [key] = value };

        using var plain = await client.PostFormAsync($"/?handler={handler}", fields);
        using var htmx = await client.PostFormAsync($"/?handler={handler}", fields, htmx: true);

        Assert.AreEqual(HttpStatusCode.BadRequest, plain.StatusCode);
        Assert.AreEqual(HttpStatusCode.BadRequest, htmx.StatusCode);
        Assert.AreEqual(before, await StoredAsync(app, key));
    }

    private static Task<string> StoredAsync(TestApp app, string key) =>
        Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = $1", key);
}
