using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using JobScheduler.Data;
using JobScheduler.Tests.Scheduling;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Faults;

/// <summary>
/// The database cut off and restored under a live daemon, through a <see cref="TcpProxy"/>
/// between the daemon and PostgreSQL. The tests read and write the database directly, past the
/// proxy, to see what the daemon could not.
/// </summary>
[TestClass]
public sealed class DatabaseOutageTests
{
    private const string UnreachableLine = "is unreachable";
    private const string ReachableAgainLine = "is reachable again";
    private const string ListenerFailedLine = "Listening for wake-ups failed";
    private const string ListenerBackLine = "Listening for wake-ups again";

    [TestMethod]
    public async Task Outage_JobsRunning_ApiReturns503AndResultsRecordedOnce()
    {
        var settings = await TestDatabase.CreateAsync();
        var direct = settings.ConnectionString();
        await using var proxy = TcpProxy.Start(settings.DbHost, settings.DbPort);
        await using var app = await TestApp.StartAsync(settings with { DbPort = proxy.Port });
        await Sql.ExecuteAsync(direct,
            "UPDATE scheduler_config SET value = '4' WHERE key = 'max_concurrent_jobs'");
        var dashboardBefore = await app.Client.GetAsync("/");
        var jobs = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            jobs.Add((await app.CreateJobAsync($"outage-{i}", "sleep 3; echo done")).Id);
        }

        await Eventually.WaitAsync(() => ConcurrencyTests.RunningAsync(direct), n => n == 3,
            "three running jobs before the cut");

        proxy.Cut();
        var probes = await ProbeAsync(app.Client, TimeSpan.FromSeconds(10),
            ["/api/stats", "/api/jobs", "/"]);
        var runningAtEndOfCut = await ConcurrencyTests.RunningAsync(direct);
        proxy.Restore();

        Assert.AreEqual(3L, runningAtEndOfCut,
            "the jobs finished during the cut, so their rows stay running until the restore");
        foreach (var probe in probes.Where(probe => probe.Path.StartsWith("/api/")))
        {
            Assert.AreEqual(HttpStatusCode.ServiceUnavailable, probe.Status,
                $"GET {probe.Path} during the cut: {probe.Body}");
            Assert.AreEqual("application/problem+json", probe.ContentType,
                $"GET {probe.Path} during the cut");
            Assert.IsTrue(probe.HasRetryAfter, $"GET {probe.Path} during the cut has Retry-After");
            using var problem = JsonDocument.Parse(probe.Body);
            Assert.AreEqual(503, problem.RootElement.GetProperty("status").GetInt32());
            StringAssert.Contains(problem.RootElement.GetProperty("detail").GetString(),
                "The database is unreachable");
        }

        var dashboardProbes = probes.Where(probe => probe.Path == "/").ToList();
        Assert.IsNotEmpty(dashboardProbes, "the dashboard was probed during the cut");
        if (dashboardBefore.StatusCode != HttpStatusCode.NotFound)
        {
            foreach (var probe in dashboardProbes)
            {
                Assert.AreNotEqual(HttpStatusCode.InternalServerError, probe.Status,
                    $"GET / during the cut: {probe.Body}");
            }
        }

        await Eventually.WaitAsync(() => DaemonJobs.CountAsync(direct, JobStatus.Completed),
            completed => completed == 3, "the three results recorded after the restore",
            TimeSpan.FromSeconds(60));
        foreach (var id in jobs)
        {
            await AssertCompletedOnceAsync(direct, id);
        }

