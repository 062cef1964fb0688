using System.Net;
using System.Net.Http.Json;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Scheduling;

[TestClass]
public sealed class JobControlTests
{
    [TestMethod]
    public async Task Timeout_ShellWithBackgroundChild_KillsWholeTree()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var pidFile = Path.Combine(Path.GetTempPath(), $"jobscheduler-pid-{Guid.NewGuid():N}");

        var job = await app.CreateJobAsync(new
        {
            name = "stuck",
            command = $"sleep 999 & echo $! > {pidFile}; echo waiting; sleep 999",
            timeout_seconds = 1,
        });
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Failed, TimeSpan.FromSeconds(20));

        StringAssert.Contains(done.Error, "timed out after 1 s");
        Assert.AreEqual("waiting\n", done.Output);
        var orphan = int.Parse(File.ReadAllText(pidFile).Trim());
        await Eventually.WaitAsync(() => !IsAlive(orphan), $"background sleep {orphan} to die");
    }

    [TestMethod]
    public async Task Timeout_DefaultFromConfig_AppliesUnlessJobSetsZero()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(),
            "UPDATE scheduler_config SET value = '1' WHERE key = 'default_timeout_seconds'");

        var limited = await app.CreateJobAsync(new { name = "limited", command = "sleep 30" });
        var unlimited = await app.CreateJobAsync(new { name = "unlimited", command = "sleep 2", timeout_seconds = 0 });

        var timedOut = await app.WaitForStatusAsync(limited.Id, JobStatus.Failed, TimeSpan.FromSeconds(20));
        StringAssert.Contains(timedOut.Error, "timed out after 1 s");
        await app.WaitForStatusAsync(unlimited.Id, JobStatus.Completed, TimeSpan.FromSeconds(20));
    }

    [TestMethod]
    public async Task Cancel_QueuedJob_NeverStarts()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(),
            "UPDATE scheduler_config SET value = '1' WHERE key = 'max_concurrent_jobs'");
        var blocker = await app.CreateJobAsync("blocker", "sleep 2");
        await app.WaitForStatusAsync(blocker.Id, JobStatus.Running);
        var waiting = await app.CreateJobAsync("waiting", "echo should-not-run");

        var response = await app.Client.PostAsync($"/api/jobs/{waiting.Id}/cancel", null);

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        await app.WaitForStatusAsync(blocker.Id, JobStatus.Completed);
        var cancelled = await app.GetJobAsync(waiting.Id);
        Assert.AreEqual(JobStatus.Cancelled, cancelled.Status);
        Assert.AreEqual(0, cancelled.Attempt);
        Assert.IsNull(cancelled.LastRun);
    }

    [TestMethod]
    public async Task Cancel_RunningOnOtherInstance_KillsItAndRecordsCancelled()
    {
        var settings = await TestDatabase.CreateAsync();
        await using var runner = await TestApp.StartAsync(settings);
        var job = await runner.CreateJobAsync("long", "echo started; sleep 60");
        await runner.WaitForStatusAsync(job.Id, JobStatus.Running);
        await using var other = await TestApp.StartAsync(settings with { NodeName = "other" });

        var response = await other.Client.PostAsync($"/api/jobs/{job.Id}/cancel", null);

        Assert.AreEqual(HttpStatusCode.Accepted, response.StatusCode);
        var cancelled = await runner.WaitForStatusAsync(job.Id, JobStatus.Cancelled, TimeSpan.FromSeconds(15));
        StringAssert.Contains(cancelled.Error, "Cancelled by request");
        Assert.AreEqual("started\n", cancelled.Output);
        Assert.AreEqual("cancelled", await Sql.ScalarAsync<string>(settings.ConnectionString(),
            "SELECT status FROM job_runs WHERE job_id = $1", job.Id));
    }

    [TestMethod]
    public async Task Cancel_FinishedOrMissing_Returns409Or404()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync("quick", "true");
        await app.WaitForStatusAsync(job.Id, JobStatus.Completed);

        var finished = await app.Client.PostAsync($"/api/jobs/{job.Id}/cancel", null);
        var missing = await app.Client.PostAsync("/api/jobs/999999/cancel", null);

        Assert.AreEqual(HttpStatusCode.Conflict, finished.StatusCode);
        StringAssert.Contains(await finished.Content.ReadAsStringAsync(), "is completed");
        Assert.AreEqual(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [TestMethod]
    public async Task Requeue_FinishedJob_RunsAgainWithNewAttempt()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync("again", "echo run-$JOBSCHEDULER_ATTEMPT");
        await app.WaitForStatusAsync(job.Id, JobStatus.Completed);

        var response = await app.Client.PostAsync($"/api/jobs/{job.Id}/requeue", null);

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        var rerun = await Eventually.WaitAsync(() => app.GetJobAsync(job.Id),
            current => current.Status == JobStatus.Completed && current.Attempt == 2, "the second run");
        Assert.AreEqual("run-2\n", rerun.Output);
        Assert.AreEqual(2L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM job_runs WHERE job_id = $1 AND status = 'completed'", job.Id));
    }

    [TestMethod]
    public async Task Requeue_RunningOrQueued_Returns409()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(),
            "UPDATE scheduler_config SET value = '1' WHERE key = 'max_concurrent_jobs'");
        var running = await app.CreateJobAsync("running", "sleep 3");
        await app.WaitForStatusAsync(running.Id, JobStatus.Running);
        var queued = await app.CreateJobAsync("queued", "true");

        var whileRunning = await app.Client.PostAsync($"/api/jobs/{running.Id}/requeue", null);
        var whileQueued = await app.Client.PostAsync($"/api/jobs/{queued.Id}/requeue", null);

        Assert.AreEqual(HttpStatusCode.Conflict, whileRunning.StatusCode);
        StringAssert.Contains(await whileRunning.Content.ReadAsStringAsync(), "is running");
        Assert.AreEqual(HttpStatusCode.Conflict, whileQueued.StatusCode);
        StringAssert.Contains(await whileQueued.Content.ReadAsStringAsync(), "already queued");
    }

    [TestMethod]
    public async Task Delete_FinishedRunningMissing_Returns204Or409Or404()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var finished = await app.CreateJobAsync("finished", "true");
        await app.WaitForStatusAsync(finished.Id, JobStatus.Completed);
        var running = await app.CreateJobAsync("running", "sleep 3");
        await app.WaitForStatusAsync(running.Id, JobStatus.Running);

        var deleted = await app.Client.DeleteAsync($"/api/jobs/{finished.Id}");
        var refused = await app.Client.DeleteAsync($"/api/jobs/{running.Id}");
        var missing = await app.Client.DeleteAsync($"/api/jobs/{finished.Id}");

        Assert.AreEqual(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.AreEqual(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.AreEqual(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM job_runs WHERE job_id = $1", finished.Id));
        Assert.AreEqual(JobStatus.Running, (await app.GetJobAsync(running.Id)).Status);
    }

    [TestMethod]
    public async Task Retry_FailsTwiceThenSucceeds_KeepsEachAttempt()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var counter = Path.Combine(Path.GetTempPath(), $"jobscheduler-count-{Guid.NewGuid():N}");

        var job = await app.CreateJobAsync(new
        {
            name = "flaky",
            command = $"echo x >> {counter}; test $(wc -l < {counter}) -ge 3",
            max_attempts = 5,
            retry_delay_seconds = 1,
        });
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Completed, TimeSpan.FromSeconds(30));

        Assert.AreEqual(3, done.Attempt);
        Assert.AreEqual(3, done.Tries);
        var runs = await app.Client.GetFromJsonAsync<List<JobRun>>($"/api/jobs/{job.Id}/runs", TestApp.Json);
        Assert.IsNotNull(runs);
        CollectionAssert.AreEqual(new[] { "failed", "failed", "completed" },
            runs.Select(run => run.Status).ToArray());
        var firstGap = runs[1].StartedAt - runs[0].FinishedAt!.Value;
        var secondGap = runs[2].StartedAt - runs[1].FinishedAt!.Value;
        Assert.IsGreaterThanOrEqualTo(0.7, firstGap.TotalSeconds, "first backoff is about 1 s");
        Assert.IsGreaterThanOrEqualTo(1.45, secondGap.TotalSeconds, "second backoff is about 2 s");
    }

    [TestMethod]
    public async Task Retry_AllAttemptsFail_EndsFailed()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var job = await app.CreateJobAsync(new
        {
            name = "broken", command = "exit 4", max_attempts = 3, retry_delay_seconds = 0,
        });
        var done = await Eventually.WaitAsync(() => app.GetJobAsync(job.Id),
            current => current.Status == JobStatus.Failed && current.Tries == 3, "three failed attempts");

        Assert.AreEqual(4, done.ExitCode);
        Assert.AreEqual(3L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM job_runs WHERE job_id = $1 AND status = 'failed'", job.Id));
    }

    [TestMethod]
    public async Task RunAt_Future_ClaimedWhenDueNotBefore()
    {
        var settings = await TestDatabase.CreateAsync(new() { ["CHECK_INTERVAL"] = "600" });
        await using var app = await TestApp.StartAsync(settings);
        var due = DateTime.UtcNow.AddSeconds(2);

        var job = await app.CreateJobAsync(new { name = "later", command = "true", run_at = due.ToString("O") });
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Completed, TimeSpan.FromSeconds(15));

        Assert.IsGreaterThanOrEqualTo(due, done.LastRun!.Value, "not started before run_at");
        Assert.IsLessThan(1.5, (done.LastRun.Value - due).TotalSeconds, "started soon after run_at");
    }


    private static bool IsAlive(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat))
        {
            return false;
        }

        try
        {
            // The third field is the state; a zombie (Z) is dead but not yet reaped.
            var fields = File.ReadAllText(stat).Split(") ")[1];
            return fields[0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
