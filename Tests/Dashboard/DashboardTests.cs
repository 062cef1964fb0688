using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Dashboard;

[TestClass]
public sealed partial class DashboardTests
{
    private const string XssName = "<script>alert(1)</script>";
    private const string EncodedXssName = "&lt;script&gt;alert(1)&lt;/script&gt;";
    private const string NameErrorStart = """<p id="job-name-error" class="field-error">""";
    private const string CommandErrorStart = """<p id="job-command-error" class="field-error">""";
    private const string LimitErrorStart = """<p id="limit-value-error" class="field-error">""";

    [TestMethod]
    public async Task Index_WithJobs_ShowsCountsAndLimit()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var connection = app.Settings.ConnectionString();
        await Sql.ExecuteAsync(connection,
            "UPDATE scheduler_config SET value = '3' WHERE key = 'max_concurrent_jobs'");
        await Sql.ExecuteAsync(connection, """
            INSERT INTO jobs (name, command, status) VALUES
                ('done-1', 'true', 'completed'),
                ('done-2', 'true', 'completed'),
                ('broken', 'false', 'failed')
            """);
        using var client = new DashboardClient(app.Address);

        var page = await client.GetStringAsync("/");

        StringAssert.Contains(page, """data-count="completed">2<""");
        StringAssert.Contains(page, """data-count="failed">1<""");
        StringAssert.Contains(page, """data-count="queued">0<""");
        StringAssert.Contains(page, """data-count="total">3<""");
        StringAssert.Contains(page, """id="limit-in-force">3<""");
        StringAssert.Contains(page, "name=\"max_concurrent_jobs\"");
        StringAssert.Contains(page, "done-2");
    }

    [TestMethod]
    public async Task Index_Polling_ExcludesForms()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        var page = await client.GetStringAsync("/?status=failed");
        var stats = await client.GetStringAsync("/?handler=Stats");
        var table = await client.GetStringAsync("/?handler=Table");

        StringAssert.Contains(page, "hx-get=\"/?handler=Stats\"");
        StringAssert.Contains(page, "<div id=\"jobs\" hx-get=\"/?status=failed&amp;handler=Table\"");
        Assert.AreEqual(2, Regex.Count(page,
            Regex.Escape("hx-trigger=\"every 2s, jobs-changed from:body\"")));
        StringAssert.Contains(page, "/lib/htmx/htmx-2.0.11.min.js");
        StringAssert.Contains(stats, "data-count=\"total\"");
        // The stats carry the pause button, but no field that a user types into.
        Assert.IsFalse(TypedField().IsMatch(stats), stats);
        Assert.IsFalse(stats.Contains("<html"), stats);
        Assert.IsFalse(table.Contains("<form"), table);
        Assert.IsFalse(table.Contains("<html"), table);
    }

    [TestMethod]
    public async Task JobName_WithScriptTag_IsEncoded()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(XssName, "echo '<img src=x onerror=alert(2)>'");
        await app.WaitForStatusAsync(job.Id, JobStatus.Completed);
        using var client = new DashboardClient(app.Address);

        var page = await client.GetStringAsync("/");
        var table = await client.GetStringAsync("/?handler=Table");
        var detail = await client.GetStringAsync($"/jobs/{job.Id}");

        foreach (var (what, html) in new[] { ("page", page), ("table", table), ("detail", detail) })
        {
            Assert.IsFalse(html.Contains("<script>alert"), $"raw script tag in the {what}");
            Assert.IsFalse(html.Contains("<img src=x"), $"raw img tag in the {what}");
            StringAssert.Contains(html, EncodedXssName, $"encoded name missing from the {what}");
        }

        StringAssert.Contains(detail, "&lt;img src=x onerror=alert(2)&gt;");
    }

    [TestMethod]
    public async Task CreateForm_WithToken_CreatesJobThatCompletes()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);
        var fields = new Dictionary<string, string>
        {
            ["name"] = "from-form",
            ["command"] = "echo line-one\r\necho line-two",
            ["priority"] = "",
        };

        var page = await client.SubmitAsync("Create", fields);
        var id = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT id FROM jobs WHERE name = 'from-form'");
        var finished = await app.WaitForStatusAsync(id, JobStatus.Completed);

        StringAssert.Contains(page, $"""<a href="/jobs/{id}">job {id}</a>""");
        StringAssert.Contains(page, "<html");
        Assert.AreEqual(0, finished.ExitCode);
        // The browser's CRLF line breaks reach the shell as LF.
        StringAssert.Contains(finished.Output, "line-one\nline-two\n");
        Assert.IsFalse(finished.Output!.Contains('\r'), finished.Output);
        Assert.AreEqual(0, finished.Priority);
    }

    [TestMethod]
    public async Task CreateForm_HtmxPost_ReturnsFormAndEvent()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);
        var token = await client.ReadTokenAsync();
        var fields = new Dictionary<string, string>
        {
            ["name"] = "htmx-job",
            ["command"] = "true",
            ["priority"] = "-3",
            ["status"] = "queued",
        };

        using var response = await client.PostFormAsync("/?handler=Create", fields, htmx: true,
            headerToken: token);
        var fragment = await response.Content.ReadAsStringAsync();
        var priority = await Sql.ScalarAsync<int>(app.Settings.ConnectionString(),
            "SELECT priority FROM jobs WHERE name = 'htmx-job'");

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, fragment);
        Assert.AreEqual(-3, priority);
        Assert.IsFalse(fragment.Contains("<html"), fragment);
        StringAssert.Contains(fragment, "<form id=\"add-job-form\"");
        StringAssert.Contains(fragment, "Created <a href=\"/jobs/");
        // The stats and the table reload themselves with the filter the page shows now.
        Assert.AreEqual("jobs-changed", string.Join(",", response.Headers.GetValues("HX-Trigger")));
        Assert.IsFalse(fragment.Contains("hx-swap-oob"), fragment);
        // The hidden filter fields carry the user's view into the re-rendered form.
        StringAssert.Contains(fragment, """<input type="hidden" name="status" value="queued">""");
    }

    [TestMethod]
    public async Task CreateForm_WithoutToken_Returns400()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);
        await client.ReadTokenAsync();
        var fields = new Dictionary<string, string> { ["name"] = "forged", ["command"] = "true" };

        using var plain = await client.PostFormAsync("/?handler=Create", fields);
        using var htmx = await client.PostFormAsync("/?handler=Create", fields, htmx: true);
        using var limit = await client.PostFormAsync("/?handler=Limit",
            new Dictionary<string, string> { ["max_concurrent_jobs"] = "9" });
        var jobs = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs");
        var stored = await Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = 'max_concurrent_jobs'");

        Assert.AreEqual(HttpStatusCode.BadRequest, plain.StatusCode);
        Assert.AreEqual(HttpStatusCode.BadRequest, htmx.StatusCode);
        Assert.AreEqual(HttpStatusCode.BadRequest, limit.StatusCode);
        Assert.AreEqual(0L, jobs);
        Assert.AreEqual("2", stored);
    }

    [TestMethod]
    [DataRow(false, DisplayName = "plain post, redirected")]
    [DataRow(true, DisplayName = "htmx post")]
    public async Task CreateForm_InvalidFields_ShowsErrors(bool htmx)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);
        var fields = new Dictionary<string, string>
        {
            ["name"] = "  ",
            ["command"] = "",
            ["priority"] = "high",
        };

        var body = await client.SubmitAsync("Create", fields, htmx);
        var jobs = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs");

        StringAssert.Contains(body, NameErrorStart + "name must not be empty");
        StringAssert.Contains(body, CommandErrorStart + "command must not be empty");
        StringAssert.Contains(body, "priority must be a whole number");
        StringAssert.Contains(body, "not &#x27;high&#x27;");
        StringAssert.Contains(body, "value=\"high\"");
        Assert.AreEqual(0L, jobs);
    }

    [TestMethod]
    public async Task CreateForm_HugeFields_RedirectsWithErrors()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);
        var fields = new Dictionary<string, string>
        {
            ["name"] = new string('n', 50_000),
            ["command"] = new string('c', 40_000),
            ["priority"] = new string('9', 50_000),
        };

        var page = await client.SubmitAsync("Create", fields);
        var after = await client.GetStringAsync("/");
        var jobs = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs");

        // The rejected form travels in a cookie, which must stay small enough for the next
        // requests' headers.
        StringAssert.Contains(page, NameErrorStart + "name is 50000 characters long");
        StringAssert.Contains(page, "The command was 40000 characters long and was not kept");
        StringAssert.Contains(page, "not &#x27;99999999999999999999&#x2026;&#x27;");
        StringAssert.Contains(after, "data-count=\"total\"");
        Assert.AreEqual(0L, jobs);
    }

    [TestMethod]
    public async Task CreateForm_DuplicateName_ShowsConflict()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await app.CreateJobAsync("nightly", "true");
        using var client = new DashboardClient(app.Address);
        var fields = new Dictionary<string, string>
        {
            ["name"] = "nightly",
            ["command"] = "echo 2",
        };

        var page = await client.SubmitAsync("Create", fields);
        var jobs = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs");

        StringAssert.Contains(page, NameErrorStart +
            "A job named &#x27;nightly&#x27; already exists; choose another name.</p>");
        // The typed command survives the redirect, so the user only changes the name.
        StringAssert.Contains(page, ">echo 2</textarea>");
        Assert.AreEqual(1L, jobs);
    }

    [TestMethod]
    [DataRow("0", false)]
    [DataRow("abc", false)]
    [DataRow("10001", false)]
    [DataRow("abc", true)]
    public async Task LimitForm_InvalidValue_ShowsError(string value, bool htmx)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);
        var fields = new Dictionary<string, string> { ["max_concurrent_jobs"] = value };

        var body = await client.SubmitAsync("Limit", fields, htmx);
        var stored = await Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = 'max_concurrent_jobs'");
        var rows = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM scheduler_config WHERE key = 'max_concurrent_jobs'");

        StringAssert.Contains(body, LimitErrorStart + "max_concurrent_jobs must be a whole " +
            $"number from 1 to 10000, not &#x27;{value}&#x27;.</p>");
        if (!htmx)
        {
            StringAssert.Contains(body, """id="limit-in-force">2<""");
        }

        Assert.AreEqual("2", stored);
        Assert.AreEqual(1L, rows);
    }

    [TestMethod]
    public async Task LimitForm_ValidValue_IsStoredAndApplied()
    {
        // A 60 s poll leaves only the form's wake-up to apply the limit within the wait.
        var settings = await TestDatabase.CreateAsync(new() { ["CHECK_INTERVAL"] = "60" });
        await using var app = await TestApp.StartAsync(settings);
        using var client = new DashboardClient(app.Address);
        var live = app.Service<LiveConfig>();

        var page = await client.SubmitAsync("Limit",
            new Dictionary<string, string> { ["max_concurrent_jobs"] = " 5 " });
        var stored = await Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = 'max_concurrent_jobs'");
        await Eventually.WaitAsync(() => live.MaxConcurrentJobs == 5,
            "the scheduler to apply max_concurrent_jobs = 5", TimeSpan.FromSeconds(10));

        Assert.AreEqual("5", stored);
        StringAssert.Contains(page, """id="limit-in-force">5<""");
        StringAssert.Contains(page, "max_concurrent_jobs is now 5");
    }

    [TestMethod]
    public async Task Detail_FailedJob_ShowsResult()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync("breaks", "echo out-text; echo err-text >&2; exit 7");
        var failed = await app.WaitForStatusAsync(job.Id, JobStatus.Failed);
        using var client = new DashboardClient(app.Address);

        var page = await client.GetStringAsync($"/jobs/{job.Id}");

        Assert.IsNotNull(failed.Error);
        StringAssert.Contains(page, """<dd data-field="exit-code">7</dd>""");
        StringAssert.Contains(page, WebUtility.HtmlEncode(failed.Error));
        StringAssert.Contains(page, "out-text");
        StringAssert.Contains(page, "err-text");
        StringAssert.Contains(page,
            "<pre class=\"command-text\">echo out-text; echo err-text &gt;&amp;2; exit 7</pre>");
        StringAssert.Contains(page, "<table class=\"runs\">");
        StringAssert.Contains(page, "<span class=\"badge badge-failed\">failed</span>");
        // A finished job no longer changes, so the page stops polling.
        Assert.IsFalse(page.Contains("hx-trigger"), page);
    }

    [TestMethod]
    public async Task Detail_QueuedJob_RefreshesItself()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var id = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            """
            INSERT INTO jobs (name, command, run_at)
            VALUES ('later', 'true', now() + interval '1 hour')
            RETURNING id
            """);
        using var client = new DashboardClient(app.Address);

        var page = await client.GetStringAsync($"/jobs/{id}");
        var body = await client.GetStringAsync($"/jobs/{id}?handler=Body");

        StringAssert.Contains(page, $"hx-get=\"/jobs/{id}?handler=Body\"");
        StringAssert.Contains(page, "hx-trigger=\"every 2s\"");
        StringAssert.Contains(body, "<h1>later</h1>");
        Assert.IsFalse(body.Contains("<html"), body);
    }

    [TestMethod]
    public async Task Detail_AbsentId_Returns404Page()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        using var response = await client.GetAsync("/jobs/987654");
        var page = await response.Content.ReadAsStringAsync();

        Assert.AreEqual(HttpStatusCode.NotFound, response.StatusCode);
        StringAssert.Contains(page, "No job has id 987654.");
        StringAssert.Contains(page, "<html");
    }

    [TestMethod]
    public async Task Table_StatusFilter_ShowsOnlyThatStatus()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(), """
            INSERT INTO jobs (name, command, status) VALUES
                ('done-job', 'true', 'completed'),
                ('bad-job', 'false', 'failed')
            """);
        using var client = new DashboardClient(app.Address);

        var failed = await client.GetStringAsync("/?handler=Table&status=failed");
        var all = await client.GetStringAsync("/?handler=Table");
        var unknown = await client.GetStringAsync("/?status=bogus");

        StringAssert.Contains(failed, "bad-job");
        Assert.IsFalse(failed.Contains("done-job"), failed);
        StringAssert.Contains(all, "bad-job");
        StringAssert.Contains(all, "done-job");
        StringAssert.Contains(unknown, "status &#x27;bogus&#x27; is unknown");
        StringAssert.Contains(unknown, "done-job");
    }

    [TestMethod]
    public async Task Table_MoreThanOnePage_LinksOlderPage()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(), """
            INSERT INTO jobs (name, command, status)
            SELECT 'job-' || n, 'true', 'completed' FROM generate_series(1, 55) AS n
            """);
        var fiftiethId = await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT id FROM jobs ORDER BY id DESC OFFSET 49 LIMIT 1");
        using var client = new DashboardClient(app.Address);

        var first = await client.GetStringAsync("/?handler=Table&status=completed");
        var older = await client.GetStringAsync(
            $"/?handler=Table&status=completed&cursor={fiftiethId}");

        Assert.AreEqual(50, JobLink().Count(first));
        StringAssert.Matches(first, new Regex(
            $"""<a href="/\?status=completed&amp;cursor={fiftiethId}"[^>]*rel="next">Older"""));
        Assert.AreEqual(5, JobLink().Count(older));
        Assert.IsFalse(older.Contains("rel=\"next\""), older);
        StringAssert.Matches(older, new Regex("""<a href="/\?status=completed"[^>]*>Newest"""));
    }

    [TestMethod]
    public async Task Dashboard_DatabaseUnreachable_ShowsBanner()
    {
        var settings = await TestDatabase.CreateAsync(
            new() { ["DB_PORT"] = ClosedPort().ToString() });
        await using var app = await TestApp.StartAsync(settings, waitForSchema: false);
        using var client = new DashboardClient(app.Address);

        var page = await client.GetStringAsync("/");
        var stats = await client.GetStringAsync("/?handler=Stats");
        var table = await client.GetStringAsync("/?handler=Table");
        var detail = await client.GetStringAsync("/jobs/1");
        var created = await client.SubmitAsync("Create",
            new Dictionary<string, string> { ["name"] = "offline", ["command"] = "true" });

        foreach (var (what, html) in new[]
                 {
                     ("page", page), ("stats", stats), ("table", table), ("detail", detail),
                     ("create", created),
                 })
        {
            StringAssert.Contains(html, "Database unreachable:", $"no banner in the {what}");
        }

        StringAssert.Contains(detail, "hx-trigger=\"every 2s\"");
        StringAssert.Contains(created, "The job may not have been created");
    }

    [TestMethod]
    public async Task Table_DatabaseReturns_RecoversOnNextPoll()
    {
        var settings = await TestDatabase.CreateAsync();
        await using var app = await TestApp.StartAsync(settings);
        await app.CreateJobAsync("survivor", "true");
        using var client = new DashboardClient(app.Address);

        await TakeDatabaseAwayAsync(settings.DbName);
        var during = await client.GetStringAsync("/?handler=Table");
        var stats = await client.GetStringAsync("/?handler=Stats");
        await BringDatabaseBackAsync(settings.DbName);
        var after = await Eventually.WaitAsync(() => client.GetStringAsync("/?handler=Table"),
            html => html.Contains("survivor"), "the table to list jobs again");

        StringAssert.Contains(during, "Database unreachable:");
        Assert.IsFalse(during.Contains("survivor"), during);
        StringAssert.Contains(stats, "Database unreachable:");
        Assert.IsFalse(after.Contains("Database unreachable"), after);
    }

    /// <summary>Makes the database unreachable under its name while the daemon runs: closes it
    /// to new sessions, ends the daemon's sessions and renames it.</summary>
    private static async Task TakeDatabaseAwayAsync(string name)
    {
        var admin = TestDatabase.WithDatabase("postgres");
        await Sql.ExecuteAsync(admin, $"ALTER DATABASE {name} ALLOW_CONNECTIONS false");
        await Eventually.WaitAsync(async () =>
            {
                await Sql.ExecuteAsync(admin,
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    name);
                return await Sql.ScalarAsync<long>(admin,
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name);
            },
            sessions => sessions == 0, $"the sessions on {name} to end");
        await Sql.ExecuteAsync(admin, $"ALTER DATABASE {name} RENAME TO {name}_away");
        await Sql.ExecuteAsync(admin, $"ALTER DATABASE {name}_away ALLOW_CONNECTIONS true");
    }

    private static async Task BringDatabaseBackAsync(string name)
    {
        var admin = TestDatabase.WithDatabase("postgres");
        await Sql.ExecuteAsync(admin, $"ALTER DATABASE {name}_away RENAME TO {name}");
    }

    /// <summary>Returns a loopback port that nothing listens on, so connecting is refused.
    /// </summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [GeneratedRegex("""href="/jobs/\d+">""")]
    private static partial Regex JobLink();

    [GeneratedRegex("""<textarea|<input(?![^>]*type="(hidden|checkbox)")""")]
    private static partial Regex TypedField();
}
