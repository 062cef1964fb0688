using Npgsql;
using NpgsqlTypes;

namespace JobScheduler.Data;

/// <summary>The statements behind the API and the dashboard: create, read, list and count.
/// </summary>
public sealed class JobQueries(NpgsqlDataSource dataSource)
{
    private const string Columns = """
        id, name, command, status, priority, run_at, attempt, node, last_run, heartbeat_at,
        finished_at, exit_code, error, created_at, updated_at, timeout_seconds, max_attempts,
        retry_delay_seconds, tries, cancel_requested_at
        """;

    private const string InsertSql = $"""
        INSERT INTO jobs (name, command, priority, run_at, timeout_seconds, max_attempts,
                          retry_delay_seconds)
        VALUES ($1, $2, $3, coalesce($4, now()), $5, $6, $7)
        RETURNING {Columns}, output
        """;

    private const string GetSql = $"SELECT {Columns}, output FROM jobs WHERE id = $1";

    // Newest first by id; the cursor is the last id of the previous page, so each page is an
    // index range scan however deep it is.
    private const string ListSql = $"""
        SELECT {Columns}, NULL AS output
        FROM jobs
        WHERE ($1::text IS NULL OR status = $1)
          AND ($2::bigint IS NULL OR id < $2)
        ORDER BY id DESC
        LIMIT $3
        """;

    private const string StatsSql = """
        SELECT
            count(*) FILTER (WHERE status = 'queued'),
            count(*) FILTER (WHERE status = 'running'),
            count(*) FILTER (WHERE status = 'completed'),
            count(*) FILTER (WHERE status = 'failed'),
            count(*) FILTER (WHERE status = 'cancelled'),
            count(*)
        FROM jobs
        """;

    private const string RunsSql = """
        SELECT id, job_id, attempt, node, status, started_at, finished_at, exit_code, error, output
        FROM job_runs
        WHERE job_id = $1
        ORDER BY attempt
        """;

    // A queued job is cancelled at once. A running one is marked, and its owner kills it and
    // records it cancelled; the notification reaches the owner on any instance at once.
    private const string CancelSql = $"""
        WITH target AS (
            SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE
        ), changed AS (
            UPDATE jobs j
            SET status = CASE WHEN t.status = 'queued' THEN 'cancelled' ELSE j.status END,
                finished_at = CASE WHEN t.status = 'queued' THEN now() ELSE j.finished_at END,
                error = CASE WHEN t.status = 'queued' THEN 'Cancelled before it started.'
                             ELSE j.error END,
                cancel_requested_at = CASE WHEN t.status = 'running' THEN now()
                                           ELSE j.cancel_requested_at END
            FROM target t
            WHERE j.id = t.id AND t.status IN ('queued', 'running')
            RETURNING j.id, j.status
        ), notified AS (
            SELECT pg_notify('{CancelChannel}', id::text) FROM changed WHERE status = 'running'
        )
        SELECT (SELECT status FROM target), (SELECT status FROM changed),
               (SELECT count(*) FROM notified)
        """;

    private const string RequeueSql = """
        WITH target AS (
            SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE
        ), changed AS (
            UPDATE jobs j
            SET status = 'queued', run_at = now(), tries = 0, cancel_requested_at = NULL
            FROM target t
            WHERE j.id = t.id AND t.status IN ('completed', 'failed', 'cancelled')
            RETURNING j.id
        )
        SELECT (SELECT status FROM target), (SELECT count(*) FROM changed)
        """;

    private const string DeleteSql = """
        WITH target AS (
            SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE
        ), removed AS (
            DELETE FROM jobs j USING target t
            WHERE j.id = t.id AND t.status <> 'running'
            RETURNING j.id
        )
        SELECT (SELECT status FROM target), (SELECT count(*) FROM removed)
        """;

    /// <summary>Channel that carries the id of a running job whose cancellation was requested.
    /// </summary>
    public const string CancelChannel = "jobscheduler_cancel";

    /// <summary>Cancels a queued job, or asks the owner of a running one to kill it. Returns
    /// the status found (null when the job does not exist) and whether anything changed.
    /// </summary>
    public async Task<(string? Found, bool Changed)> CancelAsync(
        long id, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(CancelSql);
        command.Parameters.Add(new() { Value = id });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (NullableText(reader, 0), !reader.IsDBNull(1));
    }

