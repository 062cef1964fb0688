using System.Net;
using System.Net.Http.Json;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Scheduling;

[TestClass]
public sealed class RecurringJobTests
{
    [TestMethod]
    public async Task Schedule_EverySecondOnTwoInstances_EachOccurrenceRunsOnce()
    {
        var settings = await TestDatabase.CreateAsync(new() { ["CHECK_INTERVAL"] = "600" });
        await using var first = await TestApp.StartAsync(settings);
        await using var second = await TestApp.StartAsync(settings with { NodeName = "second" });

        var job = await first.CreateJobAsync(new { name = "tick", command = "echo tick", schedule = "* * * * * *" });
        await Eventually.WaitAsync(() => RunCountAsync(settings, job.Id), count => count >= 5,
            "five runs of the every-second job", TimeSpan.FromSeconds(20));

        var occurrences = await Sql.ScalarAsync<long>(settings.ConnectionString(), """
            SELECT count(DISTINCT date_trunc('second', started_at)) FROM job_runs WHERE job_id = $1
            """, job.Id);
        var runs = await RunCountAsync(settings, job.Id);
        Assert.AreEqual(runs, occurrences, "no second ran twice");
        var current = await first.GetJobAsync(job.Id);
        Assert.AreEqual("* * * * * *", current.Schedule);
        Assert.AreEqual("tick\n", current.Output);
    }

    [TestMethod]
    public async Task Schedule_InsertedBySql_ParkedThenScheduled()
    {
        var settings = await TestDatabase.CreateAsync(new() { ["HEARTBEAT_INTERVAL"] = "0.2", ["LEASE_TIMEOUT"] = "2" });
        await using var app = await TestApp.StartAsync(settings);

        await Sql.ExecuteAsync(settings.ConnectionString(), """
            INSERT INTO jobs (name, command, schedule, time_zone)
            VALUES ('nightly', 'echo night', '30 2 * * *', 'Europe/Berlin'),
                   ('often', 'echo often', '*/2 * * * * *', 'UTC')
            """);

        var nightly = await Eventually.WaitAsync(
            () => Sql.ScalarAsync<DateTime>(settings.ConnectionString(),
                "SELECT run_at FROM jobs WHERE name = 'nightly'"),
            runAt => runAt != DateTime.MaxValue, "the nightly job's first occurrence");
        var berlin = TimeZoneInfo.ConvertTimeFromUtc(nightly, TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin"));
        Assert.AreEqual(new TimeSpan(2, 30, 0), berlin.TimeOfDay);
        Assert.IsGreaterThan(DateTime.UtcNow, nightly);
        await Eventually.WaitAsync(
            () => Sql.ScalarAsync<long>(settings.ConnectionString(),
                "SELECT count(*) FROM job_runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'often'"),
            count => count >= 2, "two runs of the SQL recurring job");
    }

    [TestMethod]
    public async Task Schedule_InvalidBySql_FailsAndDisablesJob()
    {
        var settings = await TestDatabase.CreateAsync(new() { ["HEARTBEAT_INTERVAL"] = "0.2", ["LEASE_TIMEOUT"] = "2" });
        await using var app = await TestApp.StartAsync(settings);

        await Sql.ExecuteAsync(settings.ConnectionString(),
            "INSERT INTO jobs (name, command, schedule) VALUES ('broken', 'true', 'every day')");

        var error = await Eventually.WaitAsync(
            () => Sql.ScalarAsync<string>(settings.ConnectionString(),
                "SELECT coalesce(error, '') FROM jobs WHERE name = 'broken'"),
            text => text.Length > 0, "the invalid schedule to be reported");
        StringAssert.Contains(error, "not a valid cron expression");
        Assert.IsFalse(await Sql.ScalarAsync<bool>(settings.ConnectionString(),
            "SELECT enabled FROM jobs WHERE name = 'broken'"));
        var job = await app.CreateJobAsync("still-works", "echo ok");
        await app.WaitForStatusAsync(job.Id, JobStatus.Completed);
    }

    [TestMethod]
    [DataRow("""{"name":"a","command":"true","schedule":"61 * * * *"}""", "not a valid cron expression")]
    [DataRow("""{"name":"a","command":"true","schedule":"0 2 * * *","time_zone":"Nowhere/Land"}""", "not a known IANA time zone")]
    [DataRow("""{"name":"a","command":"true","schedule":""}""", "schedule must not be empty")]
    [DataRow("""{"name":"a","command":"true","schedule":"0 0 30 2 *"}""", "never fires")]
    [DataRow("""{"name":"a","command":"true","enabled":"yes"}""", "enabled must be true or false")]
    public async Task Create_InvalidSchedule_Returns400(string body, string expected)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var response = await app.Client.PostAsync("/api/jobs",
            new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode);
        StringAssert.Contains(await response.Content.ReadAsStringAsync(), expected);
    }

