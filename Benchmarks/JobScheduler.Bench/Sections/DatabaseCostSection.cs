using System.Text.RegularExpressions;
using Npgsql;

namespace JobScheduler.Bench.Sections;

/// <summary>
/// Section "db": the daemon's database work per job and while idle. Round trips are counted by
/// a proxy between the daemon and PostgreSQL, statements by pg_stat_statements for the daemon's
/// role and database only (the harness works as another role).
/// </summary>
public static partial class DatabaseCostSection
{
    private const string Database = "bench_cost";

    private static readonly TimeSpan IdleWindow = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(10);

    public static async Task RunAsync(BenchContext bench)
    {
        await using var proxy = new RoundTripProxy(bench.Cluster.Host, bench.Cluster.Port);
        var selfCheck = await SelfCheckAsync(bench, proxy);

        await bench.Cluster.RecreateDatabaseAsync(Database);
        await using var daemon =
            await Daemon.StartAsync(bench, "cost", Database, databasePort: proxy.Port);
        await using var database = new JobsDatabase(bench.Cluster.ClientSource(Database));
        await using var statistics = new StatementStatistics(bench.Cluster, Database);

        // Idle: no jobs at all, with the default CHECK_INTERVAL (10 s) and HEARTBEAT_INTERVAL
        // (5 s), after the start-up work has settled.
        await Task.Delay(TimeSpan.FromSeconds(5));
        Report.Progress($"db: idle daemon for {IdleWindow.TotalSeconds:0} s");
        await statistics.ResetAsync();
        var before = proxy.Read();
        await Task.Delay(IdleWindow);
        var idleTrips = proxy.Read() - before;
        var idle = await statistics.ReadAsync();

        var jobs = Math.Min(bench.Options.Jobs, 2000);
        var costs = new List<JobCost>();
        foreach (var concurrency in bench.Options.Concurrency)
        {
            Report.Progress($"db: {jobs} jobs at {concurrency} through the counting proxy");
            await database.TruncateAsync();
            await daemon.SetLimitAsync(concurrency);
            await statistics.ResetAsync();
            before = proxy.Read();
            var runs = await DrainSection.DrainAsync(
                daemon, database, concurrency, jobs, $"cost-{concurrency}-");
            var trips = proxy.Read() - before;
            costs.Add(new JobCost(concurrency, runs.Runs, trips.RoundTrips, await statistics.ReadAsync()));
        }

        WriteReport(bench.Report, selfCheck, costs, idleTrips, idle);
    }

    private static void WriteReport(
        Report report, long selfCheck, List<JobCost> costs, RoundTripProxy.Counts idleTrips,
        Dictionary<string, long> idle)
    {
        report.Heading("3. Database cost");
        report.Line("Proxy self-check: a client sent 20 single statements, 10 batches of 3 and 5 " +
                    "transactions of one INSERT (BEGIN goes with the INSERT, then COMMIT): " +
                    $"expected 40 round trips, counted {selfCheck}.");
        report.Line();
        report.Table(["max_concurrent_jobs", "jobs run", "round trips per job", "statements per job"],
            costs.Select(cost => new[]
            {
                cost.Concurrency.ToString(), cost.Runs.ToString(),
                Format.Number(cost.RoundTrips / (double)cost.Runs, "0.00"),
                Format.Number(cost.Calls.Values.Sum() / (double)cost.Runs, "0.00"),
            }));
        report.Line("Per-job figures count everything the daemon sent while the jobs drained " +
                    "(claims, results, heartbeats), divided by the jobs run. Statements per job, " +
                    "by statement:");
        report.Line();
        var statements = costs.SelectMany(cost => cost.Calls.Keys).Distinct()
            .OrderByDescending(key => costs.Sum(cost => cost.Calls.GetValueOrDefault(key)));
        report.Table(["statement (start)", .. costs.Select(cost => $"at {cost.Concurrency}")],
            statements.Select(key => new[] { $"`{key}`" }
                .Concat(costs.Select(cost =>
                    Format.Number(cost.Calls.GetValueOrDefault(key) / (double)cost.Runs, "0.00")))
                .ToArray()));

        var idleStatements = idle.Values.Sum();
        report.Line($"Idle, no jobs, over {IdleWindow.TotalSeconds:0} s with CHECK_INTERVAL=10 and " +
                    $"HEARTBEAT_INTERVAL=5: {idleTrips.RoundTrips} round trips and " +
                    $"{idleStatements} statements besides the LISTEN connection " +
                    $"({idleTrips.ListenerRoundTrips} round trips on it), by statement:");
        report.Line();
        report.Table(["statement (start)", "calls"], idle
            .OrderByDescending(pair => pair.Value)
            .Select(pair => new[] { $"`{pair.Key}`", pair.Value.ToString() }));

        var first = costs[0];
        var intervals = IdleWindow / CheckInterval;
        report.AtMost($"round trips per job at {first.Concurrency}",
            first.RoundTrips / (double)first.Runs, 2);
        report.AtMost("idle round trips per CHECK_INTERVAL, besides LISTEN",
            idleTrips.RoundTrips / intervals, 1);
        report.AtMost("idle statements per CHECK_INTERVAL, besides LISTEN",
            idleStatements / intervals, 1);
    }

