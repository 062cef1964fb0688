using System.Globalization;
using JobScheduler.Data;

namespace JobScheduler.Pages;

/// <summary>The job table's status filter and keyset page, read from the query string.</summary>
public sealed record JobFilter(string? Status, long? Cursor, string? Problem)
{
    public static JobFilter All { get; } = new(null, null, null);

    /// <summary>Route values for links and polls that keep this filter and page.</summary>
    public object RouteValues => new { status = Status, cursor = Cursor };

    /// <summary>Parses the query values. An invalid value is dropped and described in
    /// <see cref="Problem"/>, so a mistyped link still shows a table.</summary>
    public static JobFilter Parse(string? status, string? cursor)
    {
        var problems = new List<string>();
        string? knownStatus = null;
        if (!string.IsNullOrEmpty(status))
        {
            if (JobStatus.IsKnown(status))
            {
                knownStatus = status;
            }
            else
            {
                problems.Add($"status '{status}' is unknown, so jobs of every status are shown; " +
                             $"use one of {string.Join(", ", JobStatus.All)}.");
            }
        }

        long? beforeId = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            if (long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                && id >= 1)
            {
                beforeId = id;
            }
            else
            {
                problems.Add($"cursor '{cursor}' is invalid, so the newest jobs are shown; " +
                             "page with the Older link.");
            }
        }

        return new JobFilter(knownStatus, beforeId,
            problems.Count == 0 ? null : string.Join(" ", problems));
    }
}