    [TestMethod]
    public async Task Create_Recurring_FirstRunAtNextOccurrence()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var job = await app.CreateJobAsync(new
        {
            name = "nightly", command = "true", schedule = "30 2 * * *", time_zone = "Asia/Tokyo",
        });

        var tokyo = TimeZoneInfo.ConvertTimeFromUtc(job.RunAt, TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo"));
        Assert.AreEqual(new TimeSpan(2, 30, 0), tokyo.TimeOfDay);
        Assert.IsLessThanOrEqualTo(1.0, (job.RunAt - DateTime.UtcNow).TotalDays);
        Assert.AreEqual(JobStatus.Queued, job.Status);
    }

    [TestMethod]
    public async Task Paused_StopsClaimingButRunningJobsFinish()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var running = await app.CreateJobAsync("running", "sleep 1; echo done");
        await app.WaitForStatusAsync(running.Id, JobStatus.Running);

        var pause = await app.Client.PutAsJsonAsync("/api/config", new { paused = true });
        var waiting = await app.CreateJobAsync("waiting", "echo later");
        await app.WaitForStatusAsync(running.Id, JobStatus.Completed);
        await Task.Delay(500);
        var stillQueued = await app.GetJobAsync(waiting.Id);
        var resume = await app.Client.PutAsJsonAsync("/api/config", new { paused = false });

        Assert.AreEqual(HttpStatusCode.OK, pause.StatusCode);
        StringAssert.Contains(await pause.Content.ReadAsStringAsync(), "\"paused\":true");
        Assert.AreEqual(JobStatus.Queued, stillQueued.Status);
        Assert.AreEqual(HttpStatusCode.OK, resume.StatusCode);
        await app.WaitForStatusAsync(waiting.Id, JobStatus.Completed);
    }

    [TestMethod]
    public async Task Enabled_False_NotClaimedUntilEnabled()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new { name = "off", command = "echo on", enabled = false });
        await Task.Delay(500);
        Assert.AreEqual(JobStatus.Queued, (await app.GetJobAsync(job.Id)).Status);

        var response = await app.Client.PatchAsJsonAsync($"/api/jobs/{job.Id}", new { enabled = true });

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Completed);
        Assert.AreEqual("on\n", done.Output);
    }

    [TestMethod]
    public async Task Patch_ValidChanges_Applied()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync(new
        {
            name = "before", command = "true", run_at = DateTime.UtcNow.AddHours(1).ToString("O"),
        });

        var response = await app.Client.PatchAsJsonAsync($"/api/jobs/{job.Id}", new
        {
            name = "after", command = "echo changed", priority = -3, timeout_seconds = 60,
            schedule = "0 4 * * *", time_zone = "Europe/Paris",
        });

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, await response.Content.ReadAsStringAsync());
        var changed = await app.GetJobAsync(job.Id);
        Assert.AreEqual("after", changed.Name);
        Assert.AreEqual("echo changed", changed.Command);
        Assert.AreEqual(-3, changed.Priority);
        Assert.AreEqual(60, changed.TimeoutSeconds);
        Assert.AreEqual("0 4 * * *", changed.Schedule);
        var paris = TimeZoneInfo.ConvertTimeFromUtc(changed.RunAt, TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris"));
        Assert.AreEqual(new TimeSpan(4, 0, 0), paris.TimeOfDay);
    }

    [TestMethod]
    public async Task Patch_RunningMissingInvalidDuplicate_Rejected()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var running = await app.CreateJobAsync("running", "sleep 3");
        var other = await app.CreateJobAsync(new { name = "other", command = "true", enabled = false });
        await app.WaitForStatusAsync(running.Id, JobStatus.Running);

        var whileRunning = await app.Client.PatchAsJsonAsync($"/api/jobs/{running.Id}", new { priority = 1 });
        var missing = await app.Client.PatchAsJsonAsync("/api/jobs/999999", new { priority = 1 });
        var invalid = await app.Client.PatchAsJsonAsync($"/api/jobs/{other.Id}", new { max_attempts = 0 });
        var duplicate = await app.Client.PatchAsJsonAsync($"/api/jobs/{other.Id}", new { name = "running" });
        var empty = await app.Client.PatchAsJsonAsync($"/api/jobs/{other.Id}", new { });

        Assert.AreEqual(HttpStatusCode.Conflict, whileRunning.StatusCode);
        Assert.AreEqual(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.AreEqual(HttpStatusCode.BadRequest, invalid.StatusCode);
        StringAssert.Contains(await invalid.Content.ReadAsStringAsync(), "max_attempts must be");
        Assert.AreEqual(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.AreEqual(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.AreEqual("other", (await app.GetJobAsync(other.Id)).Name);
    }

    private static Task<long> RunCountAsync(JobScheduler.Hosting.Settings settings, long jobId) =>
        Sql.ScalarAsync<long>(settings.ConnectionString(),
            "SELECT count(*) FROM job_runs WHERE job_id = $1 AND status = 'completed'", jobId);

}
