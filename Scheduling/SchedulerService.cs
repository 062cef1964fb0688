using JobScheduler.Data;
using JobScheduler.Hosting;
using Npgsql;

namespace JobScheduler.Scheduling;

/// <summary>
/// Drives the scheduler: prepares the database, then claims on every poll and every wake-up
/// until the host stops, then waits for every running job and records its result.
/// </summary>
public sealed class SchedulerService(
    Settings settings,
    Scheduler scheduler,
    NpgsqlDataSource dataSource,
    DatabaseStatus database,
    WakeSignal wake,
    TimeProvider time,
    ILogger<SchedulerService> logger) : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>Time of the last claim cycle that reached the database, for readiness checks.
    /// </summary>
    public DateTimeOffset? LastCycleAt { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await PrepareDatabaseAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        try
        {
            // Occurrences missed while no daemon ran are skipped; the grace keeps an occurrence
            // that another live instance is about to claim from being moved.
            var grace = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMinutes(1).Ticks, 2 * settings.CheckInterval.Ticks));
            await scheduler.RescheduleAsync(grace, stoppingToken);
            await scheduler.RescheduleAsync(null, stoppingToken);
        }
        catch (Exception e) when (DatabaseStatus.IsOutage(e))
        {
            database.ReportOutage(e, "scheduling recurring jobs");
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        using var heartbeatStop = new CancellationTokenSource();
        var heartbeats = HeartbeatLoopAsync(heartbeatStop.Token);
        try
        {
            await ClaimLoopAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        scheduler.StopClaiming();
        var running = scheduler.RunningJobs;
        if (running.Count > 0)
        {
            logger.LogInformation(
                "Stopping: claiming stopped, waiting for {Count} running jobs to finish: {JobIds}",
                running.Count, running.Select(job => job.Id));
        }

        // Heartbeats go on while jobs finish, so no other instance takes them for dead.
        await scheduler.WaitForRunningJobsAsync();
        await heartbeatStop.CancelAsync();
        await heartbeats;
        logger.LogInformation("Scheduler {Node} stopped; no job of it is left running",
            scheduler.Node);
    }

    private async Task PrepareDatabaseAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        string? lastProblem = null;
        while (true)
        {
            try
            {
                await Schema.EnsureDatabaseExistsAsync(settings, logger, stoppingToken);
                var applied = await Schema.MigrateAsync(dataSource, logger, stoppingToken);
                database.MarkSchemaReady();
                database.ReportSuccess();
                logger.LogInformation(
                    "Database {Database} is ready ({Applied} migrations applied now); scheduler " +
                    "{Node} is claiming jobs", settings.DatabaseDescription, applied, scheduler.Node);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException
                                      || !stoppingToken.IsCancellationRequested)
            {
                database.ReportOutage(e, "preparing the database");
                var problem = e.Message;
                if (problem != lastProblem)
                {
                    logger.LogError(
                        "Cannot prepare database {Database}: {Error}. Check DB_HOST, DB_PORT, " +
                        "DB_NAME, DB_USER and DB_PASSWORD; retrying every {Delay:0} s at most",
                        settings.DatabaseDescription, problem, MaxBackoff.TotalSeconds);
                    lastProblem = problem;
                }
            }

            await Task.Delay(delay, time, stoppingToken);
            delay = Backoff(delay);
        }
    }

    private async Task ClaimLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.CheckInterval, time);
        var tick = timer.WaitForNextTickAsync(stoppingToken).AsTask();
        var woken = wake.WaitAsync(stoppingToken);
        var due = new DueTimer(time);
        var backoff = TimeSpan.Zero;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var outcome = await scheduler.ClaimAndStartAsync(stoppingToken);
                    LastCycleAt = time.GetUtcNow();
                    due.Set(outcome?.NextDueIn, stoppingToken);
                    backoff = TimeSpan.Zero;
                }
                catch (Exception e) when (DatabaseStatus.IsOutage(e))
                {
                    database.ReportOutage(e, "claiming jobs");
                    backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(500) : Backoff(backoff);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogError(e, "Claim cycle failed; the loop goes on");
                    backoff = backoff == TimeSpan.Zero ? TimeSpan.FromSeconds(1) : Backoff(backoff);
                }

                if (backoff > TimeSpan.Zero)
                {
                    await Task.Delay(backoff, time, stoppingToken);
                    continue;
                }

                await Task.WhenAny(tick, woken, due.Task);
                if (tick.IsCompleted)
                {
                    if (!await tick)
                    {
                        return;
                    }

                    tick = timer.WaitForNextTickAsync(stoppingToken).AsTask();
                }

                if (woken.IsCompleted)
                {
                    await woken;
                    woken = wake.WaitAsync(stoppingToken);
                }
            }
        }
        finally
        {
            due.Dispose();
        }
    }

    /// <summary>Completes when the earliest delayed job becomes due; each cycle replaces it.
    /// </summary>
    private sealed class DueTimer(TimeProvider time) : IDisposable
    {
        // A job due in this many milliseconds more is claimed a moment late rather than with a
        // wake-up just before it is due.
        private static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(5);

        private CancellationTokenSource? _cancel;

        public Task Task { get; private set; } = new TaskCompletionSource().Task;

        public void Set(TimeSpan? dueIn, CancellationToken stoppingToken)
        {
            _cancel?.Cancel();
            _cancel?.Dispose();
            _cancel = null;
            if (dueIn is null)
            {
                Task = new TaskCompletionSource().Task;
                return;
            }

            _cancel = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            Task = Task.Delay(dueIn.Value + Margin, time, _cancel.Token)
                .ContinueWith(_ => { }, TaskScheduler.Default);
        }

        public void Dispose()
        {
            _cancel?.Cancel();
            _cancel?.Dispose();
        }
    }

    private async Task HeartbeatLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(settings.HeartbeatInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    await scheduler.HeartbeatAsync(stop);
                    await scheduler.RescheduleAsync(null, stop);
                }
                catch (Exception e) when (DatabaseStatus.IsOutage(e))
                {
                    database.ReportOutage(e, "sending heartbeats");
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogError(e, "Heartbeat failed; the next one is in {Interval} s",
                        settings.HeartbeatInterval.TotalSeconds);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private static TimeSpan Backoff(TimeSpan delay) =>
        TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxBackoff.Ticks));
}
