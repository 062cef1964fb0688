using Cronos;

namespace JobScheduler.Scheduling;

/// <summary>
/// A recurring job's cron schedule read in its time zone. Cronos computes the occurrences: on a
/// spring-forward day a time that does not exist runs once at the moment the clock jumps, and on
/// a fall-back day a repeated time runs once, at its first occurrence.
/// </summary>
public sealed class Recurrence
{
    private readonly CronExpression _expression;
    private readonly TimeZoneInfo _zone;

    private Recurrence(CronExpression expression, TimeZoneInfo zone)
    {
        _expression = expression;
        _zone = zone;
    }

    /// <summary>Parses a schedule of five fields (minute first), six fields (second first) or a
    /// macro such as @daily, in an IANA time zone; returns null with the reason when invalid.
    /// </summary>
    public static Recurrence? TryCreate(string schedule, string timeZone, out string? error)
    {
        var fields = schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var format = fields.Length == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard;
        CronExpression expression;
        try
        {
            expression = CronExpression.Parse(string.Join(' ', fields), format);
        }
        catch (CronFormatException e)
        {
            error = $"schedule '{schedule}' is not a valid cron expression ({e.Message}); use five " +
                    "fields (minute hour day-of-month month day-of-week) such as '30 2 * * *', or " +
                    "six with seconds first.";
            return null;
        }

        if (!TryFindZone(timeZone, out var zone))
        {
            error = $"time_zone '{timeZone}' is not a known IANA time zone; use a name such as " +
                    "'UTC', 'Europe/Berlin' or 'America/New_York'.";
            return null;
        }

        error = null;
        return new Recurrence(expression, zone!);
    }

    /// <summary>Returns the first occurrence strictly after the given instant, or null when the
    /// schedule never fires again (such as 30 February).</summary>
    public DateTime? NextAfter(DateTime afterUtc) =>
        _expression.GetNextOccurrence(DateTime.SpecifyKind(afterUtc, DateTimeKind.Utc), _zone);

    private static bool TryFindZone(string id, out TimeZoneInfo? zone)
    {
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            zone = null;
            return false;
        }
    }
}

/// <summary>Computes recurring jobs' next occurrences on an injectable clock.</summary>
public sealed class OccurrenceCalculator(TimeProvider time)
{
    /// <summary>Returns a recurring job's next occurrence after now, and after the occurrence it
    /// last ran for, so a clock behind the database's never repeats an occurrence; or the reason
    /// there is none.</summary>
    public (DateTime? Next, string? Error) Next(string schedule, string timeZone, DateTime? lastOccurrence)
    {
        var recurrence = Recurrence.TryCreate(schedule, timeZone, out var error);
        if (recurrence is null)
        {
            return (null, error);
        }

        var now = time.GetUtcNow().UtcDateTime;
        var after = lastOccurrence is { } last && last > now ? last : now;
        var next = recurrence.NextAfter(after);
        return next is null ? (null, $"schedule '{schedule}' never fires again.") : (next, null);
    }
}
