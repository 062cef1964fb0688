using Npgsql;

namespace JobScheduler.Data;

/// <summary>Reads and writes the rows of <c>scheduler_config</c>.</summary>
public sealed class ConfigStore(NpgsqlDataSource dataSource)
{
    private const string ReadSql = "SELECT key, value FROM scheduler_config";

    private const string UpsertSql = """
        INSERT INTO scheduler_config (key, value, updated_at) VALUES ($1, $2, now())
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
        """;

    public async Task<IReadOnlyDictionary<string, string>> ReadAsync(
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ReadSql);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            values[reader.GetString(0)] = reader.GetString(1);
        }

        return values;
    }

    /// <summary>Writes already validated values, all or none.</summary>
    public async Task WriteAsync(
        IReadOnlyDictionary<string, string> values, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var (key, value) in values)
        {
            await using var command = new NpgsqlCommand(UpsertSql, connection, transaction);
            command.Parameters.Add(new() { Value = key });
            command.Parameters.Add(new() { Value = value });
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }
}
