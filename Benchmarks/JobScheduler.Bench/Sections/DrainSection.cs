namespace JobScheduler.Bench.Sections;

/// <summary>
/// Section "drain": N queued <c>exit 0</c> jobs at several limits, beside the raw rate at which
/// this harness spawns the same shell with the same number in flight, and the CPU time each side
/// spends per job.
/// </summary>
public static class DrainSection
{
    private const string Database = "bench_drain";

    /// <summary>Jobs of the untimed drain that warms the daemon up.</summary>
    private const int WarmUpJobs = 1000;

    public static async Task RunAsync(BenchContext bench)
    {
        var jobs = bench.Options.Jobs;
        await bench.Cluster.RecreateDatabaseAsync(Database);
        await using var daemon = await Daemon.StartAsync(bench, "drain", Database);
        await using var database = new JobsDatabase(bench.Cluster.ClientSource(Database));

        // An untimed drain first, so the tiered JIT has compiled the daemon's job path before
        // the first measured run, as the harness's spawn code is compiled by its earlier runs.
        var first = bench.Options.Concurrency[0];
        Report.Progress($"drain {first}: warm-up, the daemon runs {WarmUpJobs} queued jobs");
        await DrainAsync(daemon, database, first, WarmUpJobs, "warm-up-");

        var rates = new List<string[]>();
        var cpu = new List<string[]>();
        foreach (var concurrency in bench.Options.Concurrency)
        {
            Report.Progress($"drain {concurrency}: raw spawn of /bin/sh, {jobs} times");
            var plain = await SpawnAsync(jobs, concurrency, setsid: false);
            Report.Progress($"drain {concurrency}: raw spawn through setsid, {jobs} times");
            var setsidBefore = await SpawnAsync(jobs, concurrency, setsid: true);

            Report.Progress($"drain {concurrency}: the daemon runs {jobs} queued jobs");
            var daemonBefore = daemon.ReadCpu();
            var postgresBefore = CpuMeter.ReadCluster(bench.Cluster.PostmasterId);
            var runs = await DrainAsync(daemon, database, concurrency, jobs, $"drain-{concurrency}-");
            var daemonAfter = daemon.ReadCpu();
            var postgres = CpuMeter.ReadCluster(bench.Cluster.PostmasterId) - postgresBefore;

            Report.Progress($"drain {concurrency}: raw spawn through setsid again, {jobs} times");
            var setsidAfter = await SpawnAsync(jobs, concurrency, setsid: true);
            var setsidRate = (setsidBefore.Rate + setsidAfter.Rate) / 2;
            var ratio = runs.JobsPerSecond / setsidRate;
            rates.Add(
            [
                concurrency.ToString(), Format.Number(plain.Rate, "0"),
                $"{Format.Number(setsidBefore.Rate, "0")} / {Format.Number(setsidAfter.Rate, "0")}",
                Format.Number(runs.JobsPerSecond, "0"), Format.Number(ratio, "0.00"),
                Format.Number(runs.JobsPerSecond / plain.Rate, "0.00"), runs.PeakRunning.ToString(),
                $"{runs.Completed} of {jobs}",
            ]);

            var daemonOwn = PerJob(daemonAfter.Own - daemonBefore.Own, runs.Runs);
            var shells = PerJob(daemonAfter.Children - daemonBefore.Children, runs.Runs);
            var cluster = PerJob(postgres, runs.Runs);
            var rawOwn = (PerJob(setsidBefore.Own, jobs) + PerJob(setsidAfter.Own, jobs)) / 2;
            var rawShells = (PerJob(setsidBefore.Children, jobs) + PerJob(setsidAfter.Children, jobs)) / 2;
            cpu.Add(
            [
                concurrency.ToString(), Format.Ms(rawOwn), Format.Ms(rawShells), Format.Ms(daemonOwn),
                Format.Ms(shells), Format.Ms(cluster),
                Format.Number((rawOwn + rawShells) / (daemonOwn + shells + cluster), "0.00"),
            ]);
            bench.Report.AtLeast($"drain / raw setsid spawn at {concurrency}", ratio, 0.8);
        }

        WriteReport(bench.Report, jobs, rates, cpu);
    }

    /// <summary>Empties the queue, sets the limit, adds the jobs in one statement, and waits
    /// until every one has finished and its result is recorded.</summary>
    public static async Task<RunSpan> DrainAsync(
        Daemon daemon, JobsDatabase database, int concurrency, int jobs, string prefix,
        TimeSpan? limit = null)
    {
        await database.TruncateAsync();
        await daemon.SetLimitAsync(concurrency);
        await database.InsertQueuedAsync(prefix, jobs, "exit 0");
        var deadline = limit ?? TimeSpan.FromSeconds(Math.Max(60, jobs / 25.0));
        if (!await database.WaitForDrainAsync(deadline))
        {
            Report.Progress($"drain {concurrency}: not finished within " +
                            $"{deadline.TotalSeconds:0} s; reporting what ran");
        }

        return await database.ReadRunsAsync();
    }

    private static void WriteReport(Report report, int jobs, List<string[]> rates, List<string[]> cpu)
    {
        report.Heading($"2. Drain throughput of {jobs} queued `exit 0` jobs");
        report.Table(["max_concurrent_jobs", "raw `sh -c` jobs/s",
            "raw `setsid sh -c` jobs/s, before / after", "daemon jobs/s", "daemon / raw setsid",
            "daemon / raw sh", "peak running", "completed"], rates);
        report.Line("Daemon: jobs inserted by one INSERT … generate_series, rate = runs / (last " +
                    "`job_runs.finished_at` − first `started_at`). Raw: the harness spawns the " +
                    "same command N times with the same number in flight, through .NET Process " +
                    "with stdin closed and stdout/stderr read to their end, timed from the first " +
                    "start to the last exit, while the daemon sits idle. It does so through " +
                    "setsid once before and once after the daemon's run. The daemon spawns " +
                    "through setsid, so the ratio and the target use the mean of those two. Peak " +
                    "running is read back from the run history. Before the first limit, the " +
                    $"daemon drained {WarmUpJobs} jobs untimed, so that its JIT compiler had " +
                    "compiled the job path.");
        report.Line();
        report.Line("CPU time per job in ms, as utime + stime from /proc. The shells are the " +
                    "exited children that the daemon or the harness waited for, and PostgreSQL " +
                    "is the postmaster with all its processes. The last column divides the CPU " +
                    "that a raw spawn costs by the CPU that the daemon and PostgreSQL spend per " +
                    "job: the drain ratio to expect on an otherwise idle machine whose cores are " +
                    "the limit.");
        report.Line();
        report.Table(["max_concurrent_jobs", "raw: harness", "raw: shells", "daemon",
            "daemon: shells", "PostgreSQL", "raw total / daemon total"], cpu);
    }

    private static async Task<RawSpawn> SpawnAsync(int count, int concurrency, bool setsid)
    {
        var before = CpuMeter.Read(Environment.ProcessId);
        var elapsed = await ShellSpawner.SpawnManyAsync("exit 0", setsid, count, concurrency);
        var after = CpuMeter.Read(Environment.ProcessId);
        return new RawSpawn(count / elapsed.TotalSeconds, after.Own - before.Own,
            after.Children - before.Children);
    }

    private static double PerJob(TimeSpan cpu, long jobs) =>
        jobs > 0 ? cpu.TotalMilliseconds / jobs : double.NaN;

    private sealed record RawSpawn(double Rate, TimeSpan Own, TimeSpan Children);
}
