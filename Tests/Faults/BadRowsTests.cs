using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Faults;

/// <summary>
/// Rows that a user changes by hand behind the daemons' back: a job set to running that no
/// instance runs, and scheduler_config values that are invalid or deleted. None of them may stop
/// the claim loop.
/// </summary>
[TestClass]
public sealed class BadRowsTests
{
    private static readonly Dictionary<string, string> FastLease = new()
    {
        ["HEARTBEAT_INTERVAL"] = "0.2",
        ["LEASE_TIMEOUT"] = "1.5",
    };

    [TestMethod]
    public async Task RunningByHand_NoNodeNoHeartbeat_FailedByLease()
    {
        var settings = await TestDatabase.CreateAsync(FastLease!);
        var direct = settings.ConnectionString();
        await using var app = await TestApp.StartAsync(settings);

        // tries = 1 marks its one attempt as used, so the lease fails it rather than queue a
        // retry.
        var id = await Sql.ScalarAsync<long>(direct, """
            INSERT INTO jobs (name, command, status, tries)
            VALUES ('by-hand', 'echo never', 'running', 1)
            RETURNING id
            """);

        var failed = await app.WaitForStatusAsync(id, JobStatus.Failed, TimeSpan.FromSeconds(15));
        StringAssert.Contains(failed.Error,
            "Scheduler instance (unknown) stopped sending heartbeats");
        StringAssert.Contains(failed.Error, "1.5 s lease timeout");
        Assert.IsNull(failed.ExitCode);
        Assert.AreEqual(string.Empty, failed.Output, "the command never ran");
        await AssertNormalJobCompletesAsync(app.Client);
    }

    [TestMethod]
    public async Task RunningByHand_OnBusyLiveNode_FailedByLease()
    {
        // A row that names a live instance which does not run it, as after a claim whose
        // commit succeeded but whose reply was lost with the connection. Only the instance's
        // own jobs may have their heartbeat refreshed, so the lease must fail this one even
        // while the instance is busy with another job.
        var settings = await TestDatabase.CreateAsync(FastLease!);
        var direct = settings.ConnectionString();
        await using var app = await TestApp.StartAsync(settings);
        var busy = await app.CreateJobAsync("busy", "sleep 30");
        await app.WaitForStatusAsync(busy.Id, JobStatus.Running);

        var id = await Sql.ScalarAsync<long>(direct, """
            INSERT INTO jobs (name, command, status, tries, node)
            VALUES ('by-hand', 'echo never', 'running', 1, $1)
            RETURNING id
            """, settings.NodeName);

        try
        {
            var failed = await app.WaitForStatusAsync(id, JobStatus.Failed,
                TimeSpan.FromSeconds(10));
            StringAssert.Contains(failed.Error, $"Scheduler instance {settings.NodeName} stopped");
            Assert.AreEqual(JobStatus.Running, (await app.GetJobAsync(busy.Id)).Status,
                "the busy job still runs");
        }
        finally
        {
            var cancel = await app.Client.PostAsync($"/api/jobs/{busy.Id}/cancel", null);
            Assert.AreEqual(HttpStatusCode.Accepted, cancel.StatusCode);
            await app.WaitForStatusAsync(busy.Id, JobStatus.Cancelled);
        }

        await AssertNormalJobCompletesAsync(app.Client);
    }

