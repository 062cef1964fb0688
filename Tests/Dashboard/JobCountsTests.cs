using System.Collections.Concurrent;
using System.Data;
using System.Net.Http.Json;
using JobScheduler.Data;
using JobScheduler.Tests.Support;
using Npgsql;

namespace JobScheduler.Tests.Dashboard;

/// <summary>The per-status counts in job_counts, kept by triggers, against a real count.
/// </summary>
[TestClass]
public sealed class JobCountsTests
{
    // Both sides in one statement, so under READ COMMITTED they read one snapshot and must be
    // equal at every moment, not only once the daemon is idle.
    private const string CompareSql = """
        SELECT counted::text, kept::text, counted = kept
        FROM (
            SELECT
                (SELECT coalesce(jsonb_object_agg(status, n), '{}')
                 FROM (SELECT status, count(*) AS n FROM jobs GROUP BY status) AS c) AS counted,
                (SELECT coalesce(jsonb_object_agg(status, n), '{}')
                 FROM (SELECT status, sum(jobs) AS n FROM job_counts GROUP BY status
                       HAVING sum(jobs) <> 0) AS k) AS kept
        ) AS both_sides
        """;

    [TestMethod]
    public async Task Counts_ConcurrentBurst_EqualRealCount()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var connection = app.Settings.ConnectionString();
        await Sql.ExecuteAsync(connection,
            "UPDATE scheduler_config SET value = '6' WHERE key = 'max_concurrent_jobs'");
        using var burst = new CancellationTokenSource();
        var mismatches = new ConcurrentQueue<string>();
        var checks = 0;
        var checker = Task.Run(async () =>
        {
            while (!burst.IsCancellationRequested)
            {
                var (counted, kept, equal) = await CompareAsync(connection);
                checks++;
                if (!equal)
                {
                    mismatches.Enqueue($"count(*) {counted} but job_counts {kept}");
                }
            }
        });

        var writers = Enumerable.Range(0, 4).Select(writer => CreateJobsAsync(app, writer))
            .Append(ChangeJobsAsync(app))
            .Append(WriteBySqlAsync(connection));
        await Task.WhenAll(writers);
        await Eventually.WaitAsync(
            () => Sql.ScalarAsync<long>(connection,
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"),
            active => active == 0, "every job to finish", TimeSpan.FromSeconds(60));
        await burst.CancelAsync();
        await checker;
        var (finalCounted, finalKept, finalEqual) = await CompareAsync(connection);
        var stats = await app.Client.GetFromJsonAsync<JobStats>("/api/stats", TestApp.Json);
        var total = await Sql.ScalarAsync<long>(connection, "SELECT count(*) FROM jobs");
        var failed = await Sql.ScalarAsync<long>(connection,
            "SELECT count(*) FROM jobs WHERE status = 'failed'");

        Assert.IsTrue(checks > 10, $"only {checks} comparisons ran during the burst");
        Assert.AreEqual(0, mismatches.Count, string.Join("\n", mismatches.Take(5)));
        Assert.IsTrue(finalEqual, $"count(*) {finalCounted} but job_counts {finalKept}");
        Assert.AreEqual(total, stats!.Total);
        Assert.AreEqual(failed, stats.Failed);
        Assert.AreEqual(0L, stats.Running);
        Assert.IsTrue(total > 100, $"only {total} jobs are left");
    }

    [TestMethod]
    public async Task Counts_LockedRows_MergedByStats()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var connection = app.Settings.ConnectionString();
        // Keeps the scheduler from claiming, so every job stays queued.
        const string insert = """
            INSERT INTO jobs (name, command, run_at) VALUES ($1, 'true', now() + interval '1 day')
            """;
        var open = new List<(NpgsqlConnection Connection, NpgsqlTransaction Transaction)>();
        for (var i = 0; i < JobQueries.MaxCountRowsPerStatus + 4; i++)
        {
            // Each open transaction keeps its count row locked, so the next one adds a row.
            var held = new NpgsqlConnection(connection + ";Pooling=false");
            await held.OpenAsync();
            var isolation = i % 2 == 0 ? IsolationLevel.ReadCommitted : IsolationLevel.RepeatableRead;
            var transaction = await held.BeginTransactionAsync(isolation);
            await using var command = new NpgsqlCommand(insert, held, transaction);
            command.Parameters.AddWithValue($"held-{i}");
            await command.ExecuteNonQueryAsync();
            open.Add((held, transaction));
        }

        foreach (var (held, transaction) in open)
        {
            await transaction.CommitAsync();
            await held.DisposeAsync();
        }

        var rowsBefore = await QueuedCountRowsAsync(connection);
        var stats = await app.Service<JobQueries>().StatsAsync(2, CancellationToken.None);
        var rowsAfter = await QueuedCountRowsAsync(connection);

