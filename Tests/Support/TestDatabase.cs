using JobScheduler.Hosting;
using Npgsql;
using Testcontainers.PostgreSql;

namespace JobScheduler.Tests.Support;

/// <summary>
/// The PostgreSQL server the tests use: the one named by JOBSCHEDULER_TEST_DB, else a
/// Testcontainers container. Each test gets a fresh database of its own on it.
/// </summary>
public static class TestDatabase
{
    public const string VariableName = "JOBSCHEDULER_TEST_DB";

    /// <summary>Set to 1 to keep this run's databases on the server after the tests, for a
    /// look at what a test left behind.</summary>
    public const string KeepVariableName = "JOBSCHEDULER_TEST_KEEP_DATABASES";

    /// <summary>Prefix of every database this run creates, so the cleanup drops this run's
    /// databases and leaves those of any other run on the same server alone.</summary>
    private static readonly string RunPrefix = "jobscheduler_test_" + Guid.NewGuid().ToString("N")[..8] + "_";

    private static PostgreSqlContainer? _container;
    private static string? _server;

    public static async Task StartAsync()
    {
        _server = Environment.GetEnvironmentVariable(VariableName);
        if (!string.IsNullOrEmpty(_server))
        {
            return;
        }

        try
        {
            _container = new PostgreSqlBuilder("postgres:15").Build();
            await _container.StartAsync();
            _server = _container.GetConnectionString();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                $"No test database: set {VariableName} to a PostgreSQL connection string (./test.sh " +
                "starts a private server and sets it), or run a Docker engine for Testcontainers. " +
                e.Message, e);
        }
    }

    public static async Task StopAsync()
    {
        if (_container is not null)
        {
            await _container.DisposeAsync();
            return;
        }

        if (_server is not null && Environment.GetEnvironmentVariable(KeepVariableName) != "1")
        {
            await DropRunDatabasesAsync();
        }
    }

    /// <summary>Drops every database this run created, also those a test derived from one
    /// (such as NAME_new), closing any connection a test left open.</summary>
    private static async Task DropRunDatabasesAsync()
    {
        await using var admin = new NpgsqlConnection(WithDatabase("postgres"));
        await admin.OpenAsync();
        var names = new List<string>();
        await using (var list = new NpgsqlCommand(
                         "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", admin))
        {
            list.Parameters.Add(new() { Value = RunPrefix });
            await using var reader = await list.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                names.Add(reader.GetString(0));
            }
        }

        foreach (var name in names)
        {
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
    }

    public static NpgsqlConnectionStringBuilder Server =>
        new(_server ?? throw new InvalidOperationException("TestDatabase.StartAsync has not run."));

    /// <summary>Creates an empty database and returns settings that point the daemon at it.
    /// </summary>
    public static async Task<Settings> CreateAsync(Dictionary<string, string?>? overrides = null)
    {
        var name = RunPrefix + Guid.NewGuid().ToString("N")[..16];
        await using (var admin = new NpgsqlConnection(WithDatabase("postgres")))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
            await create.ExecuteNonQueryAsync();
        }

        var server = Server;
        var variables = new Dictionary<string, string?>
        {
            ["DB_HOST"] = server.Host,
            ["DB_PORT"] = server.Port.ToString(),
            ["DB_NAME"] = name,
            ["DB_USER"] = server.Username,
            ["DB_PASSWORD"] = server.Password,
            ["LOG_DIR"] = "",
            ["NODE_NAME"] = "test-" + Guid.NewGuid().ToString("N")[..8],
        };
        foreach (var (key, value) in overrides ?? [])
        {
            variables[key] = value;
        }

        return Settings.Load(variables);
    }

    public static string WithDatabase(string database)
    {
        var builder = Server;
        builder.Database = database;
        builder.Pooling = false;
        return builder.ConnectionString;
    }
}
