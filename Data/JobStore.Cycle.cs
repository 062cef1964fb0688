using Npgsql;
using NpgsqlTypes;

namespace JobScheduler.Data;

/// <summary>What one cycle should do: write these results, refresh the heartbeat of the jobs
/// running here, and claim up to the limit unless claiming is off (stopping, paused, or only
/// results to write). <see cref="Limit"/> and <see cref="Paused"/> are the last valid values,
/// used only when the stored ones are invalid. After a failed cycle, <see cref="RecoverLostClaims"/> puts back jobs that
/// the failed cycle claimed without this instance learning of it.</summary>
public sealed record CycleRequest(
    string Node,
    IReadOnlyList<JobResult> Results,
    bool Claim,
    int Limit,
    TimeSpan LeaseTimeout,
    IReadOnlyList<long> Running,
    bool RecoverLostClaims = false,
    bool Paused = false);

/// <summary>What one cycle did. <see cref="Recorded"/> maps each written result, by job id and
/// attempt, to the job's new status; a result missing there was not written because the job no
/// longer runs on this node (its lease was lost, or it was changed by hand).</summary>
public sealed record CycleOutcome(
    IReadOnlyDictionary<string, string> Config,
    IReadOnlyDictionary<(long JobId, int Attempt), string> Recorded,
    IReadOnlyList<ClaimedJob> Claimed,
    IReadOnlyList<ReleasedJob> Released,
    long RunningAfter,
    TimeSpan? NextDueIn,
    bool SchedulesNeedWork,
    int LostClaimsRecovered);

public sealed partial class JobStore
{
    // Writes many results at once. A failed run with attempts left goes back to the queue after
    // an exponential backoff with jitter (0.75 to 1.25 times retry_delay_seconds * 2^(tries - 1),
    // at most a day). Otherwise a recurring job (next_run_at set) goes back to the queue for its
    // next occurrence with its tries reset, and a one-off job keeps the run's status. Only the
    // owner's current attempt is written: a retried write, or one that lost its lease to another
    // instance, changes nothing.
    private const string CompleteManySql = """
        WITH input AS (
            SELECT *
            FROM unnest($2::bigint[], $3::integer[], $4::text[], $5::timestamptz[],
                        $6::integer[], $7::text[], $8::text[], $9::timestamptz[])
                 AS r(id, attempt, status, finished_at, exit_code, error, output, next_run_at)
        ), finished AS (
            UPDATE jobs j
            SET status = CASE
                    WHEN r.status = 'failed' AND j.tries < j.max_attempts THEN 'queued'
                    WHEN r.next_run_at IS NOT NULL THEN 'queued'
                    ELSE r.status END,
                run_at = CASE
                    WHEN r.status = 'failed' AND j.tries < j.max_attempts
                    THEN now() + make_interval(secs => least(
                        j.retry_delay_seconds * power(2, j.tries - 1), 86400) * (0.75 + random() / 2))
                    WHEN r.next_run_at IS NOT NULL THEN r.next_run_at
                    ELSE j.run_at END,
                tries = CASE
                    WHEN r.status = 'failed' AND j.tries < j.max_attempts THEN j.tries
                    WHEN r.next_run_at IS NOT NULL THEN 0
                    ELSE j.tries END,
                finished_at = r.finished_at, exit_code = r.exit_code, error = r.error,
                output = r.output, heartbeat_at = NULL, cancel_requested_at = NULL
            FROM input r
            WHERE j.id = r.id AND j.attempt = r.attempt AND j.node = $1 AND j.status = 'running'
            RETURNING j.id, j.attempt, j.status
        ), history AS (
            UPDATE job_runs h
            SET status = r.status, finished_at = r.finished_at, exit_code = r.exit_code,
                error = r.error, output = r.output
            FROM input r JOIN finished f ON f.id = r.id AND f.attempt = r.attempt
            WHERE h.job_id = r.id AND h.attempt = r.attempt
        )
        SELECT id, attempt, status FROM finished
        """;

    // Returns its rows, as every statement of the batch does, so the reader moves through the
    // results one statement at a time.
    private const string OwnHeartbeatSql = """
        UPDATE jobs SET heartbeat_at = now()
        WHERE status = 'running' AND node = $1 AND id = ANY($2)
        RETURNING id
        """;

    // A cycle whose reply was lost (the connection broke after the commit) claimed jobs that this
    // instance never started. They are the running rows of this node that it does not run. They
    // go back to the queue as if never claimed, and their run rows are removed.
    private const string RecoverLostClaimsSql = """
        WITH lost AS (
            UPDATE jobs
            SET status = 'queued', node = NULL, heartbeat_at = NULL,
                attempt = attempt - 1, tries = greatest(tries - 1, 0)
            WHERE status = 'running' AND node = $1 AND NOT (id = ANY($2))
            RETURNING id, attempt + 1 AS attempt
        ), runs AS (
            DELETE FROM job_runs r USING lost l
            WHERE r.job_id = l.id AND r.attempt = l.attempt
        )
        SELECT id FROM lost
        """;

    // Whether any recurring job lacks its next occurrence; the partial index makes this cheap.
    private const string SchedulesNeedWorkSql = """
        SELECT EXISTS (
            SELECT 1 FROM jobs
            WHERE schedule IS NOT NULL AND enabled
              AND (status <> 'running' AND status <> 'queued' OR run_at = 'infinity'))
        """;

