using Npgsql;
using NpgsqlTypes;

namespace JobScheduler.Data;

/// <summary>The scheduler's statements on jobs and their runs: claim, heartbeat, lease release
/// and results.</summary>
public sealed partial class JobStore(NpgsqlDataSource dataSource)
{
    /// <summary>Advisory lock key that serializes claims across all instances, which is what
    /// makes max_concurrent_jobs a global limit.</summary>
    public const long ClaimLockKey = 0x4A6F_6253_6368_0002;

    // Recurring jobs that need a next occurrence: parked ones added by SQL, and finished ones
    // whose result was written without one (a released lease, a result written by hand).
    private const string SchedulesDueSql = """
        SELECT id, schedule, time_zone, run_at
        FROM jobs
        WHERE schedule IS NOT NULL AND enabled
          AND (status <> 'running' AND status <> 'queued' OR run_at = 'infinity')
        ORDER BY id
        LIMIT 500
        FOR UPDATE SKIP LOCKED
        """;

    // Recurring jobs whose occurrence passed more than $1 seconds ago while no daemon ran.
    private const string MissedSchedulesSql = """
        SELECT id, schedule, time_zone, run_at
        FROM jobs
        WHERE schedule IS NOT NULL AND enabled AND status = 'queued'
          AND run_at < now() - make_interval(secs => $1)
        ORDER BY id
        LIMIT 500
        FOR UPDATE SKIP LOCKED
        """;

    private const string RescheduleSql = """
        UPDATE jobs j
        SET status = 'queued', run_at = n.run_at, tries = 0
        FROM unnest($1::bigint[], $2::timestamptz[]) AS n(id, run_at)
        WHERE j.id = n.id
        """;

    private const string ScheduleInvalidSql = """
        UPDATE jobs j
        SET status = 'failed', enabled = false, error = n.error, finished_at = now()
        FROM unnest($1::bigint[], $2::text[]) AS n(id, error)
        WHERE j.id = n.id
        """;

    // The output so far of running jobs that printed since the last heartbeat, so the dashboard
    // can show it while they run.
    private const string OutputSql = """
        UPDATE jobs j
        SET output = o.output
        FROM unnest($2::bigint[], $3::integer[], $4::text[]) AS o(id, attempt, output)
        WHERE j.id = o.id AND j.attempt = o.attempt AND j.node = $1 AND j.status = 'running'
        RETURNING j.id
        """;

    private const string HeartbeatSql = """
        UPDATE jobs SET heartbeat_at = now()
        WHERE status = 'running' AND node = $1 AND id = ANY($2)
        RETURNING id, cancel_requested_at IS NOT NULL
        """;

    /// <summary>
    /// Sets the next occurrence of recurring jobs that lack one: parked or finished ones, and
    /// with <paramref name="missedBy"/>, queued ones whose occurrence passed longer ago than that
    /// (they are skipped, not caught up). A schedule that is invalid or never fires fails the job
    /// and disables it. Returns how many jobs were rescheduled and how many failed.
    /// </summary>
    public async Task<(int Rescheduled, int Invalid)> RescheduleAsync(
        Func<string, string, DateTime?, (DateTime? Next, string? Error)> next, TimeSpan? missedBy,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var ids = new List<long>();
        var times = new List<DateTime>();
        var badIds = new List<long>();
        var errors = new List<string>();
        await using (var select = new NpgsqlCommand(
                         missedBy is null ? SchedulesDueSql : MissedSchedulesSql, connection, transaction))
        {
            if (missedBy is { } grace)
            {
                select.Parameters.Add(new() { Value = grace.TotalSeconds });
            }

            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var runAt = reader.GetDateTime(3);
                var (nextAt, error) = next(reader.GetString(1), reader.GetString(2),
                    runAt == DateTime.MaxValue ? null : runAt);
                if (nextAt is { } time)
                {
                    ids.Add(reader.GetInt64(0));
                    times.Add(time);
                }
                else
                {
                    badIds.Add(reader.GetInt64(0));
                    errors.Add(error ?? "The schedule never fires again.");
                }
            }
        }

        if (ids.Count > 0)
        {
            await using var update = new NpgsqlCommand(RescheduleSql, connection, transaction);
            update.Parameters.Add(new() { Value = ids.ToArray() });
            update.Parameters.Add(new() { Value = times.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        if (badIds.Count > 0)
        {
            await using var fail = new NpgsqlCommand(ScheduleInvalidSql, connection, transaction);
            fail.Parameters.Add(new() { Value = badIds.ToArray() });
            fail.Parameters.Add(new() { Value = errors.ToArray() });
            await fail.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return (ids.Count, badIds.Count);
    }

    /// <summary>Stores the output so far of the given running jobs and refreshes the heartbeat
    /// of the jobs this node runs; returns those still running here in the database, with any
    /// cancellation request.</summary>
    public async Task<IReadOnlyList<HeartbeatRow>> HeartbeatAsync(
        string node, IReadOnlyList<long> running,
        IReadOnlyList<(long Id, int Attempt, string Output)> outputs,
        CancellationToken cancellationToken)
    {
        await using var batch = dataSource.CreateBatch();
        if (outputs.Count > 0)
        {
            batch.BatchCommands.Add(new(OutputSql)
            {
                Parameters =
                {
                    new() { Value = node },
                    new() { Value = outputs.Select(o => o.Id).ToArray() },
                    new() { Value = outputs.Select(o => o.Attempt).ToArray() },
                    new() { Value = outputs.Select(o => o.Output).ToArray() },
                },
            });
        }

        batch.BatchCommands.Add(new(HeartbeatSql)
        {
            Parameters = { new() { Value = node }, new() { Value = running.ToArray() } },
        });
        var rows = new List<HeartbeatRow>();
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (outputs.Count > 0)
        {
            await reader.NextResultAsync(cancellationToken);
        }

        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new HeartbeatRow(reader.GetInt64(0), reader.GetBoolean(1)));
        }

        return rows;
    }
}