        Assert.IsTrue(rowsBefore > JobQueries.MaxCountRowsPerStatus,
            $"{rowsBefore} rows for queued");
        Assert.AreEqual(1L, rowsAfter);
        Assert.AreEqual(JobQueries.MaxCountRowsPerStatus + 4L, stats.Queued);
        Assert.AreEqual(stats.Queued, stats.Total);
        Assert.IsTrue((await CompareAsync(connection)).Equal);
    }

    [TestMethod]
    public async Task Counts_RolledBackAndTruncated_StayExact()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var connection = app.Settings.ConnectionString();
        await using (var db = app.OpenConnection())
        {
            await using var transaction = await db.BeginTransactionAsync();
            await using var insert = new NpgsqlCommand(
                "INSERT INTO jobs (name, command, status) VALUES ('gone', 'true', 'completed')",
                db, transaction);
            await insert.ExecuteNonQueryAsync();
            await transaction.RollbackAsync();
        }

        await Sql.ExecuteAsync(connection, """
            INSERT INTO jobs (name, command, status)
            SELECT 'job-' || n, 'true', 'completed' FROM generate_series(1, 30) AS n
            """);
        var afterInsert = await CompareAsync(connection);
        await Sql.ExecuteAsync(connection, "TRUNCATE jobs CASCADE");
        var stats = await app.Service<JobQueries>().StatsAsync(2, CancellationToken.None);

        Assert.IsTrue(afterInsert.Equal, $"{afterInsert.Counted} vs {afterInsert.Kept}");
        Assert.AreEqual("{\"completed\": 30}", afterInsert.Kept);
        Assert.AreEqual(0L, stats.Total);
    }

    [TestMethod]
    public async Task Migration_ExistingJobs_BackFillsCounts()
    {
        var settings = await TestDatabase.CreateAsync();
        var connection = settings.ConnectionString();
        await ApplyMigrationsBeforeAsync(connection, version: 4);
        await Sql.ExecuteAsync(connection, """
            INSERT INTO jobs (name, command, status)
            SELECT 'old-' || n, 'true', CASE WHEN n % 4 = 0 THEN 'failed' ELSE 'completed' END
            FROM generate_series(1, 40) AS n
            """);

        await using var app = await TestApp.StartAsync(settings);
        var stats = await app.Service<JobQueries>().StatsAsync(2, CancellationToken.None);

        Assert.AreEqual(30L, stats.Completed);
        Assert.AreEqual(10L, stats.Failed);
        Assert.AreEqual(40L, stats.Total);
    }

    private static async Task<(string Counted, string Kept, bool Equal)> CompareAsync(
        string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(CompareSql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetString(0), reader.GetString(1), reader.GetBoolean(2));
    }

    private static Task<long> QueuedCountRowsAsync(string connection) =>
        Sql.ScalarAsync<long>(connection, "SELECT count(*) FROM job_counts WHERE status = 'queued'");

    /// <summary>Creates jobs through the API that complete, fail, or fail once and retry.
    /// </summary>
    private static async Task CreateJobsAsync(TestApp app, int writer)
    {
        for (var i = 0; i < 30; i++)
        {
            var command = (i % 4) switch
            {
                0 => "true",
                1 => "exit 3",
                2 => "sleep 0.2",
                _ => "exit 1",
            };
            var response = await app.Client.PostAsJsonAsync("/api/jobs", new
            {
                name = $"burst-{writer}-{i}",
                command,
                max_attempts = i % 4 == 3 ? 2 : 1,
                retry_delay_seconds = 0,
            });
            response.EnsureSuccessStatusCode();
        }
    }

    /// <summary>Requeues, cancels and deletes jobs through the API while they run.</summary>
    private static async Task ChangeJobsAsync(TestApp app)
    {
        var connection = app.Settings.ConnectionString();
        for (var round = 0; round < 40; round++)
        {
            var ids = await Sql.ScalarAsync<long[]>(connection,
                "SELECT coalesce(array_agg(id ORDER BY random()), '{}') FROM jobs");
            foreach (var id in ids.Take(3))
            {
                var action = (round + (int)id) % 3;
                using var response = action switch
                {
                    0 => await app.Client.PostAsync($"/api/jobs/{id}/requeue", null),
                    1 => await app.Client.PostAsync($"/api/jobs/{id}/cancel", null),
                    _ => await app.Client.DeleteAsync($"/api/jobs/{id}"),
                };
                // 409 and 404 are expected: the job moved on or was deleted meanwhile.
                Assert.IsTrue((int)response.StatusCode < 500, $"{response.StatusCode}");
            }

            await Task.Delay(25);
        }
    }

    /// <summary>Writes many rows per statement by hand: a bulk insert, a bulk requeue and a
    /// bulk delete, as a user at psql would.</summary>
    private static async Task WriteBySqlAsync(string connection)
    {
        for (var round = 0; round < 5; round++)
        {
            await Sql.ExecuteAsync(connection, $"""
                INSERT INTO jobs (name, command)
                SELECT 'bulk-{round}-' || n, 'true' FROM generate_series(1, 20) AS n
                """);
            await Sql.ExecuteAsync(connection, """
                UPDATE jobs SET status = 'queued', run_at = now()
                WHERE status IN ('completed', 'cancelled') AND id % 5 = 0
                """);
            await Sql.ExecuteAsync(connection,
                "DELETE FROM jobs WHERE status = 'failed' AND id % 7 = 0");
            await Task.Delay(50);
        }
    }

    /// <summary>Brings a database to the schema of an older release, as Schema does.</summary>
    private static async Task ApplyMigrationsBeforeAsync(string connectionString, int version)
    {
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using (var table = new NpgsqlCommand("""
            CREATE TABLE schema_migrations (
                version    integer PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, connection))
        {
            await table.ExecuteNonQueryAsync();
        }

        foreach (var migration in Schema.EmbeddedMigrations().Where(m => m.Version < version))
        {
            await using var apply = new NpgsqlCommand(migration.Sql, connection);
            await apply.ExecuteNonQueryAsync();
            await using var record = new NpgsqlCommand(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", connection);
            record.Parameters.AddWithValue(migration.Version);
            record.Parameters.AddWithValue(migration.Name);
            await record.ExecuteNonQueryAsync();
        }
    }
}
