using System.Net.Http.Json;
using Npgsql;

namespace JobScheduler.Bench.Sections;

/// <summary>Section "pickup": job committed → its command running, with free slots.</summary>
public static class PickupSection
{
    private const string Database = "bench_pickup";

    public static async Task RunAsync(BenchContext bench)
    {
        var samples = bench.Options.Samples;
        await bench.Cluster.RecreateDatabaseAsync(Database);
        await using var daemon = await Daemon.StartAsync(bench, "pickup", Database);
        await daemon.SetLimitAsync(8);

        // The main case: a client of its own inserts the row with plain SQL, in autocommit, so
        // the INSERT returns after its commit.
        await using var connection =
            new NpgsqlConnection(bench.Cluster.ClientConnection(Database, pooling: false));
        await connection.OpenAsync();
        await using var insert =
            new NpgsqlCommand("INSERT INTO jobs (name, command) VALUES ($1, $2)", connection);
        insert.Parameters.Add(new NpgsqlParameter<string>());
        insert.Parameters.Add(new NpgsqlParameter<string>());
        Report.Progress($"pickup: {samples} jobs added by SQL, one at a time");
        var sql = await PickupProbe.SerialAsync(bench, "sql", samples, async (name, command) =>
        {
            insert.Parameters[0].Value = name;
            insert.Parameters[1].Value = command;
            await insert.ExecuteNonQueryAsync();
        }, TimeSpan.FromSeconds(10));

        var apiSamples = Math.Max(50, samples / 2);
        Report.Progress($"pickup: {apiSamples} jobs added through POST /api/jobs/create");
        var api = await PickupProbe.SerialAsync(bench, "api", apiSamples, async (name, command) =>
        {
            var response = await daemon.Client.PostAsJsonAsync("/api/jobs/create", new { name, command });
            response.EnsureSuccessStatusCode();
        }, TimeSpan.FromSeconds(10));

        Report.Progress($"pickup: {samples} spawns by the harness itself, for the floor");
        var floor = await PickupProbe.SpawnFloorAsync(bench, samples);

        var report = bench.Report;
        report.Heading("1. Pickup latency (wake-ups on, max_concurrent_jobs 8, one job at a time)");
        report.Table(PickupProbe.Header,
        [
            PickupProbe.Row("INSERT by SQL (separate connection), commit → running", sql),
            PickupProbe.Row("POST /api/jobs/create, 201 received → running", api),
            PickupProbe.Row("floor: harness spawns `setsid /bin/sh -c 'echo …'` itself", floor),
        ]);
        report.Line("\"Running\" is the moment the harness reads the token that the job's shell " +
                    "wrote with its builtin `echo` to a FIFO. The shell's own start is inside the " +
                    "span, and no further program is started. A negative API time would mean " +
                    "that the job ran before the HTTP response arrived.");
        var distribution = Distribution.Of(sql.Latencies);
        report.AtMost("pickup median (SQL insert)", distribution.Median, 3, "ms");
        report.AtMost("pickup p99 (SQL insert)", distribution.P99, 15, "ms");
    }
}
