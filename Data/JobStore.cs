using Npgsql;
using NpgsqlTypes;

namespace JobScheduler.Data;

/// <summary>The scheduler's statements on jobs and their runs: claim, heartbeat, lease release
/// and results.</summary>
public sealed class JobStore(NpgsqlDataSource dataSource)
{
    /// <summary>Advisory lock key that serializes claims across all instances, which is what
    /// makes max_concurrent_jobs a global limit.</summary>
    public const long ClaimLockKey = 0x4A6F_6253_6368_0002;

    private const string ClaimLockSql = "SELECT pg_advisory_xact_lock($1)";

    private const string ConfigSql = "SELECT key, value FROM scheduler_config";

    private const string RunningCountSql = "SELECT count(*) FROM jobs WHERE status = 'running'";

    private const string ClaimSql = """
        WITH picked AS (
            SELECT id
            FROM jobs
            WHERE status = 'queued' AND run_at <= now()
            ORDER BY priority, run_at, id
            LIMIT $2
            -- Rows a user is editing are skipped, not waited for.
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE jobs j
            SET status = 'running', node = $1, last_run = clock_timestamp(),
                heartbeat_at = now(), attempt = j.attempt + 1,
                finished_at = NULL, exit_code = NULL, error = NULL, output = NULL
            FROM picked
            WHERE j.id = picked.id
            RETURNING j.id, j.name, j.command, j.attempt, j.last_run, j.priority, j.run_at
        ), history AS (
            -- A run row left by a hand-reset attempt counter is kept, not overwritten.
            INSERT INTO job_runs (job_id, attempt, node, started_at)
            SELECT id, attempt, $1, last_run FROM claimed
            ON CONFLICT (job_id, attempt) DO NOTHING
        )
        SELECT id, name, command, attempt, last_run
        FROM claimed
        ORDER BY priority, run_at, id
        """;

    private const string CompleteSql = """
        WITH finished AS (
            UPDATE jobs
            SET status = $4, finished_at = $5, exit_code = $6, error = $7, output = $8,
                heartbeat_at = NULL
            -- Only the owner's current attempt: a retried write, or one that lost its lease
            -- to another instance, changes nothing.
            WHERE id = $1 AND attempt = $2 AND node = $3 AND status = 'running'
            RETURNING id, attempt
        ), history AS (
            UPDATE job_runs r
            SET status = $4, finished_at = $5, exit_code = $6, error = $7, output = $8
            FROM finished f
            WHERE r.job_id = f.id AND r.attempt = f.attempt
        )
        SELECT count(*) FROM finished
        """;

    private const string HeartbeatSql = """
        UPDATE jobs SET heartbeat_at = now()
        WHERE status = 'running' AND node = $1
        RETURNING id
        """;

    private const string ReleaseExpiredSql = """
        WITH expired AS (
            UPDATE jobs j
            SET status = 'failed', finished_at = now(), heartbeat_at = NULL, exit_code = NULL,
                error = format(
                    'Scheduler instance %s stopped sending heartbeats (last one at %s); the job '
                    'was failed after the %s s lease timeout. Its command may have been cut off '
                    'or may have finished without its result being recorded.',
                    coalesce(j.node, '(unknown)'),
                    to_char(coalesce(j.heartbeat_at, j.last_run, j.updated_at) AT TIME ZONE 'UTC',
                            'YYYY-MM-DD HH24:MI:SS "UTC"'),
                    $1::double precision)
            -- A row set to running by hand may have no heartbeat; it ages from its last change.
            WHERE j.status = 'running'
              AND coalesce(j.heartbeat_at, j.updated_at) < now() - make_interval(secs => $1)
            RETURNING j.id, j.name, j.node, j.attempt, j.error, j.finished_at
        ), history AS (
            UPDATE job_runs r
            SET status = 'failed', finished_at = e.finished_at, error = e.error
            FROM expired e
            WHERE r.job_id = e.id AND r.attempt = e.attempt
        )
        SELECT id, name, node, attempt FROM expired
        """;

    /// <summary>
    /// Claims up to the free slots under the global limit in one short transaction. The
    /// advisory lock makes claimers on every instance take turns, so the running count each
    /// reads already includes the others' claims.
    /// </summary>
    public async Task<ClaimOutcome> ClaimAsync(
        string node, LiveConfig config, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        var stored = new Dictionary<string, string>(StringComparer.Ordinal);
        long running;
        await using (var prepare = new NpgsqlBatch(connection, transaction))
        {
            prepare.BatchCommands.Add(new(ClaimLockSql)
            {
                Parameters = { new() { Value = ClaimLockKey } },
            });
            prepare.BatchCommands.Add(new(ConfigSql));
            prepare.BatchCommands.Add(new(RunningCountSql));
            await using var reader = await prepare.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                stored[reader.GetString(0)] = reader.GetString(1);
            }

            await reader.NextResultAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            running = reader.GetInt64(0);
        }

        var limit = config.Apply(stored);
        var free = limit - running;
        if (free <= 0)
        {
            await transaction.CommitAsync(cancellationToken);
            return new ClaimOutcome(limit, running, []);
        }

        var claimed = new List<ClaimedJob>();
        await using (var claim = new NpgsqlCommand(ClaimSql, connection, transaction))
        {
            claim.Parameters.Add(new() { Value = node });
            claim.Parameters.Add(new() { Value = free });
            await using var reader = await claim.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                claimed.Add(new ClaimedJob(reader.GetInt64(0), reader.GetString(1),
                    reader.GetString(2), reader.GetInt32(3), reader.GetDateTime(4)));
            }
        }

        await transaction.CommitAsync(cancellationToken);
        return new ClaimOutcome(limit, running, claimed);
    }

    /// <summary>Writes a run's result; returns false when the job no longer belongs to this
    /// attempt on this node, because the write already happened or the lease was lost.</summary>
    public async Task<bool> CompleteAsync(
        string node, JobResult result, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(CompleteSql);
        command.Parameters.Add(new() { Value = result.JobId });
        command.Parameters.Add(new() { Value = result.Attempt });
        command.Parameters.Add(new() { Value = node });
        command.Parameters.Add(new() { Value = result.Status });
        command.Parameters.Add(new() { Value = result.FinishedAt, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new() { Value = (object?)result.ExitCode ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer });
        command.Parameters.Add(new() { Value = (object?)result.Error ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new() { Value = result.Output });
        var updated = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
        return updated == 1;
    }

    /// <summary>Refreshes the heartbeat of every job this node runs; returns their ids.</summary>
    public async Task<IReadOnlySet<long>> HeartbeatAsync(
        string node, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(HeartbeatSql);
        command.Parameters.Add(new() { Value = node });
        var ids = new HashSet<long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    /// <summary>Fails running jobs, on any node, whose heartbeat is older than the lease.
    /// </summary>
    public async Task<IReadOnlyList<ReleasedJob>> ReleaseExpiredAsync(
        TimeSpan leaseTimeout, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ReleaseExpiredSql);
        command.Parameters.Add(new() { Value = leaseTimeout.TotalSeconds });
        var released = new List<ReleasedJob>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            released.Add(new ReleasedJob(reader.GetInt64(0), reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt32(3)));
        }

        return released;
    }
}