    /// <summary>Sends a known pattern through the proxy and returns the round trips it counted.
    /// </summary>
    private static async Task<long> SelfCheckAsync(BenchContext bench, RoundTripProxy proxy)
    {
        var connectionString = new NpgsqlConnectionStringBuilder(
            bench.Cluster.ClientConnection("postgres", pooling: false))
        {
            Port = proxy.Port,
        }.ConnectionString;
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await Sql.ExecuteAsync(connection, "CREATE TEMP TABLE bench_check (n int)");
        var before = proxy.Read();
        for (var i = 0; i < 20; i++)
        {
            await Sql.ScalarAsync(connection, "SELECT $1::int", i);
        }

        for (var i = 0; i < 10; i++)
        {
            await using var batch = new NpgsqlBatch(connection)
            {
                BatchCommands = { new("SELECT 1"), new("SELECT 2"), new("SELECT 3") },
            };
            await batch.ExecuteNonQueryAsync();
        }

        for (var i = 0; i < 5; i++)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            await using var insert =
                new NpgsqlCommand("INSERT INTO bench_check VALUES (1)", connection, transaction);
            await insert.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
        }

        return (proxy.Read() - before).RoundTrips;
    }

    private sealed record JobCost(
        int Concurrency, long Runs, long RoundTrips, Dictionary<string, long> Calls);

    /// <summary>The daemon's statements in one database, from pg_stat_statements.</summary>
    private sealed partial class StatementStatistics(Cluster cluster, string database)
        : IAsyncDisposable
    {
        private readonly NpgsqlDataSource _source = cluster.ClientSource("postgres");

        public Task ResetAsync() => Sql.ExecuteAsync(_source, "SELECT pg_stat_statements_reset()");

        /// <summary>Reads the calls per statement, keyed by the statement's first words. LISTEN
        /// and the listener's probe (<c>SELECT $1</c>) are left out.</summary>
        public async Task<Dictionary<string, long>> ReadAsync()
        {
            var rows = await Sql.RowsAsync(_source, """
                SELECT query, calls
                FROM pg_stat_statements
                WHERE userid = to_regrole($1)
                  AND dbid = (SELECT oid FROM pg_database WHERE datname = $2)
                  AND query NOT LIKE 'LISTEN %' AND query <> 'SELECT $1'
                """, cluster.DaemonUser, database);
            var calls = new Dictionary<string, long>();
            foreach (var row in rows)
            {
                var key = Shorten((string)row[0]!);
                calls[key] = calls.GetValueOrDefault(key) + (long)row[1]!;
            }

            return calls;
        }

        public ValueTask DisposeAsync() => _source.DisposeAsync();

        private static string Shorten(string query)
        {
            var words = Whitespace().Replace(query, " ").Trim().Replace("|", "\\|");
            return words.Length <= 60 ? words : words[..60] + "…";
        }

        [GeneratedRegex(@"\s+")]
        private static partial Regex Whitespace();
    }
}
