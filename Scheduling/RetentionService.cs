using JobScheduler.Data;
using Npgsql;

namespace JobScheduler.Scheduling;

/// <summary>
/// Prunes history past the retention settings of <c>scheduler_config</c>, in small batches so
/// no statement holds many locks: finished runs older than run_retention_days (every job keeps
/// its latest run), and finished one-off jobs older than job_retention_days. One instance at a
/// time prunes; the others skip the round.
/// </summary>
public sealed class RetentionService(
    NpgsqlDataSource dataSource,
    LiveConfig config,
    DatabaseStatus database,
    ILogger<RetentionService> logger) : BackgroundService
{
    /// <summary>Advisory lock key held by the instance that prunes.</summary>
    public const long RetentionLockKey = 0x4A6F_6253_6368_0003;

    public const int BatchSize = 1000;

    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(10);

    // The first round waits until start-up work (migrations, rescheduling) and the first claims
    // are done.
    private static readonly TimeSpan FirstRoundDelay = TimeSpan.FromMinutes(1);

    // The latest run of each job stays, so a recurring job always shows its last result.
    private const string PruneRunsSql = """
        WITH doomed AS (
            SELECT r.id
            FROM job_runs r
            WHERE r.finished_at < now() - make_interval(days => $1)
              AND r.attempt < (SELECT max(latest.attempt) FROM job_runs latest
                               WHERE latest.job_id = r.job_id)
            LIMIT $2
        )
        DELETE FROM job_runs WHERE id IN (SELECT id FROM doomed)
        """;

    private const string PruneJobsSql = """
        WITH doomed AS (
            SELECT id
            FROM jobs
            WHERE schedule IS NULL
              AND status IN ('completed', 'failed', 'cancelled')
              AND finished_at < now() - make_interval(days => $1)
            LIMIT $2
        )
        DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)
        """;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await database.SchemaReady.WaitAsync(stoppingToken);
        await Task.Delay(FirstRoundDelay, stoppingToken);
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                await PruneAsync(stoppingToken);
            }
            catch (Exception e) when (DatabaseStatus.IsOutage(e))
            {
                database.ReportOutage(e, "pruning old history");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Pruning old history failed; the next round is in {Interval}",
                    Interval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Runs one pruning round; returns how many runs and jobs it deleted.</summary>
    public async Task<(long Runs, long Jobs)> PruneAsync(CancellationToken cancellationToken)
    {
        long runs = 0;
        long jobs = 0;
        if (config.RunRetentionDays > 0)
        {
            runs = await PruneInBatchesAsync(PruneRunsSql, config.RunRetentionDays, cancellationToken);
        }

        if (config.JobRetentionDays > 0)
        {
            jobs = await PruneInBatchesAsync(PruneJobsSql, config.JobRetentionDays, cancellationToken);
        }

        if (runs > 0 || jobs > 0)
        {
            logger.LogInformation(
                "Pruned {Runs} runs older than {RunDays} days and {Jobs} finished jobs older " +
                "than {JobDays} days", runs, config.RunRetentionDays, jobs, config.JobRetentionDays);
        }

        return (runs, jobs);
    }

    private async Task<long> PruneInBatchesAsync(
        string sql, int days, CancellationToken cancellationToken)
    {
        long total = 0;
        while (true)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var lockCommand = new NpgsqlCommand(
                             "SELECT pg_try_advisory_xact_lock($1)", connection, transaction))
            {
                lockCommand.Parameters.Add(new() { Value = RetentionLockKey });
                if (!(bool)(await lockCommand.ExecuteScalarAsync(cancellationToken))!)
                {
                    return total;
                }
            }

            await using var delete = new NpgsqlCommand(sql, connection, transaction);
            delete.Parameters.Add(new() { Value = days });
            delete.Parameters.Add(new() { Value = BatchSize });
            var deleted = await delete.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            total += deleted;
            if (deleted < BatchSize)
            {
                return total;
            }

            // A pause between batches leaves room for the claim loop and the dashboard.
            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }
    }
}
