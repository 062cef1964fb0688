using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Faults;

/// <summary>
/// Heartbeats that run while the same daemon claims new jobs. A job claimed after a heartbeat's
/// query read the table is missing from that heartbeat's rows but did not lose its lease, so the
/// daemon must not warn that its result will be dropped.
/// </summary>
[TestClass]
public sealed class HeartbeatRaceTests
{
    private const int JobCount = 600;

    [TestMethod]
    [DoNotParallelize]
    public async Task Heartbeat_DuringClaims_NoFalseLeaseLostWarning()
    {
        // Heartbeats every 50 ms, the shortest interval allowed, make the overlap with claims
        // frequent. The lease is long, so no job can really lose it.
        var fastHeartbeat = new Dictionary<string, string>
        {
            ["HEARTBEAT_INTERVAL"] = "0.05",
            ["LEASE_TIMEOUT"] = "30",
        };
        var settings = await TestDatabase.CreateAsync(fastHeartbeat!);
        var direct = settings.ConnectionString();
        await using var daemon = await DaemonProcess.StartAsync(settings, fastHeartbeat);
        await Sql.ExecuteAsync(direct,
            "UPDATE scheduler_config SET value = '16' WHERE key = 'max_concurrent_jobs'");

        await Sql.ExecuteAsync(direct, $"""
            INSERT INTO jobs (name, command)
            SELECT 'job-' || i, 'sleep 0.05' FROM generate_series(1, {JobCount}) i
            """);
        await DaemonJobs.WaitForNoneLeftAsync(direct, TimeSpan.FromSeconds(90));

        Assert.AreEqual((long)JobCount, await DaemonJobs.CountAsync(direct, JobStatus.Completed),
            "every job kept its lease and completed");
        var falseWarnings = daemon.Output.Split('\n')
            .Where(line => line.Contains("no longer lists it as running"))
            .ToList();
        Assert.IsEmpty(falseWarnings,
            "jobs that completed were reported as having lost their lease:\n" +
            string.Join("\n", falseWarnings));
    }
}
