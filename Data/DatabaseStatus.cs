using System.Net.Sockets;
using JobScheduler.Hosting;
using Npgsql;

namespace JobScheduler.Data;

/// <summary>
/// Whether the database is reachable and its schema is ready. Every component reports its
/// database errors here, so an outage is logged once when it starts and once when it ends,
/// however many loops keep retrying meanwhile.
/// </summary>
public sealed class DatabaseStatus(
    Settings settings, Scheduling.SchedulerMetrics metrics, ILogger<DatabaseStatus> logger)
{
    private readonly Lock _lock = new();
    private DateTime? _downSince;
    private int _failuresDuringOutage;

    private readonly TaskCompletionSource _schemaReady =
        new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsSchemaReady => _schemaReady.Task.IsCompleted;

    /// <summary>Completes once the database exists and every migration is applied.</summary>
    public Task SchemaReady => _schemaReady.Task;

    public bool IsReachable
    {
        get
        {
            lock (_lock)
            {
                return _downSince is null;
            }
        }
    }

    /// <summary>The last connection error during an outage, for the dashboard; null when up.
    /// </summary>
    public string? Problem { get; private set; }

    public DateTime? DownSince
    {
        get
        {
            lock (_lock)
            {
                return _downSince;
            }
        }
    }

    public void MarkSchemaReady() => _schemaReady.TrySetResult();

    public void ReportOutage(Exception error, string activity)
    {
        metrics.DatabaseErrors.Inc();
        lock (_lock)
        {
            _failuresDuringOutage++;
            Problem = Describe(error);
            if (_downSince is not null)
            {
                logger.LogDebug("Database still unreachable while {Activity}: {Error}",
                    activity, Problem);
                return;
            }

            _downSince = DateTime.UtcNow;
        }

        logger.LogWarning(
            "Database {Database} is unreachable while {Activity}: {Error}. Retrying with " +
            "backoff; running jobs go on and their results are written once it is back",
            settings.DatabaseDescription, activity, Problem);
    }

    /// <summary>Reports that an operation reached the database. One that began before the
    /// outage was reported (<paramref name="startedAt"/>) proves nothing about now, so it
    /// does not end the outage.</summary>
    public void ReportSuccess(DateTime? startedAt = null)
    {
        DateTime since;
        int failures;
        lock (_lock)
        {
            if (_downSince is null || startedAt < _downSince)
            {
                return;
            }

            since = _downSince.Value;
            failures = _failuresDuringOutage;
            _downSince = null;
            _failuresDuringOutage = 0;
            Problem = null;
        }

        logger.LogInformation(
            "Database {Database} is reachable again after {Outage:g} ({Failures} failed attempts)",
            settings.DatabaseDescription, DateTime.UtcNow - since, failures);
    }

    /// <summary>Tells a lost or refused connection, which is retried, from a bug or a bad
    /// statement, which is not. Npgsql raises <see cref="NpgsqlException"/> itself only for
    /// failures on the client side (connecting, reading, writing, timeouts, an exhausted pool);
    /// errors the server sends are <see cref="PostgresException"/>, judged by their SQL state.
    /// </summary>
    public static bool IsOutage(Exception error) => error switch
    {
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal)
            || pg.SqlState is "57P01" or "57P02" or "57P03" or "53300" or "3D000"
            || pg.IsTransient,
        NpgsqlException => true,
        SocketException or TimeoutException => true,
        _ => false,
    };

    private static string Describe(Exception error)
    {
        var message = error.Message;
        if (error.InnerException is { } inner && !message.Contains(inner.Message))
        {
            message += " (" + inner.Message + ")";
        }

        return message;
    }
}
