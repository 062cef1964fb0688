using System.Net;
using System.Net.Http.Json;
using System.Text;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Api;

[TestClass]
public sealed class JobApiTests
{
    [TestMethod]
    public async Task Create_ValidJob_Returns201AndRunsIt()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var created = await app.CreateJobAsync("hello", "echo hello; echo oops >&2; exit 3");
        var finished = await app.WaitForStatusAsync(created.Id, JobStatus.Failed);

        Assert.IsTrue(created.Id > 0);
        Assert.AreEqual(3, finished.ExitCode);
        // The two pipes are read concurrently, so their relative order is not fixed.
        StringAssert.Contains(finished.Output, "hello\n");
        StringAssert.Contains(finished.Output, "oops\n");
        StringAssert.Contains(finished.Error, "code 3");
        Assert.IsNotNull(finished.LastRun);
        Assert.IsNotNull(finished.FinishedAt);
    }

    [TestMethod]
    [DataRow("""{"command":"true"}""", "name is required")]
    [DataRow("""{"name":"","command":"true"}""", "name must not be empty")]
    [DataRow("""{"name":"   ","command":"true"}""", "name must not be empty")]
    [DataRow("""{"name":"a"}""", "command is required")]
    [DataRow("""{"name":"a","command":"  "}""", "command must not be empty")]
    [DataRow("""{"name":5,"command":"true"}""", "name must be a string, not a number")]
    [DataRow("""{"name":"a","command":["ls"]}""", "command must be a string, not an array")]
    [DataRow("""{"name":"a","command":"true","priority":"high"}""", "priority must be a whole number")]
    [DataRow("""{"name":"a","command":"true","priority":1.5}""", "priority must be a whole number")]
    [DataRow("""{"name":"a","command":"true","run_at":"tomorrow"}""", "run_at must be an ISO 8601 time")]
    [DataRow("""{"name":"a","command":"true","run_at":"2030-01-01T00:00:00"}""", "with a zone")]
    [DataRow("""{"name":"a","command":"true","colour":"red"}""", "Unknown field 'colour'")]
    [DataRow("{\"name\":\"a\",\"command\":\"true\"", "not valid JSON")]
    [DataRow("""[{"name":"a","command":"true"}]""", "must be a JSON object, not an array")]
    [DataRow("""null""", "must be a JSON object, not null")]
    [DataRow("", "not valid JSON")]
    public async Task Create_InvalidBody_Returns400AndWritesNothing(string body, string expected)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var response = await app.Client.PostAsync("/api/jobs/create",
            new StringContent(body, Encoding.UTF8, "application/json"));

        var problem = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode, problem);
        Assert.AreEqual("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        StringAssert.Contains(problem, expected);
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs"));
    }

    [TestMethod]
    public async Task Create_InvalidUtf8InString_Returns400()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        byte[] body = [.. "{\"name\":\""u8, 0xFF, 0xFE, .. "\",\"command\":\"true\"}"u8];
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");

        var response = await app.Client.PostAsync("/api/jobs", content);

        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode);
        StringAssert.Contains(await response.Content.ReadAsStringAsync(), "not valid UTF-8");
    }

    [TestMethod]
    public async Task Create_DuplicateName_Returns409()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await app.CreateJobAsync("twin", "true");

        var response = await app.Client.PostAsJsonAsync("/api/jobs",
            new { name = "twin", command = "echo other" });

        Assert.AreEqual(HttpStatusCode.Conflict, response.StatusCode);
        StringAssert.Contains(await response.Content.ReadAsStringAsync(), "'twin' already exists");
        Assert.AreEqual(1L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs"));
    }

    [TestMethod]
    [DataRow("text/plain")]
    [DataRow("application/x-www-form-urlencoded")]
    [DataRow("multipart/form-data; boundary=x")]
    public async Task Create_NotJson_Returns415(string contentType)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var content = new StringContent("""{"name":"a","command":"true"}""");
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);

        var response = await app.Client.PostAsync("/api/jobs/create", content);

        Assert.AreEqual(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs"));
    }

    [TestMethod]
    public async Task Create_BodyOverLimit_Returns413()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var command = new string('x', 70 * 1024);

        var response = await app.Client.PostAsJsonAsync("/api/jobs/create", new { name = "big", command });

        Assert.AreEqual(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [TestMethod]
    public async Task Create_HostileName_StoredVerbatim()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        const string name = "x'); DROP TABLE jobs; --<script>alert(1)</script>";

        var job = await app.CreateJobAsync(name, "echo '$(whoami)'");

        Assert.AreEqual(name, (await app.GetJobAsync(job.Id)).Name);
        Assert.AreEqual(1L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs"));
    }

    [TestMethod]
    public async Task Get_MissingJob_Returns404Problem()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var response = await app.Client.GetAsync("/api/jobs/424242");

        Assert.AreEqual(HttpStatusCode.NotFound, response.StatusCode);
        StringAssert.Contains(await response.Content.ReadAsStringAsync(), "No job has id 424242");
    }

    [TestMethod]
    [DataRow("/api/jobs?status=paused", "status 'paused' is unknown")]
    [DataRow("/api/jobs?limit=0", "limit '0' is invalid")]
    [DataRow("/api/jobs?limit=1001", "limit '1001' is invalid")]
    [DataRow("/api/jobs?limit=ten", "limit 'ten' is invalid")]
    [DataRow("/api/jobs?cursor=abc", "cursor 'abc' is invalid")]
    [DataRow("/api/jobs?status=queued'--", "is unknown")]
    public async Task List_InvalidQuery_Returns400(string url, string expected)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var response = await app.Client.GetAsync(url);

        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode);
        StringAssert.Contains(await response.Content.ReadAsStringAsync(), expected);
    }

    [TestMethod]
    public async Task List_Paging_WalksAllJobsNewestFirst()
    {
        var settings = await TestDatabase.CreateAsync();
        await Sql.ExecuteAsync(settings.ConnectionString(), "SELECT 1");
        await using var app = await TestApp.StartAsync(settings);
        await Sql.ExecuteAsync(settings.ConnectionString(), """
            UPDATE scheduler_config SET value = '1' WHERE key = 'max_concurrent_jobs';
            INSERT INTO jobs (name, command, run_at)
            SELECT 'job-' || i, 'true', now() + interval '1 day' FROM generate_series(1, 25) i;
            """);

        var seen = new List<long>();
        string? cursor = null;
        do
        {
            var page = (await app.Client.GetFromJsonAsync<PageDto>(
                "/api/jobs?limit=10" + (cursor is null ? "" : "&cursor=" + cursor), TestApp.Json))!;
            seen.AddRange(page.Jobs.Select(job => job.Id));
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        Assert.HasCount(25, seen);
        CollectionAssert.AreEqual(seen.OrderByDescending(id => id).ToList(), seen);
        var queued = await app.Client.GetFromJsonAsync<PageDto>("/api/jobs?status=queued&limit=1000", TestApp.Json);
        Assert.HasCount(25, queued!.Jobs);
    }

    [TestMethod]
    public async Task Config_ValidPut_UpdatesAndStatsShowIt()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var response = await app.Client.PutAsJsonAsync("/api/config", new { max_concurrent_jobs = 7 });

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        StringAssert.Contains(await response.Content.ReadAsStringAsync(), "\"max_concurrent_jobs\":7");
        Assert.AreEqual("7", await Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = 'max_concurrent_jobs'"));
        StringAssert.Contains(await app.Client.GetStringAsync("/api/stats"), "\"max_concurrent_jobs\":7");
    }

    [TestMethod]
    [DataRow("""{"max_concurrent_jobs":0}""", "whole number from 1")]
    [DataRow("""{"max_concurrent_jobs":-3}""", "whole number from 1")]
    [DataRow("""{"max_concurrent_jobs":2.5}""", "whole number from 1")]
    [DataRow("""{"max_concurrent_jobs":"abc"}""", "not 'abc'")]
    [DataRow("""{"max_concurrent_jobs":true}""", "whole number from 1")]
    [DataRow("""{"max_concurrent_jobs":null}""", "whole number from 1")]
    [DataRow("""{"max_concurrent_jobs":99999999999}""", "whole number from 1")]
    [DataRow("""{"max_concurrent_jobs":5,"colour":"red"}""", "'colour' is not a known setting")]
    [DataRow("""{}""", "names no setting")]
    [DataRow("""{"max_concurrent_jobs":""", "not valid JSON")]
    public async Task Config_InvalidPut_Returns400AndChangesNothing(string body, string expected)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var response = await app.Client.PutAsync("/api/config",
            new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode);
        StringAssert.Contains(await response.Content.ReadAsStringAsync(), expected);
        Assert.AreEqual("2", await Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = 'max_concurrent_jobs'"));
    }

    [TestMethod]
    public async Task Config_InvalidStoredValue_ShownWithValueInForce()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(),
            "UPDATE scheduler_config SET value = 'many' WHERE key = 'max_concurrent_jobs'");

        var config = await app.Client.GetStringAsync("/api/config");

        StringAssert.Contains(config, "\"max_concurrent_jobs\":2");
        StringAssert.Contains(config, "'many' in scheduler_config is invalid");
    }

    [TestMethod]
    public async Task Runs_FinishedJob_ListsItsRun()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync("history", "echo run");
        await app.WaitForStatusAsync(job.Id, JobStatus.Completed);

        var runs = await app.Client.GetFromJsonAsync<List<JobRun>>($"/api/jobs/{job.Id}/runs", TestApp.Json);

        Assert.IsNotNull(runs);
        Assert.HasCount(1, runs);
        Assert.AreEqual(1, runs![0].Attempt);
        Assert.AreEqual(JobStatus.Completed, runs[0].Status);
        Assert.AreEqual(0, runs[0].ExitCode);
        Assert.AreEqual("run\n", runs[0].Output);
        Assert.AreEqual(app.Settings.NodeName, runs[0].Node);
    }

    private sealed record PageDto(List<Job> Jobs, string? NextCursor);
}
