using System.Diagnostics;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Faults;

/// <summary>
/// Thousands of short jobs whose commands leave background processes behind must not leave the
/// daemon with zombie children or open descriptors.
/// </summary>
[TestClass]
public sealed class ZombieTests
{
    private const int JobCount = 2000;

    /// <summary>Descriptors other than sockets that the daemon may hold above its idle level
    /// after the jobs, for assemblies and runtime handles that it opens only when busy.
    /// </summary>
    private const int DescriptorMargin = 8;

    /// <summary>Sockets the daemon may hold above its idle level: its connection pool grows to
    /// at most 30 connections (MaxPoolSize in Settings.ConnectionString) under load, and Npgsql
    /// closes an idle one only after 300 s by default.</summary>
    private const int PoolGrowth = 30;

    /// <summary>
    /// A 256 MiB first-generation budget (the value is hexadecimal) for the daemon's garbage
    /// collector, so that collections are rare during the test. A descriptor that the daemon
    /// leaves to a finalizer then stays open, and a leak shows as hundreds of descriptors
    /// rather than the few left when a collection happens to run near the end.
    /// </summary>
    private static readonly Dictionary<string, string> RareCollections = new()
    {
        ["DOTNET_GCgen0size"] = "10000000",
    };

    [TestMethod]
    [DoNotParallelize]
    public async Task ShortJobs_WithBackgroundChildren_LeaveNoZombiesOrDescriptors()
    {
        if (!ProcFs.IsSupported)
        {
            Assert.Inconclusive("This test reads /proc, which only Linux has.");
        }

        var settings = await TestDatabase.CreateAsync();
        var direct = settings.ConnectionString();
        await using var daemon = await DaemonProcess.StartAsync(settings, RareCollections);
        await Sql.ExecuteAsync(direct,
            "UPDATE scheduler_config SET value = '32' WHERE key = 'max_concurrent_jobs'");
        // One job first loads the assemblies that running a process needs, so they are part of
        // the idle level.
        await InsertJobsAsync(direct, "warm-up", 1);
        await DaemonJobs.WaitForNoneLeftAsync(direct, TimeSpan.FromSeconds(30));
        var idle = await SettledDescriptorsAsync(daemon.Id);

        var clock = Stopwatch.StartNew();
        await InsertJobsAsync(direct, "job", JobCount);
        await DaemonJobs.WaitForNoneLeftAsync(direct, TimeSpan.FromSeconds(90));
        var elapsed = clock.Elapsed;

        Assert.AreEqual(JobCount + 1L, await DaemonJobs.CountAsync(direct, JobStatus.Completed),
            $"every job completed ({elapsed.TotalSeconds:0.0} s)");
        var zombies = await Eventually.WaitAsync(
            () => Task.FromResult(ProcFs.Children(daemon.Id).Where(child => child.State == 'Z')
                .ToList()),
            found => found.Count == 0, "no zombie child of the daemon", TimeSpan.FromSeconds(10));
        Assert.IsEmpty(zombies);
        var after = await Eventually.WaitAsync(
            () => Task.FromResult(new Descriptors(ProcFs.OpenDescriptors(daemon.Id))),
            open => open.Other <= idle.Other + DescriptorMargin,
            $"the daemon's descriptors other than sockets back near the {idle.Other} it held " +
            $"idle ({idle})", TimeSpan.FromSeconds(15));
        Assert.IsLessThanOrEqualTo(idle.Other + DescriptorMargin, after.Other, after.ToString());
        Assert.IsLessThanOrEqualTo(idle.Sockets + PoolGrowth, after.Sockets, after.ToString());
        Assert.IsFalse(daemon.HasExited, daemon.Output);
    }

    /// <summary>A process's open descriptors, split into sockets and the rest.</summary>
    private sealed record Descriptors(IReadOnlyList<string> Targets)
    {
        public int Sockets => Targets.Count(target => target.Contains("socket:["));

        public int Other => Targets.Count - Sockets;

        public override string ToString() =>
            $"{Targets.Count} open: {ProcFs.DescribeDescriptors(Targets)}";
    }

    /// <summary>Inserts jobs whose shell starts a background child and exits at once, half of
    /// them through a nested shell and half through a subshell that sleeps.</summary>
    private static Task InsertJobsAsync(string connectionString, string prefix, int count) =>
        Sql.ExecuteAsync(connectionString, """
            INSERT INTO jobs (name, command)
            SELECT $1 || '-' || i,
                   CASE WHEN i % 2 = 0 THEN 'sh -c ''true'' & true' ELSE '(sleep 0.01 &)' END
            FROM generate_series(1, $2) i
            """, prefix, count);

    /// <summary>Returns the daemon's descriptors once two reads half a second apart agree, so
    /// connections and pipes still closing after the warm-up do not count.</summary>
    private static async Task<Descriptors> SettledDescriptorsAsync(int pid)
    {
        var previous = new Descriptors(ProcFs.OpenDescriptors(pid));
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(500);
            var current = new Descriptors(ProcFs.OpenDescriptors(pid));
            if (current.Targets.Count == previous.Targets.Count)
            {
                return current;
            }

            previous = current;
        }

        return previous;
    }
}
