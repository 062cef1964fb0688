namespace JobScheduler.Pages;

/// <summary>Suggestions that the job forms offer for the schedule and time zone fields.
/// </summary>
public static class ScheduleHints
{
    /// <summary>The id of the datalist of <see cref="TimeZones"/>.</summary>
    public const string TimeZoneListId = "time-zone-names";

    /// <summary>The id of the datalist of <see cref="Examples"/>.</summary>
    public const string ScheduleListId = "schedule-examples";

    /// <summary>Cron expressions with what they mean, as the README's table lists them.</summary>
    public static IReadOnlyList<(string Schedule, string Meaning)> Examples { get; } =
    [
        ("30 2 * * *", "every day at 02:30"),
        ("*/15 * * * *", "every 15 minutes"),
        ("0 9 * * 1-5", "at 09:00 on weekdays"),
        ("0 0 1 * *", "at midnight on the first of each month"),
        ("*/10 * * * * *", "every 10 seconds (six fields)"),
    ];

    /// <summary>Common IANA time zone names. Any other IANA name is accepted as well.</summary>
    public static IReadOnlyList<string> TimeZones { get; } =
    [
        "UTC",
        "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin",
        "Europe/Amsterdam", "Europe/Madrid", "Europe/Rome", "Europe/Zurich", "Europe/Vienna",
        "Europe/Stockholm", "Europe/Warsaw", "Europe/Helsinki", "Europe/Athens",
        "Europe/Istanbul", "Europe/Moscow",
        "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
        "America/Los_Angeles", "America/Anchorage", "America/Toronto", "America/Vancouver",
        "America/Mexico_City", "America/Bogota", "America/Sao_Paulo",
        "America/Argentina/Buenos_Aires",
        "Africa/Lagos", "Africa/Cairo", "Africa/Johannesburg", "Africa/Nairobi",
        "Asia/Dubai", "Asia/Karachi", "Asia/Kolkata", "Asia/Bangkok", "Asia/Singapore",
        "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Seoul", "Asia/Tokyo",
        "Australia/Perth", "Australia/Sydney", "Pacific/Auckland", "Pacific/Honolulu",
    ];
}