        var stats = await Eventually.WaitAsync(() => app.Client.GetAsync("/api/stats"),
            response => response.StatusCode == HttpStatusCode.OK, "GET /api/stats to answer 200",
            TimeSpan.FromSeconds(30));
        Assert.AreEqual(HttpStatusCode.OK, stats.StatusCode);
        var after = await app.CreateJobAsync("after-restore", "echo done");
        var done = await app.WaitForStatusAsync(after.Id, JobStatus.Completed,
            TimeSpan.FromSeconds(60));
        Assert.AreEqual("done\n", done.Output);
        if (dashboardBefore.StatusCode == HttpStatusCode.NotFound)
        {
            Assert.Inconclusive(
                "GET / returned 404 because the dashboard is not built yet, so the check that it " +
                "answers no 500 during the cut was skipped; every other check passed.");
        }
    }

    [TestMethod]
    public async Task Outage_TwiceInARow_LoggedOnceAtStartAndOnceAtEnd()
    {
        var settings = await TestDatabase.CreateAsync();
        var direct = settings.ConnectionString();
        await using var proxy = TcpProxy.Start(settings.DbHost, settings.DbPort);
        await using var daemon = await DaemonProcess.StartAsync(
            settings with { DbPort = proxy.Port },
            new Dictionary<string, string> { ["HEARTBEAT_INTERVAL"] = "0.5" });

        for (var outage = 1; outage <= 2; outage++)
        {
            var job = await DaemonJobs.CreateAsync(daemon.Client, $"outage-{outage}",
                "sleep 1; echo done");
            await Eventually.WaitAsync(() => StatusAsync(direct, job),
                status => status == JobStatus.Running, $"job {job} to run before cut {outage}");

            proxy.Cut();
            var probes = await ProbeAsync(daemon.Client, TimeSpan.FromSeconds(4), ["/api/stats"]);
            proxy.Restore();

            Assert.IsFalse(daemon.HasExited, $"the daemon exited during cut {outage}:\n" +
                                             daemon.Output);
            Assert.IsTrue(probes.All(probe => probe.Status == HttpStatusCode.ServiceUnavailable),
                $"every GET /api/stats during cut {outage} answered 503: " +
                string.Join(", ", probes.Select(probe => (int)probe.Status)));
            await Eventually.WaitAsync(() => StatusAsync(direct, job),
                status => status == JobStatus.Completed, $"job {job} recorded after cut {outage}",
                TimeSpan.FromSeconds(30));
            var expected = outage;
            await Eventually.WaitAsync(
                () => CountLines(daemon.Output, ListenerBackLine) == expected,
                $"the wake-up listener to connect again after cut {outage}",
                TimeSpan.FromSeconds(30));
        }

        // Requests and a job after the second restore would use any connection that the cut
        // broke but the pool still holds, and so log a third outage.
        for (var i = 0; i < 5; i++)
        {
            var stats = await daemon.Client.GetAsync("/api/stats");
            Assert.AreEqual(HttpStatusCode.OK, stats.StatusCode, $"GET /api/stats {i} after");
        }

        var last = await DaemonJobs.CreateAsync(daemon.Client, "after", "echo done");
        await Eventually.WaitAsync(() => StatusAsync(direct, last),
            status => status == JobStatus.Completed, "the job created after both cuts");

        var output = daemon.Output;
        Assert.AreEqual(2, CountLines(output, UnreachableLine),
            $"one '{UnreachableLine}' warning per cut:\n{output}");
        Assert.AreEqual(2, CountLines(output, ReachableAgainLine),
            $"one '{ReachableAgainLine}' line per restore:\n{output}");
        // The listener warns only when it notices the broken connection before any other
        // component has reported the outage, so at most once per cut.
        Assert.IsLessThanOrEqualTo(2, CountLines(output, ListenerFailedLine),
            $"'{ListenerFailedLine}' at most once per cut:\n{output}");
        Assert.AreEqual(2, CountLines(output, ListenerBackLine),
            $"one '{ListenerBackLine}' line per restore:\n{output}");
        Assert.AreEqual(0, CountLines(output, "[ERR]"),
            $"an outage is a warning, never an error:\n{output}");
    }

    [TestMethod]
    public async Task Outage_SigTermDuringBackoff_StopsAtOnce()
    {
        var settings = await TestDatabase.CreateAsync();
        await using var proxy = TcpProxy.Start(settings.DbHost, settings.DbPort);
        await using var daemon = await DaemonProcess.StartAsync(
            settings with { DbPort = proxy.Port },
            new Dictionary<string, string> { ["CHECK_INTERVAL"] = "1" });

        proxy.Cut();
        await Eventually.WaitAsync(() => Task.FromResult(CountLines(daemon.Output, UnreachableLine)),
            count => count == 1, "the outage warning");
        // Failed cycles wait 0.5, 1, 2, 4 and 8 s, so after 17 s the loop is in a 16 s wait.
        await Task.Delay(TimeSpan.FromSeconds(17));
        var clock = Stopwatch.StartNew();
        daemon.Signal(DaemonProcess.SigTerm);
        var exitCode = await daemon.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.AreEqual(0, exitCode, daemon.Output);
        Assert.IsLessThan(TimeSpan.FromSeconds(8), clock.Elapsed,
            $"SIGTERM with no job running took {clock.Elapsed} to stop the daemon:\n{daemon.Output}");
    }

    public sealed record Probe(
        string Path, HttpStatusCode Status, string? ContentType, bool HasRetryAfter, string Body);

    /// <summary>Sends a GET to each path about once a second for the given time and returns
    /// every response.</summary>
    private static async Task<List<Probe>> ProbeAsync(
        HttpClient client, TimeSpan length, IReadOnlyList<string> paths)
    {
        var probes = new List<Probe>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < length)
        {
            foreach (var path in paths)
            {
                using var response = await client.GetAsync(path);
                probes.Add(new Probe(path, response.StatusCode,
                    response.Content.Headers.ContentType?.MediaType,
                    response.Headers.RetryAfter is not null,
                    await response.Content.ReadAsStringAsync()));
            }

            // Paces the probes over the outage. Nothing waits on this for correctness.
            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        return probes;
    }

    private static async Task AssertCompletedOnceAsync(string connectionString, long id)
    {
        Assert.AreEqual(JobStatus.Completed, await StatusAsync(connectionString, id),
            $"status of job {id}");
        Assert.AreEqual("done\n", await Sql.ScalarAsync<string>(connectionString,
            "SELECT output FROM jobs WHERE id = $1", id), $"output of job {id}");
        Assert.AreEqual(1, await Sql.ScalarAsync<int>(connectionString,
            "SELECT attempt FROM jobs WHERE id = $1", id), $"attempt of job {id}");
        Assert.AreEqual(1L, await Sql.ScalarAsync<long>(connectionString,
            "SELECT count(*) FROM job_runs WHERE job_id = $1", id), $"runs of job {id}");
        Assert.AreEqual(1L, await Sql.ScalarAsync<long>(connectionString,
            "SELECT count(*) FROM job_runs WHERE job_id = $1 AND status = 'completed' " +
            "AND output = E'done\\n'", id), $"completed run of job {id}");
    }

    private static Task<string> StatusAsync(string connectionString, long id) =>
        Sql.ScalarAsync<string>(connectionString, "SELECT status FROM jobs WHERE id = $1", id);

    private static int CountLines(string output, string text) =>
        Regex.Matches(output, "^.*" + Regex.Escape(text) + ".*$", RegexOptions.Multiline).Count;
}
