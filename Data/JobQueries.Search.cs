using Npgsql;
using NpgsqlTypes;

namespace JobScheduler.Data;

/// <summary>One page of the dashboard's job table, newest first.</summary>
/// <param name="OlderCursor">The cursor of the next older page; null on the oldest page.</param>
/// <param name="SearchedDownTo">Set when a search too short for the trigram index stopped
/// before the oldest job: the lowest id it read. Older matches may exist below it.</param>
public sealed record JobListPage(
    IReadOnlyList<Job> Jobs, long? OlderCursor, long? SearchedDownTo);

public sealed partial class JobQueries
{
    /// <summary>Jobs a search reads in id order before it turns to the trigram index.</summary>
    public const int SearchWindow = 5000;

    /// <summary>Characters in a row that pg_trgm needs to index a substring search.</summary>
    public const int TrigramLength = 3;

    // Matches among the newest $5 jobs of the filter, read in id order. A term that is common
    // among recent jobs fills the page here, reading at most $5 rows. The ids come first, from
    // jobs_status_id_name_idx when a status is set, and only the matches are read in full.
    private const string RecentMatchesSql = $"""
        SELECT {Columns}, NULL AS output
        FROM jobs
        WHERE id IN (
            SELECT id
            FROM (
                SELECT id, name
                FROM jobs
                WHERE ($1::text IS NULL OR status = $1)
                  AND ($2::bigint IS NULL OR id < $2)
                ORDER BY id DESC
                LIMIT $5
            ) AS recent
            WHERE name ILIKE $3
            ORDER BY id DESC
            LIMIT $4
        )
        ORDER BY id DESC
        """;

    // The lowest id of that window, or no row when the filter has fewer jobs than the window.
    private const string WindowEndSql = """
        SELECT id
        FROM jobs
        WHERE ($1::text IS NULL OR status = $1)
          AND ($2::bigint IS NULL OR id < $2)
        ORDER BY id DESC
        OFFSET $3 - 1
        LIMIT 1
        """;

    // Matches older than the window. "id + 0" hides the primary key's order from the planner,
    // so it collects the matches through jobs_name_trgm_idx, or within a status through
    // jobs_status_id_name_idx, and sorts them. Walking ids instead would read every older row
    // when the matches are old ones.
    private const string OlderMatchesSql = $"""
        SELECT {Columns}, NULL AS output
        FROM jobs
        WHERE id IN (
            SELECT id
            FROM jobs
            WHERE ($1::text IS NULL OR status = $1)
              AND id < $2
              AND name ILIKE $3
            ORDER BY id + 0 DESC
            LIMIT $4
        )
        ORDER BY id DESC
        """;

    /// <summary>
    /// Reads one page of jobs, newest first: those of one status when <paramref name="status"/>
    /// is set, and those whose name contains <paramref name="nameContains"/>, ignoring case.
    /// A search first reads the newest <see cref="SearchWindow"/> jobs in id order, then the
    /// older ones through the trigram index. A term with no run of <see cref="TrigramLength"/>
    /// letters or digits cannot use that index, so its page stops at the window.
    /// </summary>
    public async Task<JobListPage> PageAsync(
        string? status, string? nameContains, long? beforeId, int pageSize,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(nameContains))
        {
            var rows = await ListAsync(status, beforeId, pageSize + 1, cancellationToken);
            return ToPage(rows, pageSize);
        }

        var pattern = ContainsPattern(nameContains);
        var (recent, windowEnd) = await RecentMatchesAsync(status, beforeId, pattern,
            pageSize + 1, cancellationToken);
        if (recent.Count > pageSize || windowEnd is null)
        {
            return ToPage(recent, pageSize);
        }

        if (!CanUseTrigramIndex(nameContains))
        {
            // The window's end is where the next page goes on.
            return new JobListPage(recent, windowEnd, windowEnd);
        }

        var older = await OlderMatchesAsync(status, windowEnd.Value, pattern,
            pageSize + 1 - recent.Count, cancellationToken);
        return ToPage([.. recent, .. older], pageSize);
    }

    /// <summary>Builds an ILIKE pattern that matches <paramref name="text"/> anywhere, with its
    /// own <c>%</c>, <c>_</c> and <c>\</c> escaped so they match only themselves.</summary>
    public static string ContainsPattern(string text) =>
        "%" + text.Replace(@"\", @"\\").Replace("%", @"\%").Replace("_", @"\_") + "%";

    /// <summary>Tells whether pg_trgm can extract a trigram from a substring search, which
    /// needs <see cref="TrigramLength"/> letters or digits in a row.</summary>
    public static bool CanUseTrigramIndex(string text)
    {
        var run = 0;
        foreach (var character in text)
        {
            run = char.IsLetterOrDigit(character) ? run + 1 : 0;
            if (run >= TrigramLength)
            {
                return true;
            }
        }

        return false;
    }

    private async Task<(IReadOnlyList<Job> Matches, long? WindowEnd)> RecentMatchesAsync(
        string? status, long? beforeId, string pattern, int limit,
        CancellationToken cancellationToken)
    {
        await using var batch = dataSource.CreateBatch();
        var matches = new NpgsqlBatchCommand(RecentMatchesSql);
        AddFilter(matches.Parameters, status, beforeId);
        matches.Parameters.Add(new() { Value = pattern });
        matches.Parameters.Add(new() { Value = limit });
        matches.Parameters.Add(new() { Value = SearchWindow });
        var windowEnd = new NpgsqlBatchCommand(WindowEndSql);
        AddFilter(windowEnd.Parameters, status, beforeId);
        windowEnd.Parameters.Add(new() { Value = SearchWindow });
        batch.BatchCommands.Add(matches);
        batch.BatchCommands.Add(windowEnd);

        var jobs = new List<Job>();
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            jobs.Add(ReadJob(reader));
        }

        await reader.NextResultAsync(cancellationToken);
        long? end = await reader.ReadAsync(cancellationToken) ? reader.GetInt64(0) : null;
        return (jobs, end);
    }

    private async Task<IReadOnlyList<Job>> OlderMatchesAsync(
        string? status, long beforeId, string pattern, int limit,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(OlderMatchesSql);
        AddFilter(command.Parameters, status, beforeId);
        command.Parameters.Add(new() { Value = pattern });
        command.Parameters.Add(new() { Value = limit });
        return await ReadJobsAsync(command, cancellationToken);
    }

    private static void AddFilter(NpgsqlParameterCollection parameters, string? status,
        long? beforeId)
    {
        parameters.Add(new()
        {
            Value = (object?)status ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text,
        });
        parameters.Add(new()
        {
            Value = (object?)beforeId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint,
        });
    }

    /// <summary>Cuts rows read with one extra to a page; the extra row only shows that an
    /// older page exists.</summary>
    private static JobListPage ToPage(IReadOnlyList<Job> rows, int pageSize)
    {
        var jobs = rows.Take(pageSize).ToList();
        var older = rows.Count > pageSize ? jobs[^1].Id : (long?)null;
        return new JobListPage(jobs, older, SearchedDownTo: null);
    }
}
