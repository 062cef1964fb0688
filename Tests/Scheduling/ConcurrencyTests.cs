using System.Globalization;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Scheduling;

[TestClass]
public sealed class ConcurrencyTests
{
    [TestMethod]
    public async Task GlobalLimit_ThreeInstances_NeverRunMoreThanLimit()
    {
        var settings = await TestDatabase.CreateAsync();
        var trace = Path.Combine(Path.GetTempPath(), $"jobscheduler-trace-{Guid.NewGuid():N}");
        await using var first = await TestApp.StartAsync(settings);
        await using var second = await TestApp.StartAsync(settings with { NodeName = "second" });
        await using var third = await TestApp.StartAsync(settings with { NodeName = "third" });
        await Sql.ExecuteAsync(settings.ConnectionString(),
            "UPDATE scheduler_config SET value = '3' WHERE key = 'max_concurrent_jobs'");

        await Sql.ExecuteAsync(settings.ConnectionString(), $"""
            INSERT INTO jobs (name, command)
            SELECT 'job-' || i, {TracedSleep(trace, 0.3)} FROM generate_series(1, 24) i
            """);
        await WaitForAllFinishedAsync(settings.ConnectionString(), 24);

        var events = ReadTrace(trace);
        Assert.AreEqual(3, MaxOverlap(events), "peak concurrency across the three instances");
        foreach (var group in events.GroupBy(e => e.JobId))
        {
            Assert.AreEqual(1, group.Count(e => e.Start), $"starts of job {group.Key}");
        }

        Assert.AreEqual(24, events.Select(e => e.JobId).Distinct().Count());
    }

    [TestMethod]
    public async Task LiveLimit_RaisedBySql_TakesEffectWithoutRestart()
    {
        var settings = await TestDatabase.CreateAsync();
        var trace = Path.Combine(Path.GetTempPath(), $"jobscheduler-trace-{Guid.NewGuid():N}");
        await using var app = await TestApp.StartAsync(settings);
        await Sql.ExecuteAsync(settings.ConnectionString(),
            "UPDATE scheduler_config SET value = '1' WHERE key = 'max_concurrent_jobs'");
        await Sql.ExecuteAsync(settings.ConnectionString(), $"""
            INSERT INTO jobs (name, command)
            SELECT 'job-' || i, {TracedSleep(trace, 1.5)} FROM generate_series(1, 8) i
            """);
        await Eventually.WaitAsync(() => RunningAsync(settings.ConnectionString()), n => n == 1,
            "one running job");

        await Sql.ExecuteAsync(settings.ConnectionString(),
            "UPDATE scheduler_config SET value = '4' WHERE key = 'max_concurrent_jobs'");

        await Eventually.WaitAsync(() => RunningAsync(settings.ConnectionString()), n => n == 4,
            "four running jobs after the raise", TimeSpan.FromSeconds(15));
    }

