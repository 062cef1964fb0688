using System.Net;
using System.Text;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Api;

[TestClass]
public sealed class AbuseTests
{
    private static readonly string[] Paths =
    [
        "/api/jobs", "/api/jobs/create", "/api/config", "/api/stats", "/api/jobs/1",
        "/api/jobs/1/cancel", "/api/jobs/1/requeue", "/api/jobs/1/runs",
        "/api/jobs/-1", "/api/jobs/99999999999999999999999", "/api/jobs/1e3", "/api/jobs/%2e%2e/%2e%2e/etc/passwd",
        "/api/jobs/..%2f..%2fetc%2fpasswd", "/api//jobs", "/api/jobs/1/../../config", "/api/jobs?status=%00",
        "/api/jobs?limit=-5", "/api/jobs?limit=1;DROP TABLE jobs", "/api/jobs?cursor=0x10",
        "/api/jobs?status=queued&status=failed", "/api/jobs?cursor=%F0%28%8C%28",
    ];

    // Well-formed reads that may succeed; every other request here is malformed or hostile.
    private static readonly string[] ValidReads =
        ["/api/jobs", "/api/config", "/api/stats", "/api/jobs?status=queued&status=failed", "/api//jobs",
         "/api/jobs/1/../../config"];

    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

    [TestMethod]
    public async Task Api_ThousandHostileRequests_All4xxAndDaemonHealthy()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var random = new Random(20261204);
        var failures = new List<string>();

        for (var i = 0; i < 1000; i++)
        {
            using var request = BuildHostileRequest(random, i, out var description);
            var mayRead = request.Method == HttpMethod.Get
                && ValidReads.Contains(request.RequestUri!.OriginalString);
            using var response = await app.Client.SendAsync(request);
            var status = (int)response.StatusCode;
            if (status >= 500 || (status < 400 && !mayRead))
            {
                failures.Add($"{description} -> {status}");
            }
        }

        Assert.IsEmpty(failures, string.Join("\n", failures.Take(20)));
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs"), "no hostile request created a job");
        Assert.AreEqual("2", await Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = 'max_concurrent_jobs'"));
        var job = await app.CreateJobAsync("after-abuse", "echo still fine");
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Completed);
        Assert.AreEqual("still fine\n", done.Output);
    }

    [TestMethod]
    public async Task Api_ChunkedBodyOverLimit_Returns413()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(
            "{\"name\":\"big\",\"command\":\"" + new string('a', 300_000) + "\"}")));
        content.Headers.ContentType = new("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/jobs") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        var response = await app.Client.SendAsync(request);

        Assert.AreEqual(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    private static HttpRequestMessage BuildHostileRequest(Random random, int index, out string description)
    {
        var method = Methods[random.Next(Methods.Length)];
        var path = Paths[random.Next(Paths.Length)];
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        var kind = index % 12;
        byte[]? body = kind switch
        {
            0 => Encoding.UTF8.GetBytes("""{"name": 5, "command": true}"""),
            1 => Encoding.UTF8.GetBytes(new string('[', 5000) + new string(']', 5000)),
            2 => [0x7B, 0x22, 0x6E, 0x61, 0x6D, 0x65, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0x22, 0x7D],
            3 => Encoding.UTF8.GetBytes("{\"name\":\"" + new string('x', 200_000) + "\"}"),
            4 => Encoding.UTF8.GetBytes("""{"name":"a'; DROP TABLE jobs; --","command":""}"""),
            5 => Encoding.UTF8.GetBytes("""{"max_concurrent_jobs": "1; DROP TABLE jobs"}"""),
            6 => Encoding.UTF8.GetBytes("""{"max_concurrent_jobs": 1e400}"""),
            7 => Encoding.UTF8.GetBytes("not json at all"),
            8 => Encoding.UTF8.GetBytes("""{"name":"<script>alert(1)</script>","command":null}"""),
            9 => Encoding.UTF8.GetBytes("""{"name":"x","command":"true","priority":99999999999}"""),
            10 => Encoding.UTF8.GetBytes("""{"__proto__":{"admin":true},"name":"","command":"x"}"""),
            _ => null,
        };
        var contentType = (index / 12 % 4) switch
        {
            0 => "application/json",
            1 => "text/plain",
            2 => "application/x-www-form-urlencoded",
            _ => "application/json; charset=latin1",
        };
        if (body is not null && method is not "GET" and not "OPTIONS")
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        description = $"{method} {path} body#{kind} {contentType}";
        return request;
    }
}
