using Npgsql;
using NpgsqlTypes;

namespace JobScheduler.Data;

/// <summary>The statements behind the API and the dashboard: create, read, list, count, cancel,
/// requeue and delete. The dashboard's paged search is in JobQueries.Search.cs.</summary>
public sealed partial class JobQueries(NpgsqlDataSource dataSource)
{
    private const string Columns = """
        id, name, command, status, priority, run_at, attempt, node, last_run, heartbeat_at,
        finished_at, exit_code, error, created_at, updated_at, timeout_seconds, max_attempts,
        retry_delay_seconds, tries, cancel_requested_at, schedule, time_zone, enabled
        """;

    private const string InsertSql = $"""
        INSERT INTO jobs (name, command, priority, run_at, timeout_seconds, max_attempts,
                          retry_delay_seconds, schedule, time_zone, enabled)
        VALUES ($1, $2, $3, coalesce($4, now()), $5, $6, $7, $8, $9, $10)
        RETURNING {Columns}, output
        """;

    // Many jobs in one statement, so they commit together and the insert trigger sends one
    // wake-up for all of them.
    private const string InsertManySql = """
        INSERT INTO jobs (name, command, priority, run_at, timeout_seconds, max_attempts,
                          retry_delay_seconds, schedule, time_zone, enabled)
        SELECT name, command, priority, coalesce(run_at, now()), timeout_seconds, max_attempts,
               retry_delay_seconds, schedule, time_zone, enabled
        FROM unnest($1::text[], $2::text[], $3::integer[], $4::timestamptz[], $5::integer[],
                    $6::integer[], $7::integer[], $8::text[], $9::text[], $10::boolean[])
             AS n(name, command, priority, run_at, timeout_seconds, max_attempts,
                  retry_delay_seconds, schedule, time_zone, enabled)
        RETURNING id, name
        """;

    private const string ExistingNamesSql = "SELECT name FROM jobs WHERE name = ANY($1) ORDER BY name";

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

    // job_counts contains deltas kept by triggers (Sql/0004), so this reads a few rows, not
    // every job. The row count per status shows when the rows are worth merging.
    private const string StatsSql = """
        SELECT status, sum(jobs)::bigint, count(*)
        FROM job_counts
        GROUP BY status
        """;

