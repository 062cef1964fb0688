using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;

namespace JobScheduler.Bench.Sections;

/// <summary>
/// Section "bulk": adding many jobs through the API, 10,000 at a time with POST /api/jobs/bulk
/// against one at a time with POST /api/jobs, each on one kept-alive connection. Claiming is
/// paused, so no job runs while the inserts are timed.
/// </summary>
public static class BulkSection
{
    private const string Database = "bench_bulk";
    private const int JobsPerRequest = 10_000;
    private const int BulkRequests = 7;
    private const int SingleRequests = 2_200;

    /// <summary>Requests of each kind that are left out of the numbers, while the JIT compiler
    /// and the connection pool warm up.</summary>
    private const int WarmUpBulk = 2;

    private const int WarmUpSingle = 200;

    public static async Task RunAsync(BenchContext bench)
    {
        await bench.Cluster.RecreateDatabaseAsync(Database);
        await using var daemon = await Daemon.StartAsync(bench, "bulk", Database);
        var paused = await daemon.Client.PutAsJsonAsync("/api/config", new { paused = true });
        paused.EnsureSuccessStatusCode();

        Report.Progress($"bulk: {BulkRequests} requests of {JobsPerRequest} jobs");
        var bulk = new List<double>();
        for (var request = 0; request < BulkRequests; request++)
        {
            var jobs = Enumerable.Range(0, JobsPerRequest)
                .Select(i => new { name = $"bulk-{request}-{i}", command = "exit 0" })
                .ToList();
            var clock = Stopwatch.StartNew();
            var response = await daemon.Client.PostAsJsonAsync("/api/jobs/bulk", new { jobs });
            var elapsed = clock.Elapsed.TotalMilliseconds;
            await ExpectCreatedAsync(response, "POST /api/jobs/bulk");
            if (request >= WarmUpBulk)
            {
                bulk.Add(elapsed);
            }
        }

        Report.Progress($"bulk: {SingleRequests} jobs one request each");
        var single = new List<double>();
        for (var request = 0; request < SingleRequests; request++)
        {
            var clock = Stopwatch.StartNew();
            var response = await daemon.Client.PostAsJsonAsync("/api/jobs",
                new { name = $"single-{request}", command = "exit 0" });
            var elapsed = clock.Elapsed.TotalMilliseconds;
            await ExpectCreatedAsync(response, "POST /api/jobs");
            if (request >= WarmUpSingle)
            {
                single.Add(elapsed);
            }
        }

        var bulkTimes = Distribution.Of(bulk);
        var singleTimes = Distribution.Of(single);
        var report = bench.Report;
        report.Heading("7. Adding many jobs through the API");
        report.Table(["request", "requests timed", "median ms", "max ms", "jobs/s at the median"],
        [
            [$"POST /api/jobs/bulk, {JobsPerRequest} jobs", bulkTimes.Count.ToString(),
                Format.Ms(bulkTimes.Median), Format.Ms(bulkTimes.Max),
                Format.Number(JobsPerRequest / bulkTimes.Median * 1000, "0")],
            ["POST /api/jobs, 1 job", singleTimes.Count.ToString(), Format.Ms(singleTimes.Median),
                Format.Ms(singleTimes.Max), Format.Number(1000 / singleTimes.Median, "0")],
        ]);
        report.Line($"Each kind on one kept-alive connection, one request at a time, claiming " +
                    $"paused; the first {WarmUpBulk} bulk and {WarmUpSingle} single requests " +
                    "are left out. The time runs from sending the request to reading the " +
                    "201 response.");
    }

    /// <summary>Throws with the response's body unless the request returned 201.</summary>
    private static async Task ExpectCreatedAsync(HttpResponseMessage response, string request)
    {
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException(
                $"{request} returned {(int)response.StatusCode}, expected 201: " +
                await response.Content.ReadAsStringAsync());
        }
    }
}
