using System.Net;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Dashboard;

/// <summary>The add-job form's schedule, time zone and enabled fields, and how the job table
/// marks recurring, disabled and delayed jobs.</summary>
[TestClass]
public sealed class RecurringFormTests
{
    private const string ScheduleErrorStart = """<p id="job-schedule-error" class="field-error">""";
    private const string TimeZoneErrorStart =
        """<p id="job-time-zone-error" class="field-error">""";

    [TestMethod]
    [DataRow(false, DisplayName = "plain post, redirected")]
    [DataRow(true, DisplayName = "htmx post")]
    public async Task CreateForm_Schedule_StoresRecurringJob(bool htmx)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        var page = await client.SubmitAsync("Create", JobFields("nightly", "30 2 * * *",
            " Europe/Berlin ", enabled: true), htmx);
        var stored = await Sql.ScalarAsync<string>(app.Settings.ConnectionString(), """
            SELECT concat_ws(' | ', schedule, time_zone, enabled,
                             run_at > now(), run_at < now() + interval '1 day 1 hour')
            FROM jobs WHERE name = 'nightly'
            """);

        StringAssert.Contains(page, "Created <a href=\"/jobs/");
        // The first run is the next 02:30 in Berlin: later than now, within a day.
        Assert.AreEqual("30 2 * * * | Europe/Berlin | t | t | t", stored);
        // The form is empty again for the next job, with the defaults.
        StringAssert.Contains(page, """name="time_zone" value="UTC" """.TrimEnd());
    }

    [TestMethod]
    public async Task CreateForm_EnabledCleared_StoresDisabledJob()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        await client.SubmitAsync("Create", JobFields("held", "", "", enabled: false));
        var enabled = await Sql.ScalarAsync<bool>(app.Settings.ConnectionString(),
            "SELECT enabled FROM jobs WHERE name = 'held'");
        var status = await Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT status FROM jobs WHERE name = 'held'");

        Assert.IsFalse(enabled);
        Assert.AreEqual(JobStatus.Queued, status);
    }

    [TestMethod]
    public async Task CreateForm_OldFields_CreatesOneOffJob()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        // A client that posts only the old fields gets the API's defaults.
        await client.SubmitAsync("Create", new Dictionary<string, string>
        {
            ["name"] = "plain",
            ["command"] = "true",
        });
        var stored = await Sql.ScalarAsync<string>(app.Settings.ConnectionString(), """
            SELECT concat_ws(' | ', coalesce(schedule, 'none'), time_zone, enabled)
            FROM jobs WHERE name = 'plain'
            """);

        Assert.AreEqual("none | UTC | t", stored);
    }

    [TestMethod]
    [DataRow("every day", "UTC", false,
        ScheduleErrorStart + "schedule &#x27;every day&#x27; is not a valid cron expression")]
    [DataRow("0 0 30 2 *", "UTC", false,
        ScheduleErrorStart + "schedule &#x27;0 0 30 2 *&#x27; never fires")]
    [DataRow("30 2 * * *", "Mars/Olympus", false,
        TimeZoneErrorStart + "time_zone &#x27;Mars/Olympus&#x27; is not a known IANA time zone")]
    [DataRow("", "Mars/Olympus", true,
        TimeZoneErrorStart + "time_zone &#x27;Mars/Olympus&#x27; is not a known IANA time zone")]
    public async Task CreateForm_InvalidSchedule_ShowsErrorUnderField(
        string schedule, string timeZone, bool htmx, string expected)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        var body = await client.SubmitAsync("Create",
            JobFields("bad-schedule", schedule, timeZone, enabled: true), htmx);
        var jobs = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs");

        StringAssert.Contains(body, expected);
        Assert.AreEqual(0L, jobs);
        // The typed values stay, so the user corrects them instead of typing them again.
        StringAssert.Contains(body, $"value=\"{WebUtility.HtmlEncode(timeZone)}\"");
    }

    [TestMethod]
    public async Task CreateForm_HugeSchedule_IsCutAndRejected()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        var page = await client.SubmitAsync("Create",
            JobFields("huge", new string('*', 50_000), new string('z', 50_000), enabled: true));
        var after = await client.GetStringAsync("/");

        // The rejected form travels in a cookie, which must stay small.
        StringAssert.Contains(page, ScheduleErrorStart + "schedule &#x27;" +
                                    new string('*', 200) + "&#x2026;&#x27;");
        StringAssert.Contains(after, "data-count=\"total\"");
    }

    [TestMethod]
    public async Task Table_RecurringDisabledAndDelayedJobs_AreMarked()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(), """
            INSERT INTO jobs (name, command, schedule, time_zone, run_at) VALUES
                ('recurring', 'true', '30 2 * * *', 'Europe/Berlin',
                 '2099-01-02T01:30:00Z');
            INSERT INTO jobs (name, command, run_at, enabled) VALUES
                ('delayed', 'true', '2099-03-04T05:06:07Z', true),
                ('switched-off', 'true', '2099-03-04T05:06:07Z', false);
            INSERT INTO jobs (name, command, status) VALUES ('finished', 'true', 'completed');
            """);
        using var client = new DashboardClient(app.Address);

        var table = await client.GetStringAsync("/?handler=Table");
        var rows = table.Split("<tr>");
        string Row(string name) => rows.Single(row => row.Contains($">{name}</a>"));

        StringAssert.Contains(Row("recurring"), "<code>30 2 * * *</code>");
        StringAssert.Contains(Row("recurring"), "title=\"Recurring: 30 2 * * * in Europe/Berlin\"");
        StringAssert.Contains(Row("recurring"), "⟳");
        StringAssert.Contains(Row("recurring"),
            "runs at <time datetime=\"2099-01-02T01:30:00Z\">2099-01-02 01:30:00</time>");
        StringAssert.Contains(Row("delayed"),
            "runs at <time datetime=\"2099-03-04T05:06:07Z\">2099-03-04 05:06:07</time>");
        Assert.IsFalse(Row("delayed").Contains("Recurring"), Row("delayed"));
        StringAssert.Contains(Row("switched-off"), "<span class=\"badge badge-disabled\"");
        // A disabled job never runs, so it shows no time to run at.
        Assert.IsFalse(Row("switched-off").Contains("runs at"), Row("switched-off"));
        Assert.IsFalse(Row("finished").Contains("runs at"), Row("finished"));
        Assert.IsFalse(Row("finished").Contains("badge-disabled"), Row("finished"));
    }

    /// <summary>Returns the add-job form's fields as a browser sends them: the enabled box
    /// sends its hidden "false" always, and "true" as well when ticked.</summary>
    private static List<KeyValuePair<string, string>> JobFields(
        string name, string schedule, string timeZone, bool enabled)
    {
        var fields = new List<KeyValuePair<string, string>>
        {
            new("name", name),
            new("command", "true"),
            new("schedule", schedule),
            new("time_zone", timeZone),
            new("enabled", "false"),
        };
        if (enabled)
        {
            fields.Add(new("enabled", "true"));
        }

        return fields;
    }
}
