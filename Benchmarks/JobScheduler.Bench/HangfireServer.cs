using Hangfire;
using Hangfire.PostgreSql;

namespace JobScheduler.Bench;

/// <summary>
/// The Hangfire side of the comparison: Hangfire.Core with Hangfire.PostgreSql, configured for
/// its fastest pickup (LISTEN/NOTIFY long polling, 50 ms queue poll) and no automatic retries, as
/// the daemon's jobs have none by default.
/// </summary>
public static class HangfireServer
{
    public static PostgreSqlStorageOptions StorageOptions => new()
    {
        QueuePollInterval = TimeSpan.FromMilliseconds(50),
        EnableLongPolling = true,
        PrepareSchemaIfNecessary = true,
        SchemaName = "hangfire",
    };

    /// <summary>Points Hangfire's global configuration at the database, for the client in the
    /// harness and for the server process alike.</summary>
    public static void Configure(string connectionString)
    {
        GlobalConfiguration.Configuration
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UsePostgreSqlStorage(
                options => options.UseNpgsqlConnection(connectionString), StorageOptions);
        GlobalJobFilters.Filters.Add(new AutomaticRetryAttribute { Attempts = 0 });
    }

    /// <summary>
    /// Runs a Hangfire server with the given worker count until its stdin closes or reads
    /// "stop", then stops it gracefully. Prints "ready" once the server has started.
    /// Arguments: CONNECTION WORKERS.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length != 2 || !int.TryParse(args[1], out var workers) || workers < 1)
        {
            Console.Error.WriteLine("Usage: JobScheduler.Bench hangfire-server CONNECTION WORKERS");
            return 2;
        }

        Configure(args[0]);
        using (new BackgroundJobServer(new BackgroundJobServerOptions
               {
                   WorkerCount = workers,
                   ServerName = "bench-hangfire",
               }))
        {
            Console.WriteLine("ready");
            string? line;
            while ((line = await Console.In.ReadLineAsync()) is not null && line != "stop")
            {
            }
        }

        return 0;
    }
}

/// <summary>The Hangfire job: runs a shell command exactly as the daemon does.</summary>
public static class ShellJob
{
    public static async Task RunAsync(string command)
    {
        var exitCode = await ShellSpawner.RunAsync(command, ShellSpawner.SetsidExists);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"The command exited with code {exitCode}.");
        }
    }
}
