namespace JobScheduler.Bench.Sections;

/// <summary>
/// Section "polling": the same daemon with WAKEUPS=false and CHECK_INTERVAL=10, so jobs start
/// only on the poll, as in a plain polling scheduler. It is slow by design, so it takes few
/// samples.
/// </summary>
public static class PollingSection
{
    private const string Database = "bench_polling";
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    public static async Task RunAsync(BenchContext bench)
    {
        await bench.Cluster.RecreateDatabaseAsync(Database);
        var settings = new Dictionary<string, string>
        {
            ["WAKEUPS"] = "false",
            ["CHECK_INTERVAL"] = "10",
        };
        await using var daemon = await Daemon.StartAsync(bench, "polling", Database, settings);
        await daemon.SetLimitAsync(8);
        await using var database = new JobsDatabase(bench.Cluster.ClientSource(Database));

        // Three jobs per interval on average arrive at random moments over six intervals. With 8
        // slots and jobs that end at once, every one finds a free slot at the next poll.
        const int samples = 18;
        Report.Progress($"polling: pickup of {samples} jobs added at random moments over 60 s");
        await using var connection = await database.Source.OpenConnectionAsync();
        var pickup = await PickupProbe.SpreadAsync(bench, "poll", samples, async (name, command) =>
        {
            await Sql.ExecuteAsync(connection,
                "INSERT INTO jobs (name, command) VALUES ($1, $2)", name, command);
        }, 6 * Interval, 3 * Interval);

        var rows = new List<string[]>();
        foreach (var concurrency in new[] { 2, 8 })
        {
            var jobs = 4 * concurrency;
            Report.Progress($"polling: drain of {jobs} jobs at {concurrency}");
            var runs = await DrainSection.DrainAsync(daemon, database, concurrency, jobs,
                $"poll-{concurrency}-", TimeSpan.FromSeconds(90));
            rows.Add(
            [
                concurrency.ToString(), jobs.ToString(), Format.Number(runs.JobsPerSecond, "0.00"),
                Format.Number(concurrency / Interval.TotalSeconds, "0.0"),
                $"{runs.Completed} of {jobs}",
            ]);
        }

        var report = bench.Report;
        report.Heading("6a. Polling only: WAKEUPS=false, CHECK_INTERVAL=10");
        // With a 10 s poll the median wait is about 5 s. A median under 1 s means that the daemon
        // still woke up at once, because this build ignores WAKEUPS.
        if (Distribution.Of(pickup.Latencies).Median < 1000)
        {
            report.Line("**Not the polling design:** the median pickup is under 1 s, so this " +
                        "build ignores WAKEUPS=false and still wakes up at once. The numbers " +
                        "below are no comparison.");
            report.Line();
        }

        report.Line("Slow by design: a job waits for the next poll, and a freed slot is refilled " +
                    "only at the poll after it, so this section takes few samples.");
        report.Line();
        report.Table(PickupProbe.Header,
            [PickupProbe.Row("INSERT by SQL, commit → running (random moments)", pickup)]);
        report.Table(["max_concurrent_jobs", "jobs", "drain jobs/s",
            "steady state, limit / interval", "completed"], rows);
        report.Line("The drain rate is jobs / (last finish − first start). With 4 × limit jobs " +
                    "that span is about three intervals, so the rate comes out above the steady " +
                    "state of limit / CHECK_INTERVAL.");
    }
}
