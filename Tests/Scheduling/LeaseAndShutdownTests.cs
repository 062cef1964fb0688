using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Scheduling;

[TestClass]
public sealed class LeaseAndShutdownTests
{
    private static readonly Dictionary<string, string> FastLease = new()
    {
        ["HEARTBEAT_INTERVAL"] = "0.2",
        ["LEASE_TIMEOUT"] = "1.5",
    };

    [TestMethod]
    public async Task Lease_InstanceKilled_JobFailedByLiveInstance()
    {
        var settings = await TestDatabase.CreateAsync(FastLease!);
        await using var doomed = await DaemonProcess.StartAsync(settings, FastLease);
        var job = await CreateAsync(doomed.Client, "victim", "sleep 8");
        await Eventually.WaitAsync(() => StatusAsync(settings.ConnectionString(), job),
            status => status == JobStatus.Running, "the job to run on the doomed daemon");

        doomed.Signal(DaemonProcess.SigKill);
        await doomed.WaitForExitAsync(TimeSpan.FromSeconds(10));
        await using var survivor = await TestApp.StartAsync(settings with { NodeName = "survivor" });

        var failed = await survivor.WaitForStatusAsync(job, JobStatus.Failed, TimeSpan.FromSeconds(15));
        StringAssert.Contains(failed.Error, "stopped sending heartbeats");
        StringAssert.Contains(failed.Error, "1.5 s lease timeout");
        Assert.AreEqual("failed", await Sql.ScalarAsync<string>(settings.ConnectionString(),
            "SELECT status FROM job_runs WHERE job_id = $1", job));
    }

    [TestMethod]
    public async Task Lease_JobLongerThanLease_NeverReleasedOrRunTwice()
    {
        var settings = await TestDatabase.CreateAsync(FastLease!);
        await using var first = await TestApp.StartAsync(settings);
        await using var second = await TestApp.StartAsync(settings with { NodeName = "second" });

        var job = await first.CreateJobAsync("slow", "sleep 4; echo finished");
        var done = await first.WaitForStatusAsync(job.Id, JobStatus.Completed, TimeSpan.FromSeconds(20));

        Assert.AreEqual(1, done.Attempt);
        Assert.AreEqual("finished\n", done.Output);
        Assert.AreEqual(1L, await Sql.ScalarAsync<long>(settings.ConnectionString(),
            "SELECT count(*) FROM job_runs WHERE job_id = $1", job.Id));
    }

    [TestMethod]
    [DataRow(DaemonProcess.SigTerm)]
    [DataRow(DaemonProcess.SigInt)]
    public async Task Shutdown_Signal_WaitsForRunningJobsAndExitsZero(int signal)
    {
        var settings = await TestDatabase.CreateAsync();
        await Sql.ExecuteAsync(settings.ConnectionString(), "SELECT 1");
        await using var daemon = await DaemonProcess.StartAsync(settings);
        await Sql.ExecuteAsync(settings.ConnectionString(),
            "UPDATE scheduler_config SET value = '3' WHERE key = 'max_concurrent_jobs'");
        var jobs = new List<long>();
        for (var i = 0; i < 4; i++)
        {
            jobs.Add(await CreateAsync(daemon.Client, $"job-{i}", "sleep 2; echo done"));
        }

        await Eventually.WaitAsync(() => ConcurrencyTests.RunningAsync(settings.ConnectionString()),
            running => running == 3, "three running jobs");

        daemon.Signal(signal);
        var exitCode = await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.AreEqual(0, exitCode, daemon.Output);
        Assert.AreEqual(0L, await ConcurrencyTests.RunningAsync(settings.ConnectionString()));
        Assert.AreEqual(3L, await Sql.ScalarAsync<long>(settings.ConnectionString(),
            "SELECT count(*) FROM jobs WHERE status = 'completed' AND output = E'done\\n'"));
        Assert.AreEqual(1L, await Sql.ScalarAsync<long>(settings.ConnectionString(),
            "SELECT count(*) FROM jobs WHERE status = 'queued'"), "the fourth job was not claimed");
        StringAssert.Contains(daemon.Output, "waiting for 3 running jobs");
    }

    [TestMethod]
    public async Task Shutdown_JobLongerThanHostTimeout_StillWaitedFor()
    {
        // ASP.NET stops waiting for hosted services after 30 s by default; the daemon must not.
        var settings = await TestDatabase.CreateAsync();
        await using var daemon = await DaemonProcess.StartAsync(settings);
        var job = await CreateAsync(daemon.Client, "long", "sleep 33; echo survived");
        await Eventually.WaitAsync(() => StatusAsync(settings.ConnectionString(), job),
            status => status == JobStatus.Running, "the long job to run");

        daemon.Signal(DaemonProcess.SigTerm);
        var exitCode = await daemon.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.AreEqual(0, exitCode, daemon.Output);
        Assert.AreEqual("completed", await StatusAsync(settings.ConnectionString(), job));
        Assert.AreEqual("survived\n", await Sql.ScalarAsync<string>(settings.ConnectionString(),
            "SELECT output FROM jobs WHERE id = $1", job));
    }

    [TestMethod]
    public async Task Environment_DaemonSecrets_HiddenFromJobs()
    {
        var settings = await TestDatabase.CreateAsync();
        await using var daemon = await DaemonProcess.StartAsync(settings,
            new Dictionary<string, string> { ["API_TOKEN"] = "secret-token-0123456789" });

        var job = await CreateAsync(daemon.Client, "env",
            "echo \"password=${DB_PASSWORD:-hidden} token=${API_TOKEN:-hidden} id=$JOBSCHEDULER_JOB_ID\"");
        await Eventually.WaitAsync(() => StatusAsync(settings.ConnectionString(), job),
            status => status == JobStatus.Completed, "the job to complete");

        Assert.AreEqual($"password=hidden token=hidden id={job}\n",
            await Sql.ScalarAsync<string>(settings.ConnectionString(),
                "SELECT output FROM jobs WHERE id = $1", job));
    }

    private static async Task<long> CreateAsync(HttpClient client, string name, string command)
    {
        var response = await client.PostAsync("/api/jobs", new StringContent(
            System.Text.Json.JsonSerializer.Serialize(new { name, command }),
            System.Text.Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(System.Net.HttpStatusCode.Created, response.StatusCode, body);
        using var json = System.Text.Json.JsonDocument.Parse(body);
        return json.RootElement.GetProperty("id").GetInt64();
    }

    private static Task<string> StatusAsync(string connectionString, long id) =>
        Sql.ScalarAsync<string>(connectionString, "SELECT status FROM jobs WHERE id = $1", id);
}
