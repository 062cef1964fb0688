using System.Globalization;
using JobScheduler.Api;
using JobScheduler.Data;

namespace JobScheduler.Pages;

/// <summary>The job table's status filter, name search and keyset page, read from the query
/// string.</summary>
public sealed record JobFilter(string? Status, string? Search, long? Cursor, string? Problem)
{
    public static JobFilter All { get; } = new(null, null, null, null);

    /// <summary>Route values for links and polls that keep this filter and page.</summary>
    public object RouteValues => new { status = Status, q = Search, cursor = Cursor };

    /// <summary>Route values of this filter on its newest page.</summary>
    public object FirstPageRouteValues => new { status = Status, q = Search };

    /// <summary>Route values of another status with the same search, on its newest page.
    /// </summary>
    public object WithStatus(string? status) => new { status, q = Search };

    /// <summary>Route values of the page older than <paramref name="cursor"/>.</summary>
    public object WithCursor(long cursor) => new { status = Status, q = Search, cursor };

    /// <summary>Parses the query values. An invalid value is dropped and described in
    /// <see cref="Problem"/>, so a mistyped link still shows a table.</summary>
    public static JobFilter Parse(string? status, string? search, string? cursor)
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

        // No name is longer than a name may be, so a longer search matches nothing anyway.
        var text = search?.Trim();
        if (text?.Length > JobRequests.MaxNameLength)
        {
            text = text[..JobRequests.MaxNameLength];
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

        return new JobFilter(knownStatus, string.IsNullOrEmpty(text) ? null : text, beforeId,
            problems.Count == 0 ? null : string.Join(" ", problems));
    }
}
