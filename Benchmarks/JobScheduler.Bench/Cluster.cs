using Npgsql;

namespace JobScheduler.Bench;

/// <summary>
/// The benchmark's PostgreSQL cluster. The daemon connects as the superuser given on the command
/// line. The harness does all its own work as the role <c>bench_client</c>, so that
/// pg_stat_statements can tell the daemon's statements from the harness's by user.
/// </summary>
public sealed class Cluster
{
    public const string ClientRole = "bench_client";

    private readonly NpgsqlConnectionStringBuilder _daemon;

    public Cluster(string connectionString)
    {
        _daemon = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false };
    }

    public string Host => _daemon.Host ?? "127.0.0.1";

    public int Port => _daemon.Port;

    public string DaemonUser => _daemon.Username ?? "postgres";

    public string DaemonPassword => _daemon.Password ?? "";

    /// <summary>Process id of the cluster's postmaster, for its CPU time.</summary>
    public int PostmasterId { get; private set; }

    /// <summary>Creates the harness role and the pg_stat_statements extension. Throws, naming
    /// the fix, when the extension is not preloaded.</summary>
    public async Task PrepareAsync()
    {
        await using var connection = new NpgsqlConnection(DaemonConnection("postgres"));
        await connection.OpenAsync();
        await Sql.ExecuteAsync(connection, $"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ClientRole}') THEN
                    CREATE ROLE {ClientRole} LOGIN SUPERUSER PASSWORD '{ClientRole}';
                END IF;
            END
            $$
            """);
        var preload = (string)(await Sql.ScalarAsync(connection, "SHOW shared_preload_libraries"))!;
        if (!preload.Contains("pg_stat_statements", StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                "pg_stat_statements is not in shared_preload_libraries of the cluster on port " +
                $"{Port}; bench.sh sets it up, or add it to postgresql.conf and restart.");
        }

        await Sql.ExecuteAsync(connection, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        var backend = (int)(await Sql.ScalarAsync(connection, "SELECT pg_backend_pid()"))!;
        PostmasterId = CpuMeter.Parent(backend);
    }

    /// <summary>Drops the database if it exists, with any connection to it, and creates it anew.
    /// </summary>
    public async Task RecreateDatabaseAsync(string database)
    {
        await using var connection = new NpgsqlConnection(ClientConnection("postgres", pooling: false));
        await connection.OpenAsync();
        await Sql.ExecuteAsync(connection, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        await Sql.ExecuteAsync(connection, $"CREATE DATABASE {database}");
    }

    public string DaemonConnection(string database) =>
        new NpgsqlConnectionStringBuilder(_daemon.ConnectionString)
        {
            Database = database,
        }.ConnectionString;

    public string ClientConnection(string database, bool pooling = true) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Database = database,
            Username = ClientRole,
            Password = ClientRole,
            Pooling = pooling,
            ApplicationName = "jobscheduler-bench",
            CommandTimeout = 600,
        }.ConnectionString;

    public NpgsqlDataSource ClientSource(string database) =>
        NpgsqlDataSource.Create(ClientConnection(database));
}

/// <summary>Short helpers for the harness's own statements.</summary>
public static class Sql
{
    public static async Task<int> ExecuteAsync(
        NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = Command(connection, sql, values);
        return await command.ExecuteNonQueryAsync();
    }

    public static async Task<object?> ScalarAsync(
        NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = Command(connection, sql, values);
        return await command.ExecuteScalarAsync();
    }

    public static async Task<int> ExecuteAsync(
        NpgsqlDataSource source, string sql, params object[] values)
    {
        await using var connection = await source.OpenConnectionAsync();
        return await ExecuteAsync(connection, sql, values);
    }

    public static async Task<object?> ScalarAsync(
        NpgsqlDataSource source, string sql, params object[] values)
    {
        await using var connection = await source.OpenConnectionAsync();
        return await ScalarAsync(connection, sql, values);
    }

    public static async Task<List<object?[]>> RowsAsync(
        NpgsqlDataSource source, string sql, params object[] values)
    {
        await using var connection = await source.OpenConnectionAsync();
        await using var command = Command(connection, sql, values);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, object[] values)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return command;
    }
}
