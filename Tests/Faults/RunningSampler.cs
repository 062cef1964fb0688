using System.Diagnostics;
using Npgsql;

namespace JobScheduler.Tests.Faults;

/// <summary>
/// Counts the <c>running</c> rows of the jobs table about every 20 ms on a connection of its
/// own, in the background, and keeps the highest count: the number that max_concurrent_jobs
/// bounds across every instance.
/// </summary>
public sealed class RunningSampler : IAsyncDisposable
{
    /// <summary>Longest time a sampler runs, so one that a test never stops still ends.
    /// </summary>
    private static readonly TimeSpan MaxDuration = TimeSpan.FromMinutes(5);

    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _peak;
    private long _samples;

    private RunningSampler(NpgsqlConnection connection)
    {
        _loop = SampleAsync(connection, _stop.Token);
    }

    public long Peak => Interlocked.Read(ref _peak);

    public long Samples => Interlocked.Read(ref _samples);

    public static async Task<RunningSampler> StartAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        return new RunningSampler(connection);
    }

    /// <summary>Stops sampling and rethrows any error the sampling loop hit.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (NpgsqlException)
        {
            // StopAsync reports sampling errors. Disposing after a failed test does not.
        }

        _stop.Dispose();
    }

    private async Task SampleAsync(NpgsqlConnection connection, CancellationToken stop)
    {
        await using var owned = connection;
        await using var count = new NpgsqlCommand(
            "SELECT count(*) FROM jobs WHERE status = 'running'", connection);
        var clock = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested && clock.Elapsed < MaxDuration)
        {
            var running = (long)(await count.ExecuteScalarAsync(CancellationToken.None))!;
            Interlocked.Increment(ref _samples);
            if (running > Interlocked.Read(ref _peak))
            {
                Interlocked.Exchange(ref _peak, running);
            }

            await Task.Delay(20, stop).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }
}
