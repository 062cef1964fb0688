using System.Globalization;
using JobScheduler.Data;

namespace JobScheduler.Pages;

/// <summary>Text forms of job values for the dashboard. The pages write them with <c>@</c>, so
/// Razor HTML-encodes them.</summary>
public static class Display
{
    public const int CommandPreviewLength = 60;

    /// <summary>Formats a UTC time as <c>yyyy-MM-dd HH:mm:ss</c>, or empty when absent.</summary>
    public static string Time(DateTime? utc) =>
        utc?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "";

    /// <summary>Formats a UTC time for a <c>datetime</c> attribute.</summary>
    public static string MachineTime(DateTime utc) =>
        utc.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>Formats a duration in ms, s, min or h, or empty when absent.</summary>
    public static string Duration(double? seconds)
    {
        if (seconds is not { } value || value < 0)
        {
            return "";
        }

        var span = TimeSpan.FromSeconds(value);
        return value switch
        {
            < 1 => FormattableString.Invariant($"{span.TotalMilliseconds:0} ms"),
            < 60 => FormattableString.Invariant($"{value:0.0} s"),
            < 3600 => FormattableString.Invariant(
                $"{(int)span.TotalMinutes} min {span.Seconds:00} s"),
            _ => FormattableString.Invariant($"{(int)span.TotalHours} h {span.Minutes:00} min"),
        };
    }

    /// <summary>Formats the time a job has run so far in whole seconds, as site.js does while
    /// it advances the value between polls. A negative span, from clock skew between the
    /// database and this machine, shows as 0 s.</summary>
    public static string Elapsed(TimeSpan elapsed)
    {
        var seconds = Math.Max(0, (long)elapsed.TotalSeconds);
        return seconds switch
        {
            < 60 => FormattableString.Invariant($"{seconds} s"),
            < 3600 => FormattableString.Invariant($"{seconds / 60} min {seconds % 60:00} s"),
            _ => FormattableString.Invariant($"{seconds / 3600} h {seconds / 60 % 60:00} min"),
        };
    }

    /// <summary>Returns the run_at of a queued, enabled job that is not due yet, or null for a
    /// job that is due, disabled or not queued.</summary>
    public static DateTime? LaterRunAt(Job job, DateTime nowUtc) =>
        job is { Status: JobStatus.Queued, Enabled: true } && job.RunAt > nowUtc
            ? job.RunAt
            : null;

    /// <summary>Tells whether run_at is 'infinity', which Npgsql reads as
    /// <see cref="DateTime.MaxValue"/>. A recurring job added by SQL has this run_at until a
    /// daemon sets its first occurrence.</summary>
    public static bool IsParked(DateTime runAt) => runAt == DateTime.MaxValue;

    /// <summary>Formats a timeout in seconds, where 0 means none.</summary>
    public static string Timeout(int seconds) =>
        seconds == 0 ? "none" : FormattableString.Invariant($"{seconds} s");

    /// <summary>Returns the run time of one run, to its finish or, while it runs, so far.
    /// </summary>
    public static double? RunSeconds(JobRun run) => run.FinishedAt is { } finished
        ? (finished - run.StartedAt).TotalSeconds
        : run.Status == JobStatus.Running ? (DateTime.UtcNow - run.StartedAt).TotalSeconds : null;

    /// <summary>Cuts text to <paramref name="maxLength"/> characters, marking a cut with an
    /// ellipsis.</summary>
    public static string Truncate(string text, int maxLength) =>
        text.Length <= maxLength ? text : text[..maxLength] + "…";

    /// <summary>Shortens a command to its first line and <see cref="CommandPreviewLength"/>
    /// characters, marking any cut with an ellipsis.</summary>
    public static string ShortCommand(string command)
    {
        var firstLine = command.Trim();
        var lineEnd = firstLine.IndexOfAny(['\r', '\n']);
        var cut = lineEnd >= 0;
        if (cut)
        {
            firstLine = firstLine[..lineEnd].TrimEnd();
        }

        if (firstLine.Length > CommandPreviewLength)
        {
            firstLine = firstLine[..CommandPreviewLength].TrimEnd();
            cut = true;
        }

        return cut ? firstLine + " …" : firstLine;
    }

    /// <summary>Lists the count of each status in the order of <see cref="JobStatus.All"/>.
    /// </summary>
    public static IReadOnlyList<(string Status, long Count)> Counts(JobStats stats) =>
    [
        (JobStatus.Queued, stats.Queued),
        (JobStatus.Running, stats.Running),
        (JobStatus.Completed, stats.Completed),
        (JobStatus.Failed, stats.Failed),
        (JobStatus.Cancelled, stats.Cancelled),
    ];
}
