using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Dashboard;

/// <summary>The job page's schedule facts, its Enable and Disable actions and its edit form,
/// which follow the rules of PATCH /api/jobs/{id}.</summary>
[TestClass]
public sealed partial class JobEditTests
{
    [TestMethod]
    public async Task Detail_RecurringJob_ShowsScheduleFacts()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new
        {
            name = "berlin-report",
            command = "true",
            schedule = "30 2 * * *",
            time_zone = "Europe/Berlin",
            max_attempts = 3,
        });
        using var client = new DashboardClient(app.Address);

        var page = await client.GetStringAsync($"/jobs/{job.Id}");

        StringAssert.Contains(page, """<dd data-field="schedule">""");
        StringAssert.Contains(page, "<code>30 2 * * *</code>");
        StringAssert.Contains(page, """<dd data-field="time-zone">Europe/Berlin</dd>""");
        StringAssert.Contains(page, """<dd data-field="enabled">yes</dd>""");
        StringAssert.Contains(page, "<dt>Next run</dt>");
        StringAssert.Contains(page, $"""<dd data-field="run-at">{Time(job.RunAt)}</dd>""");
        StringAssert.Contains(page, """<dd data-field="tries">0 / 3</dd>""");
        StringAssert.Matches(page, new Regex("""<dd data-field="timeout">\s*none\s*""" +
            """<span class="muted" title="default_timeout_seconds">\(default\)</span>"""));
        StringAssert.Contains(page, ">Disable</button>");
        // The edit form starts with the job as stored.
        StringAssert.Contains(page, """id="edit-schedule" name="schedule" value="30 2 * * *" """
            .TrimEnd());
        StringAssert.Contains(page, """id="edit-time-zone" name="time_zone" value="Europe/Berlin" """
            .TrimEnd());
    }

    [TestMethod]
    public async Task Detail_Poll_UpdatesHistoryOutOfBand()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new
        {
            name = "later",
            command = "echo later",
            run_at = "2099-01-01T00:00:00Z",
        });
        using var client = new DashboardClient(app.Address);

        var body = await client.GetStringAsync($"/jobs/{job.Id}?handler=Body");

        StringAssert.Contains(body, """<div id="job-detail" class="panel" data-status="queued" """
            .TrimEnd());
        StringAssert.Matches(body, new Regex("""<div id="job-history"[^>]*hx-swap-oob="true">"""));
        StringAssert.Contains(body, "<pre class=\"command-text\">echo later</pre>");
        // The poll never carries the edit form, so it cannot reset what the user typed.
        Assert.IsFalse(body.Contains("edit-job"), body);
    }

    [TestMethod]
    public async Task EnableDisable_RecurringJob_FollowPatch()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new
        {
            name = "yearly",
            command = "true",
            schedule = "0 0 1 1 *",
            run_at = "2099-06-01T00:00:00Z",
            enabled = false,
        });
        using var client = new DashboardClient(app.Address);

        var enabled = await PostActionAsync(client, job.Id, "Enable");
        var afterEnable = await app.GetJobAsync(job.Id);
        var disabled = await PostActionAsync(client, job.Id, "Disable");
        var afterDisable = await app.GetJobAsync(job.Id);

        Assert.IsTrue(afterEnable.Enabled);
        // Enabling moves the job to its next occurrence, as PATCH does, not to the old run_at.
        Assert.AreEqual(new DateTime(DateTime.UtcNow.Year + 1, 1, 1, 0, 0, 0, DateTimeKind.Utc),
            afterEnable.RunAt);
        StringAssert.Contains(enabled, $"Job {job.Id} is enabled; its next run is at " +
                                       $"{Time(afterEnable.RunAt)} UTC.");
        StringAssert.Contains(enabled, ">Disable</button>");
        Assert.IsFalse(afterDisable.Enabled);
        StringAssert.Contains(disabled,
            $"Job {job.Id} is disabled: it is not claimed until it is enabled again.");
        StringAssert.Contains(disabled, ">Enable</button>");
        StringAssert.Contains(disabled, """<dd data-field="enabled">no, never claimed</dd>""");
        StringAssert.Contains(disabled, """<dd data-field="run-at">none while disabled</dd>""");
    }

    [TestMethod]
    public async Task Disable_RunningJob_IsRefusedWithReason()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync("busy", "sleep 30");
        await app.WaitForStatusAsync(job.Id, JobStatus.Running);
        using var client = new DashboardClient(app.Address);

        var before = await client.GetStringAsync($"/jobs/{job.Id}");
        var refused = await PostActionAsync(client, job.Id, "Disable");
        var edited = await client.SubmitToAsync($"/jobs/{job.Id}?handler=Edit",
            EditFields(job, ("name", "renamed")));
        var stored = await app.GetJobAsync(job.Id);
        await app.Client.PostAsync($"/api/jobs/{job.Id}/cancel", null);
        await app.WaitForStatusAsync(job.Id, JobStatus.Cancelled);

        StringAssert.Contains(before, "title=\"Running jobs cannot be changed; wait for this " +
                                      "run to finish, or cancel it.\"");
        StringAssert.Contains(before, """<fieldset id="edit-job-fields" class="job-form" """ +
                                      """disabled="disabled">""");
        StringAssert.Contains(refused, $"Job {job.Id} is running, so nothing was changed: " +
                                       "disable it after this run finishes.");
        StringAssert.Contains(edited, $"Job {job.Id} is running, so nothing was changed: " +
                                      "edit it after this run finishes.");
        Assert.IsTrue(stored.Enabled);
        Assert.AreEqual("busy", stored.Name);
    }

    [TestMethod]
    [DataRow(false, DisplayName = "plain post, redirected")]
    [DataRow(true, DisplayName = "htmx post")]
    public async Task EditForm_ValidChanges_AreStored(bool htmx)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new
        {
            name = "one-off",
            command = "echo old",
            run_at = "2099-01-01T00:00:00Z",
            timeout_seconds = 30,
        });
        using var client = new DashboardClient(app.Address);
        var token = await client.ReadTokenAsync();
        var fields = EditFields(job, ("name", "  every-five  "), ("command", "echo a\r\necho b"),
            ("priority", "-4"), ("timeout_seconds", ""), ("max_attempts", "3"),
            ("retry_delay_seconds", "20"), ("schedule", "*/5 * * * *"),
            ("time_zone", "Europe/Berlin"));
        fields.Add(new(DashboardClient.TokenField, token));

        using var response = await client.PostFormAsync($"/jobs/{job.Id}?handler=Edit", fields,
            htmx);
        var body = await response.Content.ReadAsStringAsync();
        var stored = await app.GetJobAsync(job.Id);

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, body);
        Assert.AreEqual("every-five", stored.Name);
        Assert.AreEqual("echo a\necho b", stored.Command);
        Assert.AreEqual(-4, stored.Priority);
        Assert.IsNull(stored.TimeoutSeconds);
        Assert.AreEqual(3, stored.MaxAttempts);
        Assert.AreEqual(20, stored.RetryDelaySeconds);
        Assert.AreEqual("*/5 * * * *", stored.Schedule);
        Assert.AreEqual("Europe/Berlin", stored.TimeZone);
        // A new schedule moves run_at to its next occurrence, as PATCH does.
        Assert.IsTrue(stored.RunAt > DateTime.UtcNow && stored.RunAt <= DateTime.UtcNow.AddMinutes(5),
            $"run_at {stored.RunAt:O}");
        var message = $"Job {job.Id} was updated: name, command, priority, timeout_seconds, " +
                      "max_attempts, retry_delay_seconds, schedule, time_zone, run_at.";
        if (htmx)
        {
            // htmx loads the page, which shows the outcome once.
            Assert.AreEqual($"/jobs/{job.Id}",
                string.Join(",", response.Headers.GetValues("HX-Redirect")));
            StringAssert.Contains(await client.GetStringAsync($"/jobs/{job.Id}"), message);
        }
        else
        {
            StringAssert.Contains(body, message);
            StringAssert.Contains(body, "value=\"every-five\"");
        }
    }

    [TestMethod]
    public async Task EditForm_RunAtInUtc_IsStored()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new
        {
            name = "moved", command = "true", run_at = "2099-01-01T00:00:00Z",
        });
        using var client = new DashboardClient(app.Address);

        await client.SubmitToAsync($"/jobs/{job.Id}?handler=Edit",
            EditFields(job, ("run_at", "2098-05-06 07:08:09")));
        var plain = (await app.GetJobAsync(job.Id)).RunAt;
        await client.SubmitToAsync($"/jobs/{job.Id}?handler=Edit",
            EditFields(job, ("run_at", "2097-01-02T03:04:05+02:00")));
        var withZone = (await app.GetJobAsync(job.Id)).RunAt;

        Assert.AreEqual(new DateTime(2098, 5, 6, 7, 8, 9, DateTimeKind.Utc), plain);
        Assert.AreEqual(new DateTime(2097, 1, 2, 1, 4, 5, DateTimeKind.Utc), withZone);
    }

    [TestMethod]
    [DataRow(false, DisplayName = "plain post, redirected")]
    [DataRow(true, DisplayName = "htmx post")]
    public async Task EditForm_InvalidFields_ShowErrorsAndChangeNothing(bool htmx)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new
        {
            name = "steady", command = "true", run_at = "2099-01-01T00:00:00Z",
        });
        using var client = new DashboardClient(app.Address);

        var parsed = await client.SubmitToAsync($"/jobs/{job.Id}?handler=Edit",
            EditFields(job, ("name", "renamed"), ("schedule", "61 * * * *"),
                ("time_zone", "Europe/Berlin"), ("max_attempts", "0"), ("run_at", "soon")),
            htmx);
        var typed = await client.SubmitToAsync($"/jobs/{job.Id}?handler=Edit",
            EditFields(job, ("priority", "high"), ("max_attempts", "")), htmx);
        var stored = await app.GetJobAsync(job.Id);

        StringAssert.Contains(parsed, """<p id="edit-schedule-error" class="field-error">""" +
                                      "schedule &#x27;61 * * * *&#x27; is not a valid cron");
        StringAssert.Contains(parsed, "max_attempts must be a whole number from 1 to 100");
        StringAssert.Contains(parsed, """<p id="edit-run-at-error" class="field-error">""" +
                                      "run_at must be an ISO 8601 time with a zone");
        StringAssert.Contains(parsed, "value=\"renamed\"");
        StringAssert.Contains(parsed, "<details id=\"edit-job\" class=\"panel edit-job\" open=\"open\">");
        StringAssert.Contains(typed, "priority must be a whole number (lower runs first, " +
                                     "default 0), not &#x27;high&#x27;.");
        StringAssert.Contains(typed, "max_attempts must not be empty");
        Assert.AreEqual("steady", stored.Name);
        Assert.IsNull(stored.Schedule);
        Assert.AreEqual("UTC", stored.TimeZone);
        Assert.AreEqual(1, stored.MaxAttempts);
        Assert.AreEqual(new DateTime(2099, 1, 1, 0, 0, 0, DateTimeKind.Utc), stored.RunAt);
    }

    [TestMethod]
    public async Task EditForm_DuplicateName_ShowsConflict()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await app.CreateJobAsync(new { name = "taken", command = "true", enabled = false });
        var job = await app.CreateJobAsync(new { name = "mine", command = "true", enabled = false });
        using var client = new DashboardClient(app.Address);

        var page = await client.SubmitToAsync($"/jobs/{job.Id}?handler=Edit",
            EditFields(job, ("name", "taken"), ("priority", "9")));
        var stored = await app.GetJobAsync(job.Id);

        StringAssert.Contains(page, """<p id="edit-name-error" class="field-error">""" +
                                    "A job named &#x27;taken&#x27; already exists; choose " +
                                    "another name.</p>");
        Assert.AreEqual("mine", stored.Name);
        Assert.AreEqual(0, stored.Priority);
    }

    [TestMethod]
    public async Task EditForm_NothingChanged_SaysSo()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new { name = "same", command = "true", enabled = false });
        using var client = new DashboardClient(app.Address);

        var page = await client.SubmitToAsync($"/jobs/{job.Id}?handler=Edit", EditFields(job));

        StringAssert.Contains(page, "Nothing was changed: no field was edited, or each edited " +
                                    "field already has that value.");
        Assert.AreEqual(job.UpdatedAt, (await app.GetJobAsync(job.Id)).UpdatedAt);
    }

    [TestMethod]
    [DataRow("Edit")]
    [DataRow("Disable")]
    [DataRow("Enable")]
    public async Task JobForms_WithoutToken_Return400(string handler)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new
        {
            name = "guarded", command = "true", run_at = "2099-01-01T00:00:00Z",
        });
        using var client = new DashboardClient(app.Address);
        await client.ReadTokenAsync();
        var fields = EditFields(job, ("name", "forged"), ("enabled", "false"));

        using var plain = await client.PostFormAsync($"/jobs/{job.Id}?handler={handler}", fields);
        using var htmx = await client.PostFormAsync($"/jobs/{job.Id}?handler={handler}", fields,
            htmx: true);
        var stored = await app.GetJobAsync(job.Id);

        Assert.AreEqual(HttpStatusCode.BadRequest, plain.StatusCode);
        Assert.AreEqual(HttpStatusCode.BadRequest, htmx.StatusCode);
        Assert.AreEqual("guarded", stored.Name);
        Assert.IsTrue(stored.Enabled);
    }


    /// <summary>Returns the edit form's fields as the page fills them for
    /// <paramref name="job"/>, with the given fields replaced.</summary>
    [TestMethod]
    public async Task EditForm_FieldChangedElsewhere_Kept()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new
        {
            name = "shared", command = "true", run_at = "2099-01-01T00:00:00Z", priority = 1,
        });
        using var client = new DashboardClient(app.Address);
        var page = await client.GetStringAsync($"/jobs/{job.Id}");
        var original = OriginalInput().Match(page);
        Assert.IsTrue(original.Success, "The edit form has no hidden original input.");
        // Someone else changes the priority after the form was rendered.
        var patch = await app.Client.PatchAsJsonAsync($"/api/jobs/{job.Id}", new { priority = 7 });
        Assert.AreEqual(HttpStatusCode.OK, patch.StatusCode);
        var fields = EditFields(job, ("name", "renamed"));
        fields.Add(new("original", WebUtility.HtmlDecode(original.Groups["value"].Value)));

        var saved = await client.SubmitToAsync($"/jobs/{job.Id}?handler=Edit", fields);
        var stored = await app.GetJobAsync(job.Id);

        StringAssert.Contains(saved, $"Job {job.Id} was updated: name.");
        Assert.AreEqual("renamed", stored.Name);
        Assert.AreEqual(7, stored.Priority);
    }

    [GeneratedRegex("""<input type="hidden" name="original" value="(?<value>[^"]*)">""")]
    private static partial Regex OriginalInput();

    private static List<KeyValuePair<string, string>> EditFields(
        Job job, params (string Field, string Value)[] replaced)
    {
        var fields = new Dictionary<string, string>
        {
            ["name"] = job.Name,
            ["command"] = job.Command,
            ["priority"] = job.Priority.ToString(),
            ["run_at"] = "",
            ["timeout_seconds"] = job.TimeoutSeconds?.ToString() ?? "",
            ["max_attempts"] = job.MaxAttempts.ToString(),
            ["retry_delay_seconds"] = job.RetryDelaySeconds.ToString(),
            ["schedule"] = job.Schedule ?? "",
            ["time_zone"] = job.TimeZone,
            ["enabled"] = job.Enabled ? "true" : "false",
        };
        foreach (var (field, value) in replaced)
        {
            fields[field] = value;
        }

        // The hidden "false" comes first, and the ticked box adds "true".
        var list = fields.Where(field => field.Key != "enabled").ToList();
        list.Add(new("enabled", "false"));
        if (fields["enabled"] == "true")
        {
            list.Add(new("enabled", "true"));
        }

        return list;
    }

    private static async Task<string> PostActionAsync(DashboardClient client, long id,
        string handler)
    {
        return await client.SubmitToAsync($"/jobs/{id}?handler={handler}",
            new Dictionary<string, string>());
    }

    private static string Time(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm:ss");
}
