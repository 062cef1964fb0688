using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Api;

/// <summary>POST /api/jobs/bulk: many jobs in one statement, all or none.</summary>
[TestClass]
public sealed class BulkCreateTests
{
    [TestMethod]
    public async Task Bulk_ThreeJobs_CreatedInOrderAndRun()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var response = await app.Client.PostAsJsonAsync("/api/jobs/bulk", new
        {
            jobs = new object[]
            {
                new { name = "first", command = "echo one" },
                new { name = "second", command = "echo two", priority = 5 },
                new { name = "later", command = "echo three", run_at = "2099-01-01T00:00:00Z" },
            },
        });

        var text = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.Created, response.StatusCode, text);
        using var document = JsonDocument.Parse(text);
        Assert.AreEqual(3, document.RootElement.GetProperty("created").GetInt32());
        var ids = document.RootElement.GetProperty("ids").EnumerateArray().Select(id => id.GetInt64()).ToList();
        Assert.HasCount(3, ids);
        var first = await app.WaitForStatusAsync(ids[0], JobStatus.Completed);
        var second = await app.WaitForStatusAsync(ids[1], JobStatus.Completed);
        var later = await app.GetJobAsync(ids[2]);
        Assert.AreEqual("first", first.Name);
        Assert.AreEqual("one\n", first.Output);
        Assert.AreEqual("second", second.Name);
        Assert.AreEqual(5, second.Priority);
        Assert.AreEqual("later", later.Name);
        Assert.AreEqual(JobStatus.Queued, later.Status);
        Assert.AreEqual(new DateTime(2099, 1, 1, 0, 0, 0, DateTimeKind.Utc), later.RunAt);
    }

    [TestMethod]
    [DataRow("""{"jobs":[{"name":"ok","command":"true"},{"name":"bad"}]}""", "jobs[1]: command is required")]
    [DataRow("""{"jobs":[{"name":"ok","command":"true"},{"name":" ok ","command":"true"}]}""", "jobs[1]: name 'ok' repeats jobs[0]")]
    [DataRow("""{"jobs":[{"name":"ok","command":"true"},5]}""", "jobs[1] is a number, not an object")]
    [DataRow("""{"jobs":[]}""", "jobs has 0 entries; send 1 to 10000")]
    [DataRow("""{"jobs":{"name":"a","command":"true"}}""", "jobs is missing or not an array")]
    [DataRow("""{"job":[{"name":"a","command":"true"}]}""", "Unknown field 'job'")]
    [DataRow("""[{"name":"a","command":"true"}]""", "must be a JSON object, not an array")]
    public async Task Bulk_InvalidBody_Returns400AndCreatesNothing(string body, string expected)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var response = await app.Client.PostAsync("/api/jobs/bulk",
            new StringContent(body, Encoding.UTF8, "application/json"));

        var problem = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode, problem);
        StringAssert.Contains(problem, expected);
        Assert.AreEqual(0L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs"));
    }

    [TestMethod]
    public async Task Bulk_TooManyJobs_Returns400()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var jobs = Enumerable.Range(0, 10_001).Select(i => new { name = "j" + i, command = "true" });

        var response = await app.Client.PostAsJsonAsync("/api/jobs/bulk", new { jobs });

        var problem = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode, problem);
        StringAssert.Contains(problem, "jobs has 10001 entries");
    }

    [TestMethod]
    public async Task Bulk_ManyProblems_ListsFirstTwenty()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var jobs = Enumerable.Range(0, 25).Select(i => new { name = "j" + i });

        var response = await app.Client.PostAsJsonAsync("/api/jobs/bulk", new { jobs });

        var problem = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.BadRequest, response.StatusCode, problem);
        StringAssert.Contains(problem, "jobs[19]: command is required");
        Assert.DoesNotContain("jobs[20]", problem);
        StringAssert.Contains(problem, "And 5 more problems.");
    }

    [TestMethod]
    public async Task Bulk_NameTaken_Returns409AndCreatesNothing()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await app.CreateJobAsync("taken", "true");

        var response = await app.Client.PostAsJsonAsync("/api/jobs/bulk", new
        {
            jobs = new object[]
            {
                new { name = "new", command = "true" },
                new { name = "taken", command = "true" },
            },
        });

        var problem = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.Conflict, response.StatusCode, problem);
        StringAssert.Contains(problem, "1 of the names already exist, so no job was created: 'taken'");
        Assert.AreEqual(1L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs"));
    }

    [TestMethod]
    public async Task Bulk_BodyOverOneMebibyte_Accepted()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(),
            "UPDATE scheduler_config SET value = 'true' WHERE key = 'paused'");
        var command = "echo " + new string('x', 10_000);
        var jobs = Enumerable.Range(0, 300).Select(i => new { name = "long-" + i, command });

        var response = await app.Client.PostAsJsonAsync("/api/jobs/bulk", new { jobs });

        Assert.AreEqual(HttpStatusCode.Created, response.StatusCode,
            await response.Content.ReadAsStringAsync());
        Assert.AreEqual(300L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs"));
    }

    [TestMethod]
    public async Task Bulk_DeclaredLengthOverLimit_Returns413()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new TcpClient();
        await client.ConnectAsync(app.Address.Host, app.Address.Port);
        await using var stream = client.GetStream();
        // Only the start of the body is sent: the length alone must be enough to reject it.
        var head = "POST /api/jobs/bulk HTTP/1.1\r\nHost: localhost\r\n" +
                   "Content-Type: application/json\r\n" +
                   $"Content-Length: {16 * 1024 * 1024 + 1}\r\n\r\n{{\"jobs\":[";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));

        using var reader = new StreamReader(stream, Encoding.ASCII);
        var statusLine = await reader.ReadLineAsync();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.AreEqual("HTTP/1.1 413 Payload Too Large", statusLine);
        StringAssert.Contains(rest, "16777216 bytes");
    }

    [TestMethod]
    public async Task Bulk_TenThousandJobs_AllCreatedOnce()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(),
            "UPDATE scheduler_config SET value = 'true' WHERE key = 'paused'");
        var jobs = Enumerable.Range(0, 10_000).Select(i => new { name = "job-" + i, command = "true" });

        var response = await app.Client.PostAsJsonAsync("/api/jobs/bulk", new { jobs });

        var text = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.Created, response.StatusCode, text);
        using var document = JsonDocument.Parse(text);
        var ids = document.RootElement.GetProperty("ids").EnumerateArray().Select(id => id.GetInt64()).ToList();
        Assert.HasCount(10_000, ids);
        Assert.HasCount(10_000, ids.Distinct());
        Assert.AreEqual(10_000L, await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT count(*) FROM jobs WHERE status = 'queued'"));
        Assert.AreEqual(ids[1234], await Sql.ScalarAsync<long>(app.Settings.ConnectionString(),
            "SELECT id FROM jobs WHERE name = 'job-1234'"));
    }
}
