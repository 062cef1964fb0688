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

    /// <summary>How long a stopping daemon keeps retrying results while the database is down
    /// before it logs them and gives up.</summary>
    private static readonly TimeSpan ResultRetryLimitWhenStopping = TimeSpan.FromMinutes(5);

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
        using (stoppingToken.Register(() => OnStopping()))
        {
            await CycleLoopAsync(stoppingToken);
        }

        // Heartbeats went on while the last jobs finished, so no other instance took them for
        // dead; the loop ends only once every result is written.
        await heartbeatStop.CancelAsync();
        await heartbeats;
        logger.LogInformation("Scheduler {Node} stopped; no job of it is left running",
            scheduler.Node);
    }

    private void OnStopping()
    {
        scheduler.StopClaiming();
        var running = scheduler.RunningJobs;
        if (running.Count > 0)
        {
            logger.LogInformation(
                "Stopping: claiming stopped, waiting for {Count} running jobs to finish: {JobIds}",
                running.Count, running.Select(job => job.Id));
        }

        wake.Signal();
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

    /// <summary>
    /// Runs cycles until the host stops and every job of this instance has finished and been
    /// recorded. A cycle claims on every poll; with wake-ups on, also when a job is added or
    /// finishes, a slot frees or a delayed job becomes due. Results are written as soon as jobs
    /// finish, in the same round trip as the claim for the freed slots.
    /// </summary>
    private async Task CycleLoopAsync(CancellationToken stoppingToken)
    {
        // Waits end only when the loop does: stopping starts the drain, it does not end it.
        using var loopEnd = new CancellationTokenSource();
        using var timer = new PeriodicTimer(settings.CheckInterval, time);
        var tick = timer.WaitForNextTickAsync(loopEnd.Token).AsTask();
        var woken = wake.WaitAsync(loopEnd.Token);
        using var due = new DueTimer(time);
        var stopRequested = Task.Delay(Timeout.Infinite, stoppingToken)
            .ContinueWith(_ => { }, TaskScheduler.Default);
        var claim = true;
        var backoff = TimeSpan.Zero;
        DateTimeOffset? failingSince = null;
        try
        {
            while (true)
            {
                var stopping = stoppingToken.IsCancellationRequested;
                if (stopping && scheduler.RunningCount == 0 && !scheduler.HasPendingResults)
                {
                    return;
                }

                try
                {
                    var outcome = await scheduler.RunCycleAsync(claim && !stopping, CancellationToken.None);
                    LastCycleAt = time.GetUtcNow();
                    due.Set(settings.Wakeups ? outcome.NextDueIn : null, loopEnd.Token);
                    backoff = TimeSpan.Zero;
                    failingSince = null;
                }
                catch (Exception e) when (DatabaseStatus.IsOutage(e))
                {
                    database.ReportOutage(e, "running a scheduler cycle");
                    backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(500) : Backoff(backoff);
                    failingSince ??= time.GetUtcNow();
                }
                catch (Exception e)
                {
                    logger.LogError(e, "Scheduler cycle failed; the loop goes on");
                    backoff = backoff == TimeSpan.Zero ? TimeSpan.FromSeconds(1) : Backoff(backoff);
                    failingSince ??= time.GetUtcNow();
                }

                if (stopping && failingSince is { } since
                    && time.GetUtcNow() - since > ResultRetryLimitWhenStopping)
                {
                    scheduler.AbandonPendingResults(time.GetUtcNow() - since);
                    if (scheduler.RunningCount == 0)
                    {
                        return;
                    }
                }

                claim = false;
                if (backoff > TimeSpan.Zero)
                {
                    // A stop ends the wait at once, so an instance with nothing left to record
                    // exits without sitting out a backoff of up to 30 s.
                    var pause = Task.Delay(backoff, time, loopEnd.Token);
                    await (stopping ? pause : Task.WhenAny(pause, stopRequested));
                    claim = true;
                    continue;
                }

                await Task.WhenAny(tick, woken, due.Task);
                if (tick.IsCompleted)
                {
                    await tick;
                    claim = true;
                    tick = timer.WaitForNextTickAsync(loopEnd.Token).AsTask();
                }

                if (woken.IsCompleted)
                {
                    await woken;
                    // Without wake-ups only the poll claims; a wake-up then just writes results.
                    claim |= settings.Wakeups;
                    woken = wake.WaitAsync(loopEnd.Token);
                }

                if (due.Task.IsCompleted)
                {
                    claim = true;
                    due.Set(null, loopEnd.Token);
                }
            }
        }
        finally
        {
            await loopEnd.CancelAsync();
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