    /// <summary>
    /// Runs one scheduler cycle in a single round trip: one batch that PostgreSQL executes as one
    /// implicit transaction. It writes the finished results, takes the claim lock (so claimers
    /// on every instance take turns and each counts the others' claims), reads the live
    /// configuration, releases the jobs of instances whose lease expired, claims up to the free
    /// slots, and reports when the next delayed job is due.
    /// </summary>
    public async Task<CycleOutcome> CycleAsync(CycleRequest request, CancellationToken cancellationToken)
    {
        await using var batch = dataSource.CreateBatch();
        var results = request.Results;
        if (results.Count > 0)
        {
            batch.BatchCommands.Add(CompleteManyCommand(request.Node, results));
        }

        // The instance's own heartbeat comes before the release, so after an outage a cycle
        // never releases the jobs of the instance that runs it.
        batch.BatchCommands.Add(new(OwnHeartbeatSql)
        {
            Parameters = { new() { Value = request.Node }, new() { Value = request.Running.ToArray() } },
        });
        if (request.RecoverLostClaims)
        {
            batch.BatchCommands.Add(new(RecoverLostClaimsSql)
            {
                Parameters = { new() { Value = request.Node }, new() { Value = request.Running.ToArray() } },
            });
        }

        batch.BatchCommands.Add(new(ClaimLockSql) { Parameters = { new() { Value = ClaimLockKey } } });
        batch.BatchCommands.Add(new(ConfigSql));
        batch.BatchCommands.Add(new(ReleaseExpiredSql)
        {
            Parameters = { new() { Value = request.LeaseTimeout.TotalSeconds } },
        });
        if (request.Claim)
        {
            batch.BatchCommands.Add(new(ClaimSql)
            {
                Parameters =
                {
                    new() { Value = request.Node },
                    new() { Value = request.Limit },
                    new() { Value = request.Paused },
                },
            });
        }

        batch.BatchCommands.Add(new(RunningCountSql));
        batch.BatchCommands.Add(new(NextDueSql));
        batch.BatchCommands.Add(new(SchedulesNeedWorkSql));

        var recorded = new Dictionary<(long, int), string>();
        var config = new Dictionary<string, string>(StringComparer.Ordinal);
        var released = new List<ReleasedJob>();
        var claimed = new List<ClaimedJob>();
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (results.Count > 0)
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                recorded[(reader.GetInt64(0), reader.GetInt32(1))] = reader.GetString(2);
            }

            await reader.NextResultAsync(cancellationToken);
        }

        // The heartbeat's rows.
        await reader.NextResultAsync(cancellationToken);
        var recovered = 0;
        if (request.RecoverLostClaims)
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                recovered++;
            }

            await reader.NextResultAsync(cancellationToken);
        }

        // The advisory lock's row.
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            config[reader.GetString(0)] = reader.GetString(1);
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            released.Add(new ReleasedJob(reader.GetInt64(0), reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt32(3),
                reader.GetString(4)));
        }

        if (request.Claim)
        {
            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                claimed.Add(ReadClaimed(reader));
            }
        }

        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var running = reader.GetInt64(0);

        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        TimeSpan? nextDue = reader.IsDBNull(0) ? null : TimeSpan.FromSeconds(reader.GetDouble(0));

        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var schedulesNeedWork = reader.GetBoolean(0);

        return new CycleOutcome(config, recorded, claimed, released, running, nextDue,
            schedulesNeedWork, recovered);
    }

    /// <summary>Claims up to the free slots under the limit in force, read from
    /// <c>scheduler_config</c> by the claim itself, and returns what it claimed.</summary>
    public async Task<ClaimOutcome> ClaimAsync(
        string node, LiveConfig config, CancellationToken cancellationToken)
    {
        var outcome = await CycleAsync(
            new CycleRequest(node, [], true, config.MaxConcurrentJobs, TimeSpan.FromDays(3650), [],
                Paused: config.Paused),
            cancellationToken);
        config.Apply(outcome.Config);
        var claimed = outcome.Claimed
            .Select(job => job.TimeoutSeconds < 0 ? job with { TimeoutSeconds = config.DefaultTimeoutSeconds } : job)
            .ToList();
        return new ClaimOutcome(config.MaxConcurrentJobs, outcome.RunningAfter - claimed.Count,
            claimed, outcome.NextDueIn);
    }

    private static NpgsqlBatchCommand CompleteManyCommand(string node, IReadOnlyList<JobResult> results) =>
        new(CompleteManySql)
        {
            Parameters =
            {
                new() { Value = node },
                new() { Value = results.Select(r => r.JobId).ToArray() },
                new() { Value = results.Select(r => r.Attempt).ToArray() },
                new() { Value = results.Select(r => r.Status).ToArray() },
                new()
                {
                    Value = results.Select(r => r.FinishedAt).ToArray(),
                    NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz,
                },
                new()
                {
                    Value = results.Select(r => r.ExitCode).ToArray(),
                    NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer,
                },
                new()
                {
                    Value = results.Select(r => r.Error).ToArray(),
                    NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text,
                },
                new() { Value = results.Select(r => r.Output).ToArray() },
                new()
                {
                    Value = results.Select(r => r.NextRunAt).ToArray(),
                    NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz,
                },
            },
        };

    private static ClaimedJob ReadClaimed(NpgsqlDataReader reader) => new(
        Id: reader.GetInt64(0),
        Name: reader.GetString(1),
        Command: reader.GetString(2),
        Attempt: reader.GetInt32(3),
        StartedAt: reader.GetDateTime(4),
        // Null means the job takes default_timeout_seconds; the scheduler fills it in.
        TimeoutSeconds: reader.IsDBNull(5) ? -1 : reader.GetInt32(5),
        RunAt: reader.GetDateTime(6),
        Schedule: reader.IsDBNull(7) ? null : reader.GetString(7),
        TimeZone: reader.GetString(8));
}
