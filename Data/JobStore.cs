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

    private const string ClaimLockSql = "SELECT pg_advisory_xact_lock($1)";

    private const string ConfigSql = "SELECT key, value FROM scheduler_config";

    private const string RunningCountSql = "SELECT count(*) FROM jobs WHERE status = 'running'";

    // Seconds until the earliest queued job that is not due yet becomes due, measured on the
    // database's clock, so the loop can wake then whatever the skew of this machine's clock.
    private const string NextDueSql = """
        SELECT extract(epoch FROM min(run_at) - now())::float8
        FROM jobs
        WHERE status = 'queued' AND run_at > now() AND run_at <> 'infinity'
        """;

    // The limit and the paused flag are read from scheduler_config by the statement itself, so
    // a change committed before the claim always applies to it; a stored value that is not
    // valid falls back to the last valid one the daemon holds ($2, $3). The rules match
    // LiveConfig.Parse.
    private const string ClaimSql = """
        WITH settings AS (
            SELECT
                coalesce((SELECT btrim(value)::integer FROM scheduler_config
                          WHERE key = 'max_concurrent_jobs'
                            AND btrim(value) ~ '^\+?[0-9]{1,5}$'
                            AND btrim(value)::integer BETWEEN 1 AND 10000), $2) AS max_concurrent_jobs,
                coalesce((SELECT lower(btrim(value)) IN ('true', '1', 'yes', 'on') FROM scheduler_config
                          WHERE key = 'paused'
                            AND lower(btrim(value)) IN ('true', '1', 'yes', 'on', 'false', '0', 'no', 'off')),
                         $3) AS paused
        ), picked AS (
            SELECT id
            FROM jobs
            WHERE status = 'queued' AND run_at <= now() AND enabled
              AND NOT (SELECT paused FROM settings)
            ORDER BY priority, run_at, id
            -- The free slots: the limit less every running job on every instance, counted
            -- after this transaction's own results and releases.
            LIMIT (SELECT greatest(0, (SELECT max_concurrent_jobs FROM settings) - count(*))
                   FROM jobs WHERE status = 'running')
            -- Rows a user is editing are skipped, not waited for.
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE jobs j
            SET status = 'running', node = $1, last_run = clock_timestamp(),
                heartbeat_at = now(), attempt = j.attempt + 1, tries = j.tries + 1,
                finished_at = NULL, exit_code = NULL, error = NULL, output = NULL,
                cancel_requested_at = NULL
            FROM picked
            WHERE j.id = picked.id
            RETURNING j.id, j.name, j.command, j.attempt, j.last_run, j.priority, j.run_at,
                      j.timeout_seconds, j.schedule, j.time_zone
        ), history AS (
            -- A run row left by a hand-reset attempt counter is kept, not overwritten.
            INSERT INTO job_runs (job_id, attempt, node, started_at)
            SELECT id, attempt, $1, last_run FROM claimed
            ON CONFLICT (job_id, attempt) DO NOTHING
        )
        SELECT id, name, command, attempt, last_run, timeout_seconds, run_at, schedule, time_zone
        FROM claimed
        ORDER BY priority, run_at, id
        """;

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

    private const string ReleaseExpiredSql = """
        WITH expired AS (
            UPDATE jobs j
            SET status = CASE
                    WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
                    WHEN j.tries < j.max_attempts THEN 'queued'
                    ELSE 'failed' END,
                run_at = CASE WHEN j.cancel_requested_at IS NULL AND j.tries < j.max_attempts
                    THEN now() + make_interval(secs => least(
                        j.retry_delay_seconds * power(2, j.tries - 1), 86400) * (0.75 + random() / 2))
                    ELSE j.run_at END,
                finished_at = now(), heartbeat_at = NULL, exit_code = NULL,
                cancel_requested_at = NULL,
                error = format(
                    'Scheduler instance %s stopped sending heartbeats (last one at %s); the job '
                    'was released after the %s s lease timeout. Its command may have been cut off '
                    'or may have finished without its result being recorded.',
                    coalesce(j.node, '(unknown)'),
                    to_char(coalesce(j.heartbeat_at, j.last_run, j.updated_at) AT TIME ZONE 'UTC',
                            'YYYY-MM-DD HH24:MI:SS "UTC"'),
                    $1::double precision)
            -- A row set to running by hand may have no heartbeat; it ages from its last change.
            WHERE j.status = 'running'
              AND coalesce(j.heartbeat_at, j.updated_at) < now() - make_interval(secs => $1)
            RETURNING j.id, j.name, j.node, j.attempt, j.error, j.finished_at, j.status
        ), history AS (
            UPDATE job_runs r
            SET status = CASE WHEN e.status = 'cancelled' THEN 'cancelled' ELSE 'failed' END,
                finished_at = e.finished_at, error = e.error
            FROM expired e
            WHERE r.job_id = e.id AND r.attempt = e.attempt
        )
        SELECT id, name, node, attempt, status FROM expired
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
