using System.Diagnostics;
using JobScheduler.Data;
using JobScheduler.Tests.Scheduling;
using JobScheduler.Tests.Support;
using Npgsql;

namespace JobScheduler.Tests.Faults;

/// <summary>
/// Three daemons share one database while one of them is killed with SIGKILL again and again
/// and replaced at once. Jobs are short, so kills land while a daemon claims, runs or records.
/// </summary>
[TestClass]
public sealed class KillChaosTests
{
    private const int Limit = 4;
    private const int Daemons = 3;
    private const int Kills = 20;

    /// <summary>Queued jobs the feeder keeps ahead of the daemons, so no daemon idles.</summary>
    private const int QueueDepth = 8;

    private static readonly Dictionary<string, string> FastLease = new()
    {
        ["HEARTBEAT_INTERVAL"] = "0.2",
        ["LEASE_TIMEOUT"] = "1.5",
    };

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DoNotParallelize]
    public async Task SigKill_TwentyTimesUnderLoad_NoJobLostRerunOrOverLimit()
    {
        var seed = Environment.TickCount;
        TestContext.WriteLine($"Random seed {seed}");
        var random = new Random(seed);
        var settings = await TestDatabase.CreateAsync(FastLease!);
        var direct = settings.ConnectionString();
        var trace = Path.Combine(Path.GetTempPath(), $"jobscheduler-chaos-{Guid.NewGuid():N}");
        var daemons = new List<DaemonProcess>();
        var outputs = new List<string>();
        try
        {
            daemons.Add(await DaemonProcess.StartAsync(settings, FastLease));
            await Sql.ExecuteAsync(direct,
                $"UPDATE scheduler_config SET value = '{Limit}' WHERE key = 'max_concurrent_jobs'");
            while (daemons.Count < Daemons)
            {
                daemons.Add(await DaemonProcess.StartAsync(settings, FastLease));
            }

            await using var sampler = await RunningSampler.StartAsync(direct);
            using var stopFeeding = new CancellationTokenSource();
            var feeder = FeedAsync(direct, trace, stopFeeding.Token);
            var clock = Stopwatch.StartNew();
            for (var kill = 0; kill < Kills; kill++)
            {
                // A random moment, so the kill finds the victim claiming, running or recording.
                await Task.Delay(random.Next(50, 700));
                var victim = daemons[random.Next(daemons.Count)];
                victim.Signal(DaemonProcess.SigKill);
                await victim.WaitForExitAsync(TimeSpan.FromSeconds(10));
                outputs.Add(victim.Output);
                daemons.Remove(victim);
                await victim.DisposeAsync();
                daemons.Add(await DaemonProcess.StartAsync(settings, FastLease));
            }

            await stopFeeding.CancelAsync();
            var fed = await feeder;
            var chaos = clock.Elapsed;
            await DaemonJobs.WaitForNoneLeftAsync(direct, TimeSpan.FromSeconds(60));
            foreach (var daemon in daemons)
            {
                daemon.Signal(DaemonProcess.SigTerm);
            }

            foreach (var daemon in daemons)
            {
                Assert.AreEqual(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30)),
                    daemon.Output);
                outputs.Add(daemon.Output);
            }

            await sampler.StopAsync();
            TestContext.WriteLine($"{Kills} kills in {chaos.TotalSeconds:0.0} s, {fed} jobs " +
                                  $"({await DaemonJobs.CountAsync(direct, JobStatus.Failed)} " +
                                  $"failed by the lease), peak {sampler.Peak} running over " +
                                  $"{sampler.Samples} samples");

            Assert.AreEqual((long)fed, await Sql.ScalarAsync<long>(direct,
                "SELECT count(*) FROM jobs"), "jobs inserted by the feeder");
            Assert.IsLessThanOrEqualTo((long)Limit, sampler.Peak,
                "max running rows seen at once across the daemons");
            await AssertEveryJobRanOnceAsync(direct);
            AssertTraceWithinLimit(trace, await FailedAtAsync(direct));
            foreach (var output in outputs)
            {
                Assert.IsFalse(output.Contains("[ERR]"), "a daemon logged an error:\n" + output);
            }
        }
        finally
        {
            foreach (var daemon in daemons)
            {
                await daemon.DisposeAsync();
            }

            File.Delete(trace);
        }
    }

    /// <summary>Keeps <see cref="QueueDepth"/> traced jobs queued until stopped, and returns
    /// how many it inserted.</summary>
    private static async Task<int> FeedAsync(
        string connectionString, string trace, CancellationToken stop)
    {
        var inserted = 0;
        var command = ConcurrencyTests.TracedSleep(trace, 0.2);
        while (!stop.IsCancellationRequested)
        {
            var queued = await Sql.ScalarAsync<long>(connectionString,
                "SELECT count(*) FROM jobs WHERE status = 'queued'");
            var missing = QueueDepth - (int)queued;
            if (missing > 0)
            {
                await Sql.ExecuteAsync(connectionString, $"""
                    INSERT INTO jobs (name, command)
                    SELECT 'chaos-' || ($1 + i), {command} FROM generate_series(1, $2) i
                    """, inserted, missing);
                inserted += missing;
            }

            await Task.Delay(50, stop).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        return inserted;
    }

    /// <summary>Checks that every job ended, completed or failed by the lease, after exactly
    /// one claim: with max_attempts 1 a released job is failed and never run again.</summary>
    private static async Task AssertEveryJobRanOnceAsync(string connectionString)
    {
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(connectionString,
            "SELECT count(*) FROM jobs WHERE status NOT IN ('completed', 'failed')"),
            "jobs left queued, running or cancelled");
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(connectionString, """
            SELECT count(*) FROM jobs
            WHERE status = 'failed' AND error NOT LIKE '%stopped sending heartbeats%'
            """), "failed jobs that the lease did not fail");
        Assert.IsGreaterThan(0L, await DaemonJobs.CountAsync(connectionString, JobStatus.Failed),
            "some kills found jobs running, so the lease failed them");
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(connectionString,
            "SELECT count(*) FROM jobs WHERE attempt <> 1 OR tries <> 1"),
            "jobs claimed more than once");
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(connectionString, """
            SELECT count(*) FROM jobs j
            WHERE (SELECT count(*) FROM job_runs r WHERE r.job_id = j.id) <> 1
            """), "jobs without exactly one run row");
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(connectionString, """
            SELECT count(*) FROM jobs j JOIN job_runs r ON r.job_id = j.id
            WHERE r.attempt <> 1 OR r.status <> j.status
            """), "run rows whose attempt or status differs from their job");
    }

    /// <summary>Returns the time each failed job was released, in ticks, for clipping its
    /// trace.</summary>
    private static async Task<Dictionary<long, long>> FailedAtAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT id, finished_at FROM jobs WHERE status = 'failed'", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var failedAt = new Dictionary<long, long>();
        while (await reader.ReadAsync())
        {
            failedAt[reader.GetInt64(0)] = reader.GetDateTime(1).Ticks;
        }

        return failedAt;
    }

    /// <summary>
    /// Checks the trace of start and end lines: no job started twice, and no more than the limit
    /// ran at once. A job whose daemon was killed keeps running in its own session and may
    /// outlive its lease, as the README documents. The limit bounds running rows, not orphaned
    /// processes, so the run of a failed job counts only until the lease released it.
    /// </summary>
    private static void AssertTraceWithinLimit(string trace, Dictionary<long, long> failedAt)
    {
        var events = ConcurrencyTests.ReadTrace(trace);
        foreach (var job in events.GroupBy(e => e.JobId))
        {
            Assert.IsLessThanOrEqualTo(1, job.Count(e => e.Start), $"starts of job {job.Key}");
        }

        var clipped = new List<ConcurrencyTests.TraceEvent>();
        foreach (var job in events.GroupBy(e => e.JobId))
        {
            var start = job.SingleOrDefault(e => e.Start);
            if (start is null)
            {
                continue;
            }

            var end = job.FirstOrDefault(e => !e.Start)?.Ticks ?? long.MaxValue;
            if (failedAt.TryGetValue(job.Key, out var released))
            {
                end = Math.Min(end, released);
            }

            Assert.AreNotEqual(long.MaxValue, end, $"job {job.Key} completed without an end line");
            if (end > start.Ticks)
            {
                clipped.Add(start);
                clipped.Add(new ConcurrencyTests.TraceEvent(false, job.Key, end));
            }
        }

        Assert.IsLessThanOrEqualTo(Limit, ConcurrencyTests.MaxOverlap(clipped),
            "max jobs running at once according to the trace");
    }
}