    [TestMethod]
    public async Task LiveLimit_LoweredByApi_KillsNothingAndWaitsForSlots()
    {
        var settings = await TestDatabase.CreateAsync();
        var trace = Path.Combine(Path.GetTempPath(), $"jobscheduler-trace-{Guid.NewGuid():N}");
        await using var app = await TestApp.StartAsync(settings);
        await Sql.ExecuteAsync(settings.ConnectionString(),
            "UPDATE scheduler_config SET value = '3' WHERE key = 'max_concurrent_jobs'");
        await Sql.ExecuteAsync(settings.ConnectionString(), $"""
            INSERT INTO jobs (name, command)
            SELECT 'job-' || i, {TracedSleep(trace, 1.0)} FROM generate_series(1, 6) i
            """);
        await Eventually.WaitAsync(() => RunningAsync(settings.ConnectionString()), n => n == 3,
            "three running jobs");

        var response = await app.Client.PutAsync("/api/config", new StringContent(
            """{"max_concurrent_jobs": 1}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.AreEqual(System.Net.HttpStatusCode.OK, response.StatusCode);
        await WaitForAllFinishedAsync(settings.ConnectionString(), 6);

        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(settings.ConnectionString(),
            "SELECT count(*) FROM jobs WHERE status <> 'completed'"), "every job completed");
        var events = ReadTrace(trace);
        var firstIds = events.Where(e => e.Start).OrderBy(e => e.Ticks).Take(3)
            .Select(e => e.JobId).ToHashSet();
        var laterEvents = events.Where(e => !firstIds.Contains(e.JobId)).ToList();
        var firstEnd = events.Where(e => !e.Start && firstIds.Contains(e.JobId)).Max(e => e.Ticks);
        Assert.HasCount(6, laterEvents, "starts and ends of the three later jobs");
        Assert.IsTrue(laterEvents.Where(e => e.Start).All(e => e.Ticks >= firstEnd),
            "no later job started while the first three still ran");
        Assert.AreEqual(1, MaxOverlap(laterEvents), "the later jobs ran one at a time");
    }

    [TestMethod]
    public async Task Insert_PlainSql_StartsWithoutWaitingForPoll()
    {
        var settings = await TestDatabase.CreateAsync(new() { ["CHECK_INTERVAL"] = "600" });
        await using var app = await TestApp.StartAsync(settings);
        // The listener connects just after the schema is ready; a job added before that is
        // found by the first claim, so this waits for a claim cycle that has run.
        await Eventually.WaitAsync(
            () => app.Service<JobScheduler.Scheduling.SchedulerService>().LastCycleAt is not null,
            "the first claim cycle");
        await Task.Delay(500);

        await Sql.ExecuteAsync(settings.ConnectionString(),
            "INSERT INTO jobs (name, command) VALUES ('by-sql', 'echo from sql')");

        var job = await Eventually.WaitAsync(
            () => Sql.ScalarAsync<string>(settings.ConnectionString(),
                "SELECT status FROM jobs WHERE name = 'by-sql'"),
            status => status == JobStatus.Completed, "the SQL job to complete",
            TimeSpan.FromSeconds(10));
        Assert.AreEqual(JobStatus.Completed, job);
    }

    /// <summary>Builds a SQL string literal for a shell command that records its start and end
    /// times, in ticks, to a trace file.</summary>
    public static string TracedSleep(string trace, double seconds)
    {
        var command =
            $"echo \"S $JOBSCHEDULER_JOB_ID $(date +%s%N)\" >> {trace}; " +
            $"sleep {seconds.ToString(CultureInfo.InvariantCulture)}; " +
            $"echo \"E $JOBSCHEDULER_JOB_ID $(date +%s%N)\" >> {trace}";
        return "'" + command.Replace("'", "''") + "'";
    }

    public sealed record TraceEvent(bool Start, long JobId, long Ticks);

    public static List<TraceEvent> ReadTrace(string path) =>
        File.ReadAllLines(path)
            .Select(line => line.Split(' '))
            .Select(parts => new TraceEvent(parts[0] == "S", long.Parse(parts[1]),
                DateTime.UnixEpoch.Ticks + long.Parse(parts[2]) / 100))
            .ToList();

    /// <summary>Most jobs running at one moment; an end at the same tick as a start counts
    /// first.</summary>
    public static int MaxOverlap(IReadOnlyList<TraceEvent> events)
    {
        var running = 0;
        var peak = 0;
        foreach (var e in events.OrderBy(e => e.Ticks).ThenBy(e => e.Start))
        {
            running += e.Start ? 1 : -1;
            peak = Math.Max(peak, running);
        }

        return peak;
    }

    public static Task<long> RunningAsync(string connectionString) =>
        Sql.ScalarAsync<long>(connectionString, "SELECT count(*) FROM jobs WHERE status = 'running'");

    public static Task WaitForAllFinishedAsync(string connectionString, long count) =>
        Eventually.WaitAsync(
            () => Sql.ScalarAsync<long>(connectionString,
                "SELECT count(*) FROM jobs WHERE status IN ('completed', 'failed')"),
            finished => finished == count, $"{count} finished jobs", TimeSpan.FromSeconds(60));
}
