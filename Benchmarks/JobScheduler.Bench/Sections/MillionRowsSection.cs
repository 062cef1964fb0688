using System.Diagnostics;
using System.Globalization;

namespace JobScheduler.Bench.Sections;

/// <summary>
/// Section "million": a jobs table of a million rows, mostly finished, with a few thousand
/// queued. It times GET /api/stats and the first page of GET /api/jobs, then lets the daemon
/// claim queued jobs, first one at a time and then 2,000 at once. The claim cycle's duration
/// comes from the daemon's own histogram, the statements' execution times from
/// pg_stat_statements.
/// </summary>
public static class MillionRowsSection
{
    private const string Database = "bench_million";
    private const int Queued = 3000;
    private const int QuietJobs = 50;
    private const int Claimed = 2000;
    private const string CycleMetric = "jobscheduler_claim_cycle_duration_seconds";

    public static async Task RunAsync(BenchContext bench)
    {
        var rows = bench.Options.Rows;
        await bench.Cluster.RecreateDatabaseAsync(Database);
        await using var daemon = await Daemon.StartAsync(bench, "million", Database);
        await daemon.SetLimitAsync(8);
        await using var database = new JobsDatabase(bench.Cluster.ClientSource(Database));

        Report.Progress($"million: inserting {rows} jobs and their runs");
        var fill = Stopwatch.StartNew();
        await FillAsync(database, rows);
        var fillSeconds = fill.Elapsed.TotalSeconds;

        var requests = Math.Max(50, bench.Options.Samples / 4);
        Report.Progress($"million: timing {requests} requests per endpoint");
        var stats = await TimeRequestsAsync(daemon, "/api/stats", requests);
        var firstPage = await TimeRequestsAsync(daemon, "/api/jobs", requests);
        var queuedPage = await TimeRequestsAsync(daemon, "/api/jobs?status=queued", requests);

        // Quiet: one job made due at a time, so each claim cycle runs on an otherwise idle daemon
        // and shows the cost of the table's size alone.
        Report.Progress($"million: {QuietJobs} jobs made due one at a time");
        var quietBefore = await ReadCyclesAsync(daemon);
        var quietPickup = await PickupProbe.SerialAsync(bench, "million", QuietJobs,
            async (_, command) =>
            {
                await Sql.ExecuteAsync(database.Source, """
                    UPDATE jobs SET run_at = now(), command = $1
                    WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_at > now()
                                ORDER BY id LIMIT 1)
                    """, command);
            }, TimeSpan.FromSeconds(10), warmUp: 5);
        var quiet = await ReadCyclesAsync(daemon) - quietBefore;

        Report.Progress($"million: the daemon claims and runs {Claimed} jobs at 8");
        var loadedBefore = await ReadCyclesAsync(daemon);
        await using var statistics = bench.Cluster.ClientSource("postgres");
        await Sql.ExecuteAsync(statistics, "SELECT pg_stat_statements_reset()");
        await Sql.ExecuteAsync(database.Source, """
            UPDATE jobs SET run_at = now()
            WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT $1)
            """, Claimed);
        var drained = await WaitForDueAsync(database, TimeSpan.FromSeconds(120));
        var top = await Sql.RowsAsync(statistics, """
            SELECT regexp_replace(query, '\s+', ' ', 'g'), calls, mean_exec_time, max_exec_time
            FROM pg_stat_statements
            WHERE userid = to_regrole($1)
              AND dbid = (SELECT oid FROM pg_database WHERE datname = $2)
            ORDER BY total_exec_time DESC
            LIMIT 6
            """, bench.Cluster.DaemonUser, Database);
        var loaded = await ReadCyclesAsync(daemon) - loadedBefore;

        var report = bench.Report;
        report.Heading($"4. A jobs table of {Format.Count(rows)} rows");
        report.Line($"Filled in {fillSeconds:0} s: {Format.Count(rows - Queued)} finished jobs " +
                    $"(90 % completed, 10 % failed), each with its run, and {Queued} queued jobs " +
                    "due tomorrow, then VACUUM ANALYZE.");
        report.Line();
        report.Table(["request (daemon idle)", "requests", "median ms", "p90 ms", "max ms"],
        [
            RequestRow("GET /api/stats", stats),
            RequestRow("GET /api/jobs (first page, 100 jobs)", firstPage),
            RequestRow("GET /api/jobs?status=queued", queuedPage),
        ]);
        report.Line($"Claim, quiet: {QuietJobs} queued jobs made due one at a time " +
                    "(UPDATE … run_at = now()), each waited for. The daemon's histogram " +
                    $"`{CycleMetric}` counted {quiet.Describe()}. One cycle claims the job and " +
                    "one follows the freed slot.");
        report.Line();
        report.Table(PickupProbe.Header,
            [PickupProbe.Row($"made due → running, {Format.Count(rows)} rows", quietPickup)]);
        report.Line($"Claim under load: {Claimed} of the queued jobs made due at once, " +
                    $"max_concurrent_jobs 8{(drained ? "" : " (not all ran within 120 s)")}. " +
                    $"The histogram counted {loaded.Describe()}. The daemon's statements " +
                    "meanwhile, by total time (execution in the server):");
        report.Line();
        report.Table(["statement (start)", "calls", "mean ms", "max ms"], top.Select(row => new[]
        {
            $"`{Shorten((string)row[0]!)}`", row[1]!.ToString()!, Format.Ms((double)row[2]!),
            Format.Ms((double)row[3]!),
        }));

        var size = Format.Count(rows) + " rows";
        report.Below($"claim cycle mean, {size}, one job at a time", quiet.MeanMs, 2, "ms");
        report.Below($"claim cycle mean, {size}, {Claimed} due at once", loaded.MeanMs, 2, "ms");
        report.Below($"GET /api/stats median, {size}", Distribution.Of(stats).Median, 50, "ms");
        report.Below($"GET /api/jobs first page median, {size}",
            Distribution.Of(firstPage).Median, 50, "ms");
    }

