using System.Net;
using System.Text.Json;
using JobScheduler.Data;
using JobScheduler.Scheduling;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Api;

[TestClass]
public sealed class OperationsTests
{
    [TestMethod]
    public async Task Readyz_DatabaseUp_Ready()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Eventually.WaitAsync(() => app.Service<SchedulerService>().LastCycleAt is not null,
            "the first claim cycle");

        var healthz = await app.Client.GetAsync("/healthz");
        var readyz = await app.Client.GetAsync("/readyz");

        Assert.AreEqual(HttpStatusCode.OK, healthz.StatusCode);
        var body = await readyz.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.OK, readyz.StatusCode, body);
        StringAssert.Contains(body, "\"status\":\"ready\"");
    }

    [TestMethod]
    public async Task Readyz_DatabaseUnreachable_NotReadyButAlive()
    {
        var settings = (await TestDatabase.CreateAsync()) with { DbPort = 1 };
        await using var app = await TestApp.StartAsync(settings, waitForSchema: false);

        var healthz = await app.Client.GetAsync("/healthz");
        var readyz = await app.Client.GetAsync("/readyz");

        Assert.AreEqual(HttpStatusCode.OK, healthz.StatusCode);
        Assert.AreEqual(HttpStatusCode.ServiceUnavailable, readyz.StatusCode);
        var body = await readyz.Content.ReadAsStringAsync();
        StringAssert.Contains(body, "\"database\":\"unreachable");
        StringAssert.Contains(body, "\"migrations\":\"not applied yet\"");
    }

    [TestMethod]
    public async Task Metrics_AfterRuns_ExposesCountersAndHistograms()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var ok = await app.CreateJobAsync("ok", "true");
        var bad = await app.CreateJobAsync("bad", "exit 2");
        await app.WaitForStatusAsync(ok.Id, JobStatus.Completed);
        await app.WaitForStatusAsync(bad.Id, JobStatus.Failed);

        var text = await Eventually.WaitAsync(() => app.Client.GetStringAsync("/metrics"),
            body => body.Contains("jobscheduler_runs_finished_total{outcome=\"failed\"} 1"),
            "the failed run to be counted");

        StringAssert.Contains(text, "jobscheduler_runs_started_total 2");
        StringAssert.Contains(text, "jobscheduler_runs_finished_total{outcome=\"completed\"} 1");
        StringAssert.Contains(text, "jobscheduler_jobs{status=\"completed\"} 1");
        StringAssert.Contains(text, "jobscheduler_jobs{status=\"failed\"} 1");
        StringAssert.Contains(text, "jobscheduler_max_concurrent_jobs 2");
        StringAssert.Contains(text, "jobscheduler_run_duration_seconds_count 2");
        StringAssert.Contains(text, "jobscheduler_pickup_latency_seconds_count 2");
        StringAssert.Contains(text, "jobscheduler_claim_cycle_duration_seconds_bucket");
        StringAssert.Contains(text, "jobscheduler_database_errors_total 0");
    }

    [TestMethod]
    public async Task OpenApi_Document_DescribesEveryEndpoint()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var json = await app.Client.GetStringAsync("/openapi/v1.json");

        using var document = JsonDocument.Parse(json);
        var paths = document.RootElement.GetProperty("paths");
        string[][] expected =
        [
            ["/api/jobs", "get", "200"], ["/api/jobs", "post", "201"], ["/api/jobs", "post", "409"],
            ["/api/jobs/create", "post", "415"], ["/api/jobs/{id}", "get", "404"],
            ["/api/jobs/{id}", "patch", "409"], ["/api/jobs/{id}", "delete", "204"],
            ["/api/jobs/{id}/runs", "get", "200"], ["/api/jobs/{id}/cancel", "post", "202"],
            ["/api/jobs/{id}/requeue", "post", "409"], ["/api/config", "get", "200"],
            ["/api/config", "put", "400"], ["/api/stats", "get", "200"],
            ["/healthz", "get", "200"], ["/readyz", "get", "503"],
        ];
        foreach (var (path, method, status) in expected.Select(e => (e[0], e[1], e[2])))
        {
            Assert.IsTrue(paths.TryGetProperty(path, out var item), $"path {path}");
            Assert.IsTrue(item.TryGetProperty(method, out var operation), $"{method} {path}");
            Assert.IsTrue(operation.GetProperty("responses").TryGetProperty(status, out _),
                $"{method} {path} response {status}");
        }

        var createBody = paths.GetProperty("/api/jobs").GetProperty("post").GetProperty("requestBody");
        StringAssert.Contains(createBody.GetRawText(), "application/json");
        StringAssert.Contains(json, "retry_delay_seconds");
    }

    [TestMethod]
    public async Task Retention_OldHistory_PrunedKeepingLatestRun()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var connection = app.Settings.ConnectionString();
        await Sql.ExecuteAsync(connection, """
            UPDATE scheduler_config SET value = '7' WHERE key = 'run_retention_days';
            UPDATE scheduler_config SET value = '30' WHERE key = 'job_retention_days';
            INSERT INTO jobs (name, command, status, finished_at, schedule, run_at, attempt) VALUES
                ('old-one-off', 'true', 'completed', now() - interval '40 days', NULL, now(), 3),
                ('new-one-off', 'true', 'completed', now() - interval '1 day', NULL, now(), 1),
                ('recurring', 'true', 'queued', now() - interval '40 days', '0 3 * * *',
                 now() + interval '1 day', 3);
            INSERT INTO job_runs (job_id, attempt, node, status, started_at, finished_at)
            SELECT j.id, a, 'n', 'completed', now() - interval '50 days', now() - interval '50 days'
            FROM jobs j, generate_series(1, 3) a
            WHERE j.name IN ('old-one-off', 'recurring');
            INSERT INTO job_runs (job_id, attempt, node, status, started_at, finished_at)
            SELECT id, 1, 'n', 'completed', now() - interval '1 day', now() - interval '1 day'
            FROM jobs WHERE name = 'new-one-off';
            """);
        await Eventually.WaitAsync(() => app.Service<LiveConfig>().JobRetentionDays == 30,
            "the retention settings to be read");

        var (runs, jobs) = await app.Service<RetentionService>().PruneAsync(CancellationToken.None);

        Assert.AreEqual(1L, jobs, "the old one-off job");
        Assert.AreEqual(4L, runs, "the two older runs of each job with old runs");
        Assert.AreEqual(1L, await Sql.ScalarAsync<long>(connection,
            "SELECT count(*) FROM job_runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'recurring'"));
        Assert.AreEqual(3, await Sql.ScalarAsync<int>(connection,
            "SELECT r.attempt FROM job_runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'recurring'"));
        Assert.AreEqual(2L, await Sql.ScalarAsync<long>(connection, "SELECT count(*) FROM jobs"));
    }
}
