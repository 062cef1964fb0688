using JobScheduler.Scheduling;

namespace JobScheduler.Tests.Scheduling;

[TestClass]
public sealed class RecurrenceTests
{
    private const string NewYork = "America/New_York";

    [TestMethod]
    public void Daily0230_SpringForwardDay_RunsOnceAtTheJump()
    {
        var runs = Simulate("30 2 * * *", NewYork, Utc(2026, 3, 6, 12, 0), days: 4);

        CollectionAssert.AreEqual(new[]
        {
            Utc(2026, 3, 7, 7, 30), // 02:30 EST
            Utc(2026, 3, 8, 7, 0), // 02:30 does not exist; 03:00 EDT, when the clock jumps
            Utc(2026, 3, 9, 6, 30), // 02:30 EDT
            Utc(2026, 3, 10, 6, 30),
        }, runs);
    }

    [TestMethod]
    public void Daily0130_FallBackDay_RunsOnce()
    {
        var runs = Simulate("30 1 * * *", NewYork, Utc(2026, 10, 30, 12, 0), days: 4);

        CollectionAssert.AreEqual(new[]
        {
            Utc(2026, 10, 31, 5, 30), // 01:30 EDT
            Utc(2026, 11, 1, 5, 30), // the first 01:30, still EDT; the repeated one is skipped
            Utc(2026, 11, 2, 6, 30), // 01:30 EST
            Utc(2026, 11, 3, 6, 30),
        }, runs);
    }

    [TestMethod]
    public void Next_ClockBehindLastOccurrence_NeverRepeatsIt()
    {
        var clock = new ManualClock(Utc(2026, 1, 1, 2, 29, 59));
        var calculator = new OccurrenceCalculator(clock);

        var (next, error) = calculator.Next("30 2 * * *", "UTC", Utc(2026, 1, 1, 2, 30));

        Assert.IsNull(error);
        Assert.AreEqual(Utc(2026, 1, 2, 2, 30), next);
    }

    [TestMethod]
    public void Next_SixFields_ReadsSecondsFirst()
    {
        var calculator = new OccurrenceCalculator(new ManualClock(Utc(2026, 1, 1, 0, 0, 10)));

        var (next, _) = calculator.Next("*/15 * * * * *", "UTC", null);

        Assert.AreEqual(Utc(2026, 1, 1, 0, 0, 15), next);
    }

    [TestMethod]
    [DataRow("61 * * * *", "UTC", "not a valid cron expression")]
    [DataRow("* * *", "UTC", "not a valid cron expression")]
    [DataRow("0 0 30 2 *", "UTC", "never fires again")]
    [DataRow("0 2 * * *", "Mars/Olympus_Mons", "not a known IANA time zone")]
    public void Next_InvalidSchedule_ReturnsReason(string schedule, string zone, string expected)
    {
        var calculator = new OccurrenceCalculator(new ManualClock(Utc(2026, 1, 1, 0, 0)));

        var (next, error) = calculator.Next(schedule, zone, null);

        Assert.IsNull(next);
        StringAssert.Contains(error, expected);
    }

    /// <summary>Runs a recurring job on an injected clock: each run starts at its occurrence and
    /// takes five minutes, then the next occurrence is computed as the scheduler does.</summary>
    private static List<DateTime> Simulate(string schedule, string zone, DateTime start, int days)
    {
        var clock = new ManualClock(start);
        var calculator = new OccurrenceCalculator(clock);
        var runs = new List<DateTime>();
        DateTime? last = null;
        while (true)
        {
            var (next, error) = calculator.Next(schedule, zone, last);
            Assert.IsNull(error);
            if (next!.Value > start.AddDays(days))
            {
                return runs;
            }

            runs.Add(next.Value);
            clock.Now = next.Value.AddMinutes(5);
            last = next;
        }
    }

    private static DateTime Utc(int year, int month, int day, int hour, int minute, int second = 0) =>
        new(year, month, day, hour, minute, second, DateTimeKind.Utc);

    private sealed class ManualClock(DateTime now) : TimeProvider
    {
        public DateTime Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => new(Now, TimeSpan.Zero);
    }
}