    [TestMethod]
    public async Task Config_SetToMinusOne_LastGoodLimitKeptAndReportedOnce()
    {
        var settings = await TestDatabase.CreateAsync();
        var direct = settings.ConnectionString();
        await using var daemon = await DaemonProcess.StartAsync(settings);
        var put = await daemon.Client.PutAsync("/api/config", JsonContent.Create(
            new Dictionary<string, int> { [LiveConfig.MaxConcurrentJobsKey] = 3 }));
        Assert.AreEqual(HttpStatusCode.OK, put.StatusCode, await put.Content.ReadAsStringAsync());
        await Eventually.WaitAsync(
            () => daemon.Output.Contains("max_concurrent_jobs changed from 2 to 3"),
            "the daemon to apply the limit 3");

        await Sql.ExecuteAsync(direct, "UPDATE scheduler_config SET value = '-1'");
        await using var sampler = await RunningSampler.StartAsync(direct);
        await Sql.ExecuteAsync(direct, """
            INSERT INTO jobs (name, command)
            SELECT 'job-' || i, 'sleep 0.5' FROM generate_series(1, 9) i
            """);
        await DaemonJobs.WaitForNoneLeftAsync(direct, TimeSpan.FromSeconds(60));
        await sampler.StopAsync();

        Assert.AreEqual(9L, await DaemonJobs.CountAsync(direct, JobStatus.Completed));
        Assert.AreEqual(3L, sampler.Peak, "max jobs running at once under the kept limit 3");
        using var config = await GetConfigAsync(daemon.Client);
        Assert.AreEqual(3, config.RootElement.GetProperty("max_concurrent_jobs").GetInt32());
        var problems = config.RootElement.GetProperty("problems").EnumerateArray()
            .Select(problem => problem.GetString()!).ToList();
        // Every stored value became '-1', so every setting that rejects it is listed. The checks
        // name only the two settings that every version of the schema has.
        Assert.IsTrue(problems.All(problem => problem.Contains("'-1'")),
            string.Join("\n", problems));
        Assert.AreEqual(1, problems.Count(problem => problem.StartsWith("max_concurrent_jobs =")),
            string.Join("\n", problems));
        Assert.AreEqual(1,
            problems.Count(problem => problem.StartsWith("default_timeout_seconds =")),
            string.Join("\n", problems));
        var output = daemon.Output;
        Assert.AreEqual(1, CountLines(output, "max_concurrent_jobs = '-1' in scheduler_config"),
            $"one warning for the invalid limit across every claim cycle:\n{output}");
        Assert.AreEqual(1, CountLines(output, "default_timeout_seconds = '-1' in scheduler_config"),
            $"one warning for the invalid default timeout:\n{output}");
        await AssertNormalJobCompletesAsync(daemon.Client);
    }

    [TestMethod]
    public async Task Config_LimitRowDeleted_ReportedOnceAndLoopGoesOn()
    {
        var settings = await TestDatabase.CreateAsync();
        var direct = settings.ConnectionString();
        await using var daemon = await DaemonProcess.StartAsync(settings);

        await Sql.ExecuteAsync(direct,
            "DELETE FROM scheduler_config WHERE key = 'max_concurrent_jobs'");
        await Sql.ExecuteAsync(direct, """
            INSERT INTO jobs (name, command)
            SELECT 'job-' || i, 'echo ran' FROM generate_series(1, 6) i
            """);
        await DaemonJobs.WaitForNoneLeftAsync(direct, TimeSpan.FromSeconds(30));

        Assert.AreEqual(6L, await DaemonJobs.CountAsync(direct, JobStatus.Completed));
        using var config = await GetConfigAsync(daemon.Client);
        Assert.AreEqual(LiveConfig.MaxConcurrentJobsDefault,
            config.RootElement.GetProperty("max_concurrent_jobs").GetInt32());
        var problems = config.RootElement.GetProperty("problems").EnumerateArray()
            .Select(problem => problem.GetString()!).ToList();
        Assert.AreEqual(1,
            problems.Count(problem => problem.StartsWith("max_concurrent_jobs is missing")),
            string.Join("\n", problems));
        var output = daemon.Output;
        Assert.AreEqual(1,
            CountLines(output, "max_concurrent_jobs is missing from scheduler_config"),
            $"one warning for the deleted row across every claim cycle:\n{output}");
        Assert.AreEqual(0, CountLines(output, "[ERR]"), $"no error logged:\n{output}");
        await AssertNormalJobCompletesAsync(daemon.Client);
    }

    private static async Task AssertNormalJobCompletesAsync(HttpClient client)
    {
        var id = await DaemonJobs.CreateAsync(client, "normal", "echo fine");
        var job = await Eventually.WaitAsync(
            () => client.GetFromJsonAsync<Job>($"/api/jobs/{id}", TestApp.Json),
            job => job!.Status is JobStatus.Completed or JobStatus.Failed,
            "the normal job created afterwards to finish");
        Assert.AreEqual(JobStatus.Completed, job!.Status, job.Error);
        Assert.AreEqual("fine\n", job.Output);
    }

    private static async Task<JsonDocument> GetConfigAsync(HttpClient client)
    {
        var response = await client.GetAsync("/api/config");
        var body = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, body);
        return JsonDocument.Parse(body);
    }

    private static int CountLines(string output, string text) =>
        Regex.Matches(output, "^.*" + Regex.Escape(text) + ".*$", RegexOptions.Multiline).Count;
}
