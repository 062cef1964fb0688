using System.Diagnostics;

namespace JobScheduler.Bench.Sections;

/// <summary>
/// Section "memory": the daemon's resident memory (VmRSS in /proc/PID/status) idle, and while 64
/// jobs each write 100 MB of output, sampled every 20 ms, with the kernel's own peak (VmHWM).
/// </summary>
public static class MemorySection
{
    private const string Database = "bench_memory";
    private const int Jobs = 64;
    private const string FloodCommand = "head -c 100M /dev/zero";
    private const double MiB = 1024 * 1024;

    public static async Task RunAsync(BenchContext bench)
    {
        await bench.Cluster.RecreateDatabaseAsync(Database);
        await using var daemon = await Daemon.StartAsync(bench, "memory", Database);
        await daemon.SetLimitAsync(Jobs);
        await using var database = new JobsDatabase(bench.Cluster.ClientSource(Database));

        // Idle: ten seconds after the daemon became ready, so its start-up work is over, then
        // sampled once a second for five more.
        await Task.Delay(TimeSpan.FromSeconds(10));
        var idle = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            idle.Add(daemon.ReadMemory("VmRSS"));
            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        var peakBefore = daemon.ReadMemory("VmHWM");
        Report.Progress($"memory: {Jobs} jobs each write 100 MB of output");
        var clock = Stopwatch.StartNew();
        await database.InsertQueuedAsync("flood-", Jobs, FloodCommand);
        var sampledPeak = 0L;
        var drained = false;
        var nextCheck = TimeSpan.Zero;
        while (clock.Elapsed < TimeSpan.FromSeconds(300))
        {
            sampledPeak = Math.Max(sampledPeak, daemon.ReadMemory("VmRSS"));
            if (clock.Elapsed >= nextCheck)
            {
                nextCheck = clock.Elapsed + TimeSpan.FromMilliseconds(500);
                var left = (long)(await Sql.ScalarAsync(database.Source,
                    "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"))!;
                if (left == 0)
                {
                    drained = true;
                    break;
                }
            }

            await Task.Delay(20);
        }

        var floodSeconds = clock.Elapsed.TotalSeconds;
        var highWater = daemon.ReadMemory("VmHWM");
        // In a trial run VmHWM came out 0.3 MiB below the highest sample taken during the
        // flood, so the target uses the higher of the two.
        var peak = Math.Max(highWater, sampledPeak);
        var runs = await database.ReadRunsAsync();
        await Task.Delay(TimeSpan.FromSeconds(5));
        var afterwards = daemon.ReadMemory("VmRSS");

        var idleMedian = (long)Distribution.Of(idle).Median;
        var report = bench.Report;
        report.Heading("5. Memory of the daemon process (dotnet JobScheduler.dll, server GC as built)");
        report.Table(["state", "MiB"],
        [
            ["idle, 10 to 15 s after ready (VmRSS, median of 5)", Format.MiB(idleMedian)],
            ["peak before the flood (VmHWM)", Format.MiB(peakBefore)],
            ["flood, highest VmRSS sampled every 20 ms", Format.MiB(sampledPeak)],
            ["flood, peak (VmHWM after it)", Format.MiB(highWater)],
            ["5 s after the flood (VmRSS)", Format.MiB(afterwards)],
        ]);
        report.Line($"Flood: {Jobs} jobs of `{FloodCommand}` at max_concurrent_jobs {Jobs}, " +
                    $"{runs.Completed} completed, {runs.PeakRunning} at once at the peak, " +
                    $"{floodSeconds:0.0} s from the insert to the last result" +
                    (drained ? "." : " (stopped waiting at 300 s)."));
        report.Below("RSS idle", idleMedian / MiB, 150, "MiB");
        report.Below("RSS peak under the output flood", peak / MiB, 250, "MiB");
    }
}