    // Merges the count rows that no open transaction has locked into one per status. Rows that a
    // writer has locked are skipped and merged next time. The delete and the insert commit
    // together, so readers see the old rows or the merged ones.
    private const string MergeCountsSql = """
        WITH merged AS (
            DELETE FROM job_counts
            WHERE id IN (SELECT id FROM job_counts FOR UPDATE SKIP LOCKED)
            RETURNING status, jobs
        )
        INSERT INTO job_counts (status, jobs)
        SELECT status, sum(jobs) FROM merged GROUP BY status
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

    /// <summary>Rows per status in <c>job_counts</c> above which a stats read merges them. Each
    /// writer that found every row held by another open transaction leaves one more.</summary>
    public const int MaxCountRowsPerStatus = 16;

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

    /// <summary>Columns a partial update may set, with their types.</summary>
    public static readonly IReadOnlyDictionary<string, NpgsqlDbType> UpdatableColumns =
        new Dictionary<string, NpgsqlDbType>
        {
            ["name"] = NpgsqlDbType.Text,
            ["command"] = NpgsqlDbType.Text,
            ["priority"] = NpgsqlDbType.Integer,
            ["run_at"] = NpgsqlDbType.TimestampTz,
            ["timeout_seconds"] = NpgsqlDbType.Integer,
            ["max_attempts"] = NpgsqlDbType.Integer,
            ["retry_delay_seconds"] = NpgsqlDbType.Integer,
            ["schedule"] = NpgsqlDbType.Text,
            ["time_zone"] = NpgsqlDbType.Text,
            ["enabled"] = NpgsqlDbType.Boolean,
        };

    /// <summary>
    /// Changes the given columns of a job that is not running. Returns the status found (null
    /// when the job does not exist), whether it changed, and whether the new name was taken.
    /// </summary>
    public async Task<(string? Found, bool Changed, bool DuplicateName)> UpdateAsync(
        long id, IReadOnlyDictionary<string, object?> changes, CancellationToken cancellationToken)
    {
        // Column names come only from UpdatableColumns; every value is a parameter.
        var assignments = new List<string>();
        await using var command = dataSource.CreateCommand();
        command.Parameters.Add(new() { Value = id });
        foreach (var (column, value) in changes)
        {
            command.Parameters.Add(new()
            {
                Value = value ?? DBNull.Value, NpgsqlDbType = UpdatableColumns[column],
            });
            assignments.Add($"{column} = ${command.Parameters.Count}");
        }

        command.CommandText = $"""
            WITH target AS (
                SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE
            ), changed AS (
                UPDATE jobs j SET {string.Join(", ", assignments)}
                FROM target t
                WHERE j.id = t.id AND t.status <> 'running'
                RETURNING j.id
            )
            SELECT (SELECT status FROM target), (SELECT count(*) FROM changed)
            """;
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            return (NullableText(reader, 0), reader.GetInt64(1) == 1, false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return (null, false, true);
        }
    }

    /// <summary>Inserts many jobs in one statement and returns their ids in the order given.
    /// When any name exists already, inserts none and returns the names that exist.</summary>
    public async Task<(IReadOnlyList<long>? Ids, IReadOnlyList<string> Existing)> CreateManyAsync(
        IReadOnlyList<NewJob> jobs, CancellationToken cancellationToken)
    {
        var names = jobs.Select(job => job.Name).ToArray();
        await using var command = dataSource.CreateCommand(InsertManySql);
        command.Parameters.Add(new() { Value = names });
        command.Parameters.Add(new() { Value = jobs.Select(job => job.Command).ToArray() });
        command.Parameters.Add(new() { Value = jobs.Select(job => job.Priority).ToArray() });
        command.Parameters.Add(new()
        {
            Value = jobs.Select(job => job.RunAt).ToArray(),
            NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz,
        });
        command.Parameters.Add(new()
        {
            Value = jobs.Select(job => job.TimeoutSeconds).ToArray(),
            NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer,
        });
        command.Parameters.Add(new() { Value = jobs.Select(job => job.MaxAttempts).ToArray() });
        command.Parameters.Add(new() { Value = jobs.Select(job => job.RetryDelaySeconds).ToArray() });
        command.Parameters.Add(new()
        {
            Value = jobs.Select(job => job.Schedule).ToArray(),
            NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text,
        });
        command.Parameters.Add(new() { Value = jobs.Select(job => job.TimeZone).ToArray() });
        command.Parameters.Add(new() { Value = jobs.Select(job => job.Enabled).ToArray() });
        var idByName = new Dictionary<string, long>(jobs.Count, StringComparer.Ordinal);
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                idByName[reader.GetString(1)] = reader.GetInt64(0);
            }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            await using var existing = dataSource.CreateCommand(ExistingNamesSql);
            existing.Parameters.Add(new() { Value = names });
            var existingNames = new List<string>();
            await using var reader = await existing.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                existingNames.Add(reader.GetString(0));
            }

            return (null, existingNames);
        }

        return (names.Select(name => idByName[name]).ToList(), []);
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
        command.Parameters.Add(new()
        {
            Value = (object?)job.Schedule ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text,
        });
        command.Parameters.Add(new() { Value = job.TimeZone });
        command.Parameters.Add(new() { Value = job.Enabled });
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
        return await ReadJobsAsync(command, cancellationToken);
    }

    /// <summary>Reads the number of jobs per status from <c>job_counts</c>, and merges its rows
    /// when concurrent writers have left more than <see cref="MaxCountRowsPerStatus"/> for a
    /// status.</summary>
    public async Task<JobStats> StatsAsync(int limit, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var mostRows = 0L;
        await using (var command = dataSource.CreateCommand(StatsSql))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                counts[reader.GetString(0)] = reader.GetInt64(1);
                mostRows = Math.Max(mostRows, reader.GetInt64(2));
            }
        }

        if (mostRows > MaxCountRowsPerStatus)
        {
            await using var merge = dataSource.CreateCommand(MergeCountsSql);
            await merge.ExecuteNonQueryAsync(cancellationToken);
        }

        long Count(string status) => counts.GetValueOrDefault(status);
        return new JobStats(Count(JobStatus.Queued), Count(JobStatus.Running),
            Count(JobStatus.Completed), Count(JobStatus.Failed), Count(JobStatus.Cancelled),
            counts.Values.Sum(), limit);
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

    private static async Task<IReadOnlyList<Job>> ReadJobsAsync(
        NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var jobs = new List<Job>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            jobs.Add(ReadJob(reader));
        }

        return jobs;
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
        Schedule: NullableText(reader, 20),
        TimeZone: reader.GetString(21),
        Enabled: reader.GetBoolean(22),
        Output: NullableText(reader, 23));

    private static string? NullableText(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static DateTime? NullableDate(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetDateTime(ordinal);

    private static int? NullableInt(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt32(ordinal);
}
