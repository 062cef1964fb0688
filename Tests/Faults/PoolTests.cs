using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Faults;

/// <summary>
/// A limit far above the database connection pool (30): jobs hold no connection while they
/// run, so 200 at once must neither exhaust the pool nor slow the API down. The daemon runs as
/// its own process so that its log can be searched for pool and timeout errors.
/// </summary>
[TestClass]
public sealed class PoolTests
{
    private const int Limit = 200;
    private const int JobCount = 400;
    private const int StatsRequests = 50;

    /// <summary>Generous deadline for one API request while 200 jobs start and finish on two
    /// cores. A request that waits for a pooled connection fails after the 5 s connection
    /// timeout set in Settings.ConnectionString.
    /// </summary>
    private static readonly TimeSpan RequestDeadline = TimeSpan.FromSeconds(10);

    [TestMethod]
    [DoNotParallelize]
    public async Task Limit200_With400Jobs_ApiRespondsAndAllComplete()
    {
        var settings = await TestDatabase.CreateAsync();
        var direct = settings.ConnectionString();
        await using var daemon = await DaemonProcess.StartAsync(settings);
        await Sql.ExecuteAsync(direct,
            $"UPDATE scheduler_config SET value = '{Limit}' WHERE key = 'max_concurrent_jobs'");
        await using var sampler = await RunningSampler.StartAsync(direct);

        await Sql.ExecuteAsync(direct, $"""
            INSERT INTO jobs (name, command)
            SELECT 'sleeper-' || i, 'sleep 1' FROM generate_series(1, {JobCount}) i
            """);
        await Eventually.WaitAsync(() => Task.FromResult(sampler.Peak), peak => peak == Limit,
            $"{Limit} jobs running at once");
        var answers = new List<(HttpStatusCode Status, string Body)>();
        for (var i = 0; i < StatsRequests; i++)
        {
            answers.Add(await GetStatsAsync(daemon.Client));
            // Spreads the requests over the run. Nothing waits on this for correctness.
            await Task.Delay(50);
        }

        await DaemonJobs.WaitForNoneLeftAsync(direct, TimeSpan.FromSeconds(90));
        await sampler.StopAsync();

        for (var i = 0; i < answers.Count; i++)
        {
            Assert.AreEqual(HttpStatusCode.OK, answers[i].Status,
                $"GET /api/stats number {i + 1}: {answers[i].Body}");
        }

        var runningSeen = answers.Select(answer => RunningCount(answer.Body)).ToList();
        Assert.IsTrue(runningSeen.Any(running => running > 0),
            "some requests were answered while jobs ran: " + string.Join(", ", runningSeen));
        Assert.AreEqual((long)Limit, sampler.Peak, "max running rows seen at once");
        Assert.AreEqual((long)JobCount, await DaemonJobs.CountAsync(direct, JobStatus.Completed));
        var output = daemon.Output;
        // An exhausted pool surfaces as an Npgsql timeout, which the daemon reports as the
        // database being unreachable.
        foreach (var problem in new[] { "[ERR]", "pool", "timeout", "timed out", "unreachable" })
        {
            Assert.IsFalse(Regex.IsMatch(output, Regex.Escape(problem), RegexOptions.IgnoreCase),
                $"the daemon's log contains '{problem}':\n{output}");
        }
    }

    private static async Task<(HttpStatusCode Status, string Body)> GetStatsAsync(
        HttpClient client)
    {
        using var deadline = new CancellationTokenSource(RequestDeadline);
        try
        {
            using var response = await client.GetAsync("/api/stats", deadline.Token);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"GET /api/stats got no answer within {RequestDeadline.TotalSeconds} s");
            throw;
        }
    }

    private static long RunningCount(string statsBody)
    {
        using var json = JsonDocument.Parse(statsBody);
        return json.RootElement.GetProperty("running").GetInt64();
    }
}