    /// <summary>Puts a finished job back in the queue, due now, with its attempts reset.
    /// Returns the status found (null when absent) and whether it was queued.</summary>
    public Task<(string? Found, bool Changed)> RequeueAsync(long id, CancellationToken cancellationToken) =>
        ChangeAsync(RequeueSql, id, cancellationToken);

    /// <summary>Deletes a job that is not running, with its run history. Returns the status
    /// found (null when absent) and whether it was deleted.</summary>
    public Task<(string? Found, bool Changed)> DeleteAsync(long id, CancellationToken cancellationToken) =>
        ChangeAsync(DeleteSql, id, cancellationToken);

    private async Task<(string? Found, bool Changed)> ChangeAsync(
        string sql, long id, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.Add(new() { Value = id });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (NullableText(reader, 0), reader.GetInt64(1) == 1);
    }

    /// <summary>Inserts a job; returns null when the name is taken.</summary>
    public async Task<Job?> CreateAsync(NewJob job, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(InsertSql);
        command.Parameters.Add(new() { Value = job.Name });
        command.Parameters.Add(new() { Value = job.Command });
        command.Parameters.Add(new() { Value = job.Priority });
        command.Parameters.Add(new()
        {
            Value = (object?)job.RunAt ?? DBNull.Value,
            NpgsqlDbType = NpgsqlDbType.TimestampTz,
        });
        command.Parameters.Add(new()
        {
            Value = (object?)job.TimeoutSeconds ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer,
        });
        command.Parameters.Add(new() { Value = job.MaxAttempts });
        command.Parameters.Add(new() { Value = job.RetryDelaySeconds });
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            return ReadJob(reader);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return null;
        }
    }

    public async Task<Job?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(GetSql);
        command.Parameters.Add(new() { Value = id });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadJob(reader) : null;
    }

    /// <summary>Lists jobs newest first, without their output.</summary>
    public async Task<IReadOnlyList<Job>> ListAsync(
        string? status, long? beforeId, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ListSql);
        command.Parameters.Add(new()
        {
            Value = (object?)status ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text,
        });
        command.Parameters.Add(new()
        {
            Value = (object?)beforeId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint,
        });
        command.Parameters.Add(new() { Value = limit });
        var jobs = new List<Job>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            jobs.Add(ReadJob(reader));
        }

        return jobs;
    }

    public async Task<JobStats> StatsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(StatsSql);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new JobStats(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2),
            reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), limit);
    }

    public async Task<IReadOnlyList<JobRun>> RunsAsync(long jobId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(RunsSql);
        command.Parameters.Add(new() { Value = jobId });
        var runs = new List<JobRun>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            runs.Add(new JobRun(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2),
                reader.GetString(3), reader.GetString(4), reader.GetDateTime(5),
                NullableDate(reader, 6), NullableInt(reader, 7), NullableText(reader, 8),
                NullableText(reader, 9)));
        }

        return runs;
    }

    private static Job ReadJob(NpgsqlDataReader reader) => new(
        Id: reader.GetInt64(0),
        Name: reader.GetString(1),
        Command: reader.GetString(2),
        Status: reader.GetString(3),
        Priority: reader.GetInt32(4),
        RunAt: reader.GetDateTime(5),
        Attempt: reader.GetInt32(6),
        Node: NullableText(reader, 7),
        LastRun: NullableDate(reader, 8),
        HeartbeatAt: NullableDate(reader, 9),
        FinishedAt: NullableDate(reader, 10),
        ExitCode: NullableInt(reader, 11),
        Error: NullableText(reader, 12),
        CreatedAt: reader.GetDateTime(13),
        UpdatedAt: reader.GetDateTime(14),
        TimeoutSeconds: NullableInt(reader, 15),
        MaxAttempts: reader.GetInt32(16),
        RetryDelaySeconds: reader.GetInt32(17),
        Tries: reader.GetInt32(18),
        CancelRequestedAt: NullableDate(reader, 19),
        Output: NullableText(reader, 20));

    private static string? NullableText(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static DateTime? NullableDate(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetDateTime(ordinal);

    private static int? NullableInt(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt32(ordinal);
}
