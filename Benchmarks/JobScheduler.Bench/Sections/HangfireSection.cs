using System.Diagnostics;
using Hangfire;
using Npgsql;

namespace JobScheduler.Bench.Sections;

/// <summary>
/// Section "hangfire": the same shell jobs through Hangfire with its PostgreSQL storage. The
/// server runs as a process of its own, as the daemon does. The harness enqueues with Hangfire's
/// client, whose Enqueue returns after its transaction commits.
/// </summary>
public static class HangfireSection
{
    private const string Database = "bench_hangfire";

    public static async Task RunAsync(BenchContext bench)
    {
        await bench.Cluster.RecreateDatabaseAsync(Database);
        // 128 workers each take a connection to fetch, beyond Npgsql's default pool of 100.
        var connectionString =
            new NpgsqlConnectionStringBuilder(bench.Cluster.ClientConnection(Database))
            {
                MaxPoolSize = 300,
            }.ConnectionString;
        HangfireServer.Configure(connectionString);
        var client = new BackgroundJobClient();
        await using var source = bench.Cluster.ClientSource(Database);

        var samples = bench.Options.Samples;
        (List<double>, int) pickup;
        await using (await HangfireProcess.StartAsync(connectionString, 8))
        {
            Report.Progress($"hangfire: pickup, {samples} jobs enqueued one at a time, 8 workers");
            pickup = await PickupProbe.SerialAsync(bench, "hf", samples, (_, command) =>
            {
                client.Enqueue(() => ShellJob.RunAsync(command));
                return Task.CompletedTask;
            }, TimeSpan.FromSeconds(10));
        }

        var jobs = bench.Options.Jobs;
        var rows = new List<string[]>();
        foreach (var workers in bench.Options.Concurrency)
        {
            rows.Add(await DrainAsync(client, source, connectionString, jobs, workers));
        }

        var report = bench.Report;
        report.Heading("6b. Hangfire 1.8.25 with Hangfire.PostgreSql 1.21.1 " +
                       "(long polling on, queue poll 50 ms)");
        report.Table(PickupProbe.Header,
            [PickupProbe.Row("Enqueue returned → running, 8 workers", pickup)]);
        report.Table(["workers", "drain jobs/s", "peak running", "succeeded",
            "enqueue jobs/s (4 threads)"], rows);
        report.Line("Each job is a Hangfire background job that starts `setsid /bin/sh -c " +
                    "COMMAND` the way the daemon does. Drain: the jobs are enqueued with no " +
                    "server running, then a server with that many workers starts. Rate = jobs / " +
                    "(last Succeeded state − first Processing state), both from Hangfire's " +
                    "state table.");
    }

    /// <summary>Enqueues the jobs with no server running, then drains them with a server of
    /// <paramref name="workers"/> workers; returns the report's row.</summary>
    private static async Task<string[]> DrainAsync(
        BackgroundJobClient client, NpgsqlDataSource source, string connectionString, int jobs,
        int workers)
    {
        await Sql.ExecuteAsync(source, "TRUNCATE hangfire.job, hangfire.jobqueue CASCADE");
        Report.Progress($"hangfire: enqueueing {jobs} jobs with no server running");
        var enqueue = Stopwatch.StartNew();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = 4 };
        await Parallel.ForAsync(0, jobs, parallel, (_, _) =>
        {
            client.Enqueue(() => ShellJob.RunAsync("exit 0"));
            return ValueTask.CompletedTask;
        });
        var enqueueRate = jobs / enqueue.Elapsed.TotalSeconds;

        Report.Progress($"hangfire: draining {jobs} jobs with {workers} workers");
        bool finished;
        var limit = TimeSpan.FromSeconds(Math.Max(60, jobs / 25.0));
        await using (await HangfireProcess.StartAsync(connectionString, workers))
        {
            finished = await WaitForFinishedAsync(source, jobs, limit);
        }

        var (done, seconds, peak) = await ReadSpanAsync(source);
        return
        [
            workers.ToString(), Format.Number(done / seconds, "0"), peak.ToString(),
            $"{done} of {jobs}" + (finished ? "" : " (stopped waiting)"),
            Format.Number(enqueueRate, "0"),
        ];
    }

    private static async Task<bool> WaitForFinishedAsync(
        NpgsqlDataSource source, int jobs, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            var done = (long)(await Sql.ScalarAsync(source,
                "SELECT count(*) FROM hangfire.job WHERE statename IN ('Succeeded', 'Failed')"))!;
            if (done >= jobs)
            {
                return true;
            }

            await Task.Delay(250);
        }

        return false;
    }

    private static async Task<(long Done, double Seconds, long Peak)> ReadSpanAsync(
        NpgsqlDataSource source)
    {
        var row = (await Sql.RowsAsync(source, """
            SELECT count(*) FILTER (WHERE name = 'Succeeded'),
                   extract(epoch FROM max(createdat) FILTER (WHERE name IN ('Succeeded', 'Failed'))
                                   - min(createdat) FILTER (WHERE name = 'Processing'))::float8
            FROM hangfire.state
            """))[0];
        // Each Processing state adds one and each end state takes one away; at equal times the
        // ends go first, so the peak is not overstated.
        var peak = await Sql.ScalarAsync(source, """
            SELECT coalesce(max(running), 0)
            FROM (
                SELECT sum(delta) OVER (ORDER BY createdat, delta) AS running
                FROM (
                    SELECT createdat, CASE WHEN name = 'Processing' THEN 1 ELSE -1 END AS delta
                    FROM hangfire.state
                    WHERE name IN ('Processing', 'Succeeded', 'Failed')
                ) AS events
            ) AS sums
            """);
        return ((long)row[0]!, row[1] as double? ?? double.NaN, Convert.ToInt64(peak));
    }

    /// <summary>A Hangfire server process: this program in "hangfire-server" mode.</summary>
    private sealed class HangfireProcess(Process process) : IAsyncDisposable
    {
        public static async Task<HangfireProcess> StartAsync(string connectionString, int workers)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
            };
            // Under the dotnet host the program is its dll; an apphost is the program itself.
            if (Path.GetFileNameWithoutExtension(start.FileName) == "dotnet")
            {
                start.ArgumentList.Add(typeof(HangfireSection).Assembly.Location);
            }

            start.ArgumentList.Add("hangfire-server");
            start.ArgumentList.Add(connectionString);
            start.ArgumentList.Add(workers.ToString());
            var process = Process.Start(start)!;
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line != "ready")
            {
                process.Kill();
                throw new InvalidOperationException(
                    $"The Hangfire server failed to start: it wrote '{line}' instead of 'ready'.");
            }

            _ = process.StandardOutput.ReadToEndAsync();
            return new HangfireProcess(process);
        }

        public async ValueTask DisposeAsync()
        {
            await process.StandardInput.WriteLineAsync("stop");
            process.StandardInput.Close();
            try
            {
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                Report.Progress("the Hangfire server did not stop within 60 s; killing it");
                process.Kill();
            }

            process.Dispose();
        }
    }
}