    private static async Task FillAsync(JobsDatabase database, int rows)
    {
        // One job every 30 s back from now; the runs copy the finished jobs' results.
        await Sql.ExecuteAsync(database.Source, """
            INSERT INTO jobs (name, command, status, created_at, updated_at, run_at, last_run,
                              finished_at, exit_code, attempt, tries, node)
            SELECT 'old-' || n, 'exit 0', CASE WHEN n % 10 = 0 THEN 'failed' ELSE 'completed' END,
                   t.at, t.at, t.at, t.at, t.at + interval '2 seconds',
                   CASE WHEN n % 10 = 0 THEN 1 ELSE 0 END, 1, 1, 'bench-old'
            FROM generate_series(1, $1) AS n
            CROSS JOIN LATERAL (SELECT now() - make_interval(secs => ($1 - n) * 30) AS at) AS t
            """, rows - Queued);
        await Sql.ExecuteAsync(database.Source, """
            INSERT INTO job_runs (job_id, attempt, node, status, started_at, finished_at, exit_code)
            SELECT id, 1, node, status, last_run, finished_at, exit_code FROM jobs
            """);
        await Sql.ExecuteAsync(database.Source, """
            INSERT INTO jobs (name, command, run_at)
            SELECT 'later-' || n, 'exit 0', now() + interval '1 day'
            FROM generate_series(1, $1) AS n
            """, Queued);
        await Sql.ExecuteAsync(database.Source, "VACUUM ANALYZE");
    }

    private static async Task<List<double>> TimeRequestsAsync(Daemon daemon, string path, int count)
    {
        var times = new List<double>();
        for (var i = -5; i < count; i++)
        {
            var clock = Stopwatch.StartNew();
            using var response = await daemon.Client.GetAsync(path);
            await response.Content.ReadAsByteArrayAsync();
            response.EnsureSuccessStatusCode();
            if (i >= 0)
            {
                times.Add(clock.Elapsed.TotalMilliseconds);
            }
        }

        return times;
    }

    private static async Task<bool> WaitForDueAsync(JobsDatabase database, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            var left = (long)(await Sql.ScalarAsync(database.Source, """
                SELECT count(*) FROM jobs
                WHERE status = 'running' OR (status = 'queued' AND run_at <= now())
                """))!;
            if (left == 0)
            {
                return true;
            }

            await Task.Delay(250);
        }

        return false;
    }

    private static async Task<Cycles> ReadCyclesAsync(Daemon daemon) => new(
        await daemon.ReadMetricAsync(CycleMetric + "_count"),
        await daemon.ReadMetricAsync(CycleMetric + "_sum"),
        await daemon.ReadMetricAsync(CycleMetric + "_bucket{le=\"0.001\"}"),
        await daemon.ReadMetricAsync(CycleMetric + "_bucket{le=\"0.002\"}"));

    private static string[] RequestRow(string request, List<double> times)
    {
        var d = Distribution.Of(times);
        return [request, d.Count.ToString(CultureInfo.InvariantCulture), Format.Ms(d.Median),
            Format.Ms(d.P90), Format.Ms(d.Max)];
    }

    private static string Shorten(string query) =>
        (query.Length <= 70 ? query : query[..70] + "…").Replace("|", "\\|");

    /// <summary>Readings of the claim cycle histogram; a difference of two covers the cycles
    /// between them.</summary>
    private sealed record Cycles(double Count, double Sum, double UpTo1Ms, double UpTo2Ms)
    {
        public double MeanMs => Sum / Count * 1000;

        public static Cycles operator -(Cycles after, Cycles before) => new(
            after.Count - before.Count, after.Sum - before.Sum,
            after.UpTo1Ms - before.UpTo1Ms, after.UpTo2Ms - before.UpTo2Ms);

        public string Describe() =>
            $"{Count:0} claim cycles, mean {Format.Ms(MeanMs)} ms; " +
            $"{Format.Number(100 * UpTo1Ms / Count, "0")} % took ≤ 1 ms and " +
            $"{Format.Number(100 * UpTo2Ms / Count, "0")} % ≤ 2 ms";
    }
}
