using JobScheduler.Data;
using Npgsql;

namespace JobScheduler.Scheduling;

/// <summary>
/// Listens for the database's wake-up notifications on one dedicated connection, so jobs added
/// by any client, even plain SQL, start without waiting for the next poll, and a cancellation
/// reaches the instance that runs the job at once. After a lost connection it listens again and
/// wakes the loop once, in case a notification was missed; heartbeats catch a missed
/// cancellation.
/// </summary>
public sealed class WakeListener(
    JobScheduler.Hosting.Settings settings,
    DatabaseStatus database,
    WakeSignal wake,
    Scheduler scheduler,
    ILogger<WakeListener> logger) : BackgroundService
{
    public const string Channel = "jobscheduler_wake";

    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await database.SchemaReady.WaitAsync(stoppingToken);
        if (!settings.Wakeups)
        {
            return;
        }

        var delay = TimeSpan.FromSeconds(1);
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(stoppingToken, onListening: () =>
                {
                    if (failing)
                    {
                        logger.LogInformation("Listening for wake-ups again");
                    }

                    failing = false;
                    delay = TimeSpan.FromSeconds(1);
                    wake.Signal();
                });
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (!failing && database.IsReachable)
                {
                    logger.LogWarning(
                        "Listening for wake-ups failed: {Error}. Jobs still start on the poll; " +
                        "retrying", e.Message);
                }

                failing = true;
            }

            await Task.Delay(delay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
        }
    }

    private async Task ListenAsync(CancellationToken stoppingToken, Action onListening)
    {
        // A connection of its own, outside the pool: pooled connections are not reset when
        // returned (see Settings.ConnectionString), so a LISTEN must never reach the pool.
        await using var connection = new NpgsqlConnection(settings.ConnectionString() + ";Pooling=false");
        await connection.OpenAsync(stoppingToken);
        connection.Notification += (_, notification) =>
        {
            if (notification.Channel == JobQueries.CancelChannel)
            {
                if (long.TryParse(notification.Payload, out var jobId))
                {
                    scheduler.RequestCancel(jobId);
                }

                return;
            }

            wake.Signal();
        };
        await using (var listen = new NpgsqlCommand(
                         $"LISTEN {Channel}; LISTEN {JobQueries.CancelChannel}", connection))
        {
            await listen.ExecuteNonQueryAsync(stoppingToken);
        }

        onListening();
        while (true)
        {
            // A connection that died silently shows up only when used, so it is probed
            // whenever no notification came for a while.
            if (!await connection.WaitAsync(ProbeInterval, stoppingToken))
            {
                await using var probe = new NpgsqlCommand("SELECT 1", connection);
                await probe.ExecuteScalarAsync(stoppingToken);
            }
        }
    }
}
