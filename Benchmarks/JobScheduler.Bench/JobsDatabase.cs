using System.Diagnostics;
using Npgsql;

namespace JobScheduler.Bench;

/// <summary>The harness's statements on one daemon database: it adds jobs as any SQL client
/// would, waits for them, and reads the run history the daemon wrote.</summary>
public sealed class JobsDatabase(NpgsqlDataSource source) : IAsyncDisposable
{
    public NpgsqlDataSource Source { get; } = source;

    /// <summary>Empties the queue and its history, so each run starts alike.</summary>
    public Task TruncateAsync() => Sql.ExecuteAsync(Source, "TRUNCATE jobs CASCADE");

    /// <summary>Adds <paramref name="count"/> queued jobs in one statement, so they appear
    /// together at its commit.</summary>
    public Task InsertQueuedAsync(string prefix, int count, string command) =>
        Sql.ExecuteAsync(Source, """
            INSERT INTO jobs (name, command)
            SELECT $1 || n, $2 FROM generate_series(1, $3) AS n
            """, prefix, command, count);

    /// <summary>Waits until no job is queued or running, polling four times a second; returns
    /// false at the deadline.</summary>
    public async Task<bool> WaitForDrainAsync(TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            var left = (long)(await Sql.ScalarAsync(Source,
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"))!;
            if (left == 0)
            {
                return true;
            }

            await Task.Delay(250);
        }

        return false;
    }

    /// <summary>Reads the runs the daemon recorded: how many, how many completed, the span from
    /// the first start to the last finish, and the most runs that overlapped.</summary>
    public async Task<RunSpan> ReadRunsAsync()
    {
        var row = (await Sql.RowsAsync(Source, """
            SELECT count(*), count(*) FILTER (WHERE status = 'completed'),
                   extract(epoch FROM max(finished_at) - min(started_at))::float8
            FROM job_runs
            """))[0];
        // Each start adds one and each finish takes one away; at equal times finishes go
        // first, so the peak is not overstated.
        var peak = await Sql.ScalarAsync(Source, """
            SELECT coalesce(max(running), 0)
            FROM (
                SELECT sum(delta) OVER (ORDER BY at, delta) AS running
                FROM (
                    SELECT started_at AS at, 1 AS delta FROM job_runs
                    UNION ALL
                    SELECT finished_at, -1 FROM job_runs WHERE finished_at IS NOT NULL
                ) AS events
            ) AS sums
            """);
        return new RunSpan((long)row[0]!, (long)row[1]!,
            TimeSpan.FromSeconds(row[2] as double? ?? 0), Convert.ToInt64(peak));
    }

    public ValueTask DisposeAsync() => Source.DisposeAsync();
}

public sealed record RunSpan(long Runs, long Completed, TimeSpan Span, long PeakRunning)
{
    public double JobsPerSecond => Span > TimeSpan.Zero ? Runs / Span.TotalSeconds : double.NaN;
}
