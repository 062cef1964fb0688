using Npgsql;
using NpgsqlTypes;

namespace JobScheduler.Data;

/// <summary>What one cycle should do: write these results, release expired leases except
/// those of the jobs in <see cref="Running"/> (they run here), and claim up to the limit unless
/// claiming is off (stopping, paused, or only results to write). <see cref="Limit"/> and
/// <see cref="Paused"/> are the last valid values, used only when the stored ones are invalid.
/// After a failed cycle, <see cref="RecoverLostClaims"/> puts back jobs that the failed cycle
/// claimed without this instance learning of it.</summary>
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
    // The whole cycle is one call of a function defined by Sql/0005_cycle_function.sql, so a
    // cycle is one statement and one round trip.
    private const string CycleSql = """
        SELECT kind, id, attempt, status, name, command, node, started_at, timeout_seconds,
               run_at, schedule, time_zone, setting, value, running, next_due_seconds,
               schedules_need_work
        FROM jobscheduler_cycle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                $15, $16)
        """;

    /// <summary>
    /// Runs one scheduler cycle as one statement, which PostgreSQL executes as one transaction.
    /// It writes the finished results and takes the claim lock, so claimers on every instance
    /// take turns and each counts the others' claims. Then it reads the live configuration,
    /// releases the jobs of instances whose lease expired, claims up to the free slots, and
    /// reports when the next delayed job is due.
    /// </summary>
    public async Task<CycleOutcome> CycleAsync(CycleRequest request, CancellationToken cancellationToken)
    {
        var results = request.Results;
        await using var command = dataSource.CreateCommand(CycleSql);
        command.Parameters.AddRange(new NpgsqlParameter[]
        {
            new() { Value = request.Node },
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
            new()
            {
                Value = results.Select(r => r.Output).ToArray(),
                NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text,
            },
            new()
            {
                Value = results.Select(r => r.NextRunAt).ToArray(),
                NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz,
            },
            new() { Value = request.Running.ToArray() },
            new() { Value = request.RecoverLostClaims },
            new() { Value = request.Claim },
            new() { Value = request.Limit },
            new() { Value = request.Paused },
            new() { Value = request.LeaseTimeout.TotalSeconds },
            new() { Value = ClaimLockKey },
        });

        var recorded = new Dictionary<(long, int), string>();
        var config = new Dictionary<string, string>(StringComparer.Ordinal);
        var released = new List<ReleasedJob>();
        var claimed = new List<ClaimedJob>();
        var recovered = 0;
        long running = 0;
        TimeSpan? nextDue = null;
        var schedulesNeedWork = false;
        var summarized = false;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            switch (reader.GetString(0))
            {
                case "recorded":
                    recorded[(reader.GetInt64(1), reader.GetInt32(2))] = reader.GetString(3);
                    break;
                case "recovered":
                    recovered++;
                    break;
                case "setting":
                    config[reader.GetString(12)] = reader.GetString(13);
                    break;
                case "released":
                    released.Add(new ReleasedJob(reader.GetInt64(1), reader.GetString(4),
                        reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetInt32(2),
                        reader.GetString(3)));
                    break;
                case "claimed":
                    claimed.Add(new ClaimedJob(
                        Id: reader.GetInt64(1),
                        Name: reader.GetString(4),
                        Command: reader.GetString(5),
                        Attempt: reader.GetInt32(2),
                        StartedAt: reader.GetDateTime(7),
                        // Null means the job takes default_timeout_seconds; the scheduler
                        // fills it in.
                        TimeoutSeconds: reader.IsDBNull(8) ? -1 : reader.GetInt32(8),
                        RunAt: reader.GetDateTime(9),
                        Schedule: reader.IsDBNull(10) ? null : reader.GetString(10),
                        TimeZone: reader.GetString(11)));
                    break;
                case "summary":
                    running = reader.GetInt64(14);
                    nextDue = reader.IsDBNull(15) ? null : TimeSpan.FromSeconds(reader.GetDouble(15));
                    schedulesNeedWork = reader.GetBoolean(16);
                    summarized = true;
                    break;
            }
        }

        if (!summarized)
        {
            throw new InvalidOperationException(
                "The scheduler cycle returned no summary row, so the database function " +
                "jobscheduler_cycle does not match this daemon. Run the same version of " +
                "JobScheduler on every instance of this database.");
        }

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
}
