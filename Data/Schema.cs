using System.Reflection;
using System.Text.RegularExpressions;
using JobScheduler.Hosting;
using Npgsql;

namespace JobScheduler.Data;

/// <summary>A numbered, forward-only change to the schema, embedded from <c>Sql/</c>.</summary>
public sealed record Migration(int Version, string Name, string Sql);

/// <summary>
/// Creates the database when it is missing and applies the embedded migrations. Safe when
/// several instances start at the same moment: creation tolerates a lost race, and migrations
/// run under one advisory lock in one transaction each.
/// </summary>
public static partial class Schema
{
    /// <summary>Advisory lock key that serializes migrations across instances.</summary>
    public const long MigrationLockKey = 0x4A6F_6253_6368_0001;

    public static IReadOnlyList<Migration> EmbeddedMigrations()
    {
        var assembly = typeof(Schema).Assembly;
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            var match = MigrationName().Match(resource);
            if (!match.Success)
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            migrations.Add(new Migration(
                int.Parse(match.Groups["version"].Value), match.Groups["name"].Value,
                reader.ReadToEnd()));
        }

        return migrations.OrderBy(migration => migration.Version).ToList();
    }

    public static async Task EnsureDatabaseExistsAsync(
        Settings settings, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            await using var probe = new NpgsqlConnection(settings.ConnectionString() + ";Pooling=false");
            await probe.OpenAsync(cancellationToken);
            return;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            logger.LogInformation("Database {DatabaseName} does not exist; creating it",
                settings.DbName);
        }

        await using var admin = new NpgsqlConnection(
            settings.ConnectionString(database: "postgres") + ";Pooling=false");
        await admin.OpenAsync(cancellationToken);
        await using var create = new NpgsqlCommand(
            "CREATE DATABASE " + QuoteIdentifier(settings.DbName), admin);
        try
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
            logger.LogInformation("Created database {DatabaseName}", settings.DbName);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DuplicateDatabase
                                              or PostgresErrorCodes.UniqueViolation)
        {
            // Another instance created it first.
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new InvalidOperationException(
                $"Database '{settings.DbName}' does not exist and user '{settings.DbUser}' may " +
                $"not create it. Create it once (createdb {settings.DbName}) or grant the user " +
                "CREATEDB.", e);
        }
    }

    /// <summary>Applies the migrations the database lacks; returns how many were applied.
    /// </summary>
    public static async Task<int> MigrateAsync(
        NpgsqlDataSource dataSource, ILogger logger, CancellationToken cancellationToken)
    {
        var migrations = EmbeddedMigrations();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        await ExecuteAsync(connection, $"SELECT pg_advisory_xact_lock({MigrationLockKey})",
            cancellationToken);
        await ExecuteAsync(connection, """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, cancellationToken);

        var applied = new HashSet<int>();
        await using (var select = new NpgsqlCommand("SELECT version FROM schema_migrations",
                         connection))
        await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                applied.Add(reader.GetInt32(0));
            }
        }

        var count = 0;
        foreach (var migration in migrations.Where(m => !applied.Contains(m.Version)))
        {
            logger.LogInformation("Applying migration {Version} {Name}", migration.Version,
                migration.Name);
            await ExecuteAsync(connection, migration.Sql, cancellationToken);
            await using var record = new NpgsqlCommand(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", connection);
            record.Parameters.Add(new() { Value = migration.Version });
            record.Parameters.Add(new() { Value = migration.Name });
            await record.ExecuteNonQueryAsync(cancellationToken);
            count++;
        }

        await transaction.CommitAsync(cancellationToken);

        var newest = migrations.Count == 0 ? 0 : migrations[^1].Version;
        if (applied.Count > 0 && applied.Max() > newest)
        {
            logger.LogWarning(
                "The database has schema version {DatabaseVersion}, newer than this build's " +
                "{BuildVersion}; a newer JobScheduler has used it, so upgrade this one",
                applied.Max(), newest);
        }

        return count;
    }

    public static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"") + "\"";

    private static async Task ExecuteAsync(
        NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    [GeneratedRegex(@"^Sql\.(?<version>\d{4})_(?<name>\w+)\.sql$")]
    private static partial Regex MigrationName();
}
