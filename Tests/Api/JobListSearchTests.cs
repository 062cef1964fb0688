using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Api;

/// <summary>GET /api/jobs with <c>search</c>: the dashboard's name search through the API.
/// </summary>
[TestClass]
public sealed class JobListSearchTests
{
    [TestMethod]
    [DataRow("ALPHA", "Alpha-backup,alpha-report", DisplayName = "ignores case")]
    [DataRow("_100%", "disk_100%", DisplayName = "% and _ match themselves")]
    [DataRow("  backup ", "beta-backup,Alpha-backup", DisplayName = "trimmed")]
    [DataRow("nothing-like-it", "", DisplayName = "no match")]
    public async Task List_Search_ReturnsMatchingNamesNewestFirst(string search, string expected)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await SeedNamesAsync(app);

        var page = await GetPageAsync(app, "/api/jobs?search=" + Uri.EscapeDataString(search));

        Assert.AreEqual(expected, string.Join(",", page.Jobs.Select(job => job.Name)));
        Assert.IsNull(page.NextCursor);
    }

    [TestMethod]
    public async Task List_SearchWithStatus_AppliesBoth()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await SeedNamesAsync(app);

        var page = await GetPageAsync(app, "/api/jobs?status=failed&search=alpha");

        Assert.AreEqual("Alpha-backup", string.Join(",", page.Jobs.Select(job => job.Name)));
    }

    [TestMethod]
    public async Task List_SearchResponse_KeepsShape()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await SeedNamesAsync(app);

        var json = await app.Client.GetStringAsync("/api/jobs?search=disk&limit=1");

        using var document = JsonDocument.Parse(json);
        var names = document.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        CollectionAssert.AreEqual(new[] { "jobs", "next_cursor" }, names);
        Assert.AreEqual(1, document.RootElement.GetProperty("jobs").GetArrayLength());
        Assert.AreEqual(JsonValueKind.String,
            document.RootElement.GetProperty("next_cursor").ValueKind);
        Assert.IsFalse(json.Contains("\"output\""), json);
    }

    [TestMethod]
    public async Task List_SearchPaging_WalksEveryMatchOnce()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var connection = app.Settings.ConnectionString();
        await Sql.ExecuteAsync(connection, """
            INSERT INTO jobs (name, command, status)
            SELECT CASE WHEN n % 3 = 0 THEN 'match-' || n ELSE 'other-' || n END, 'true',
                   'completed'
            FROM generate_series(1, 75) AS n
            """);
        var expected = await Sql.ScalarAsync<long[]>(connection,
            "SELECT array_agg(id ORDER BY id DESC) FROM jobs WHERE name LIKE 'match-%'");

        var found = await WalkAsync(app, "/api/jobs?limit=10&search=MATCH");

        CollectionAssert.AreEqual(expected, found.Ids);
        Assert.AreEqual(3, found.Pages, "25 matches in pages of 10");
    }

    [TestMethod]
    public async Task List_ShortSearch_PagesPastTheSearchWindow()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var connection = app.Settings.ConnectionString();
        // The only matches are older than the newest SearchWindow jobs, and "a_b" has no three
        // letters or digits in a row, so the trigram index cannot find them.
        await Sql.ExecuteAsync(connection, $"""
            INSERT INTO jobs (name, command, status)
            SELECT CASE WHEN n <= 4 THEN 'a_b-' || n ELSE 'filler-' || n END, 'true',
                   'completed'
            FROM generate_series(1, {JobQueries.SearchWindow + 200}) AS n
            """);
        var expected = await Sql.ScalarAsync<long[]>(connection,
            "SELECT array_agg(id ORDER BY id DESC) FROM jobs WHERE name LIKE 'a\\_b-%'");

        var first = await GetPageAsync(app, "/api/jobs?search=a_b");
        var found = await WalkAsync(app, "/api/jobs?search=a_b");

        Assert.AreEqual(0, first.Jobs.Count, "the newest window holds no match");
        Assert.IsNotNull(first.NextCursor, "older jobs remain to be searched");
        CollectionAssert.AreEqual(expected, found.Ids);
    }

    [TestMethod]
    public async Task List_SearchOver200Characters_Returns400()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        using var tooLong = await app.Client.GetAsync("/api/jobs?search=" + new string('a', 201));
        using var atLimit = await app.Client.GetAsync("/api/jobs?search=" + new string('a', 200));

        var problem = await tooLong.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.BadRequest, tooLong.StatusCode, problem);
        Assert.AreEqual("application/problem+json",
            tooLong.Content.Headers.ContentType?.MediaType);
        StringAssert.Contains(problem, "search is 201 characters long; the limit is 200");
        Assert.AreEqual(HttpStatusCode.OK, atLimit.StatusCode);
    }

    [TestMethod]
    public async Task OpenApi_JobList_DocumentsSearch()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var json = await app.Client.GetStringAsync("/openapi/v1.json");

        using var document = JsonDocument.Parse(json);
        var list = document.RootElement.GetProperty("paths").GetProperty("/api/jobs")
            .GetProperty("get");
        var parameters = list.GetProperty("parameters").EnumerateArray()
            .ToDictionary(p => p.GetProperty("name").GetString()!);
        CollectionAssert.IsSubsetOf(new[] { "status", "limit", "cursor", "search" },
            parameters.Keys.ToList());
        Assert.AreEqual("query", parameters["search"].GetProperty("in").GetString());
        StringAssert.Contains(parameters["search"].GetProperty("description").GetString(),
            "ignoring case");
        StringAssert.Contains(list.GetProperty("summary").GetString(), "search");
        Assert.IsTrue(list.GetProperty("responses").TryGetProperty("400", out _));
    }

    /// <summary>Inserts five jobs, oldest first, whose names test case, % and _.</summary>
    private static Task SeedNamesAsync(TestApp app) =>
        Sql.ExecuteAsync(app.Settings.ConnectionString(), """
            INSERT INTO jobs (name, command, status) VALUES
                ('alpha-report', 'true', 'completed'),
                ('Alpha-backup', 'false', 'failed'),
                ('beta-backup', 'false', 'completed'),
                ('disk_100%', 'true', 'completed'),
                ('disk-1000', 'true', 'completed')
            """);

    private static async Task<PageDto> GetPageAsync(TestApp app, string url)
    {
        using var response = await app.Client.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, body);
        return JsonSerializer.Deserialize<PageDto>(body, TestApp.Json)!;
    }

    /// <summary>Follows next_cursor from <paramref name="url"/> to the last page.</summary>
    private static async Task<(List<long> Ids, int Pages)> WalkAsync(TestApp app, string url)
    {
        var ids = new List<long>();
        var pages = 0;
        string? cursor = null;
        do
        {
            var page = await GetPageAsync(app, url + (cursor is null ? "" : "&cursor=" + cursor));
            ids.AddRange(page.Jobs.Select(job => job.Id));
            cursor = page.NextCursor;
            pages++;
        }
        while (cursor is not null && pages < 100);

        return (ids, pages);
    }

    private sealed record PageDto(List<Job> Jobs, string? NextCursor);
}
