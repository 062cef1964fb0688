using System.Net;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Dashboard;

/// <summary>The dashboard's name search and its pages, against a plain ILIKE over every job.
/// </summary>
[TestClass]
public sealed class JobSearchTests
{
    private const int PageSize = 50;

    [TestMethod]
    [DataRow("special", null, DisplayName = "term the trigram index can use")]
    [DataRow("SPECIAL-1", null, DisplayName = "upper case")]
    [DataRow("7", null, DisplayName = "term too short for the index")]
    [DataRow("special", "failed", DisplayName = "term with a status")]
    [DataRow("ancient", null, DisplayName = "matches older than the search window only")]
    public async Task PageAsync_AllPages_EqualPlainIlike(string term, string? status)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var connection = app.Settings.ConnectionString();
        // More jobs than the search window; the only 'ancient' ones are the oldest.
        await Sql.ExecuteAsync(connection, $"""
            INSERT INTO jobs (name, command, status, run_at)
            SELECT CASE WHEN n <= 3 THEN 'ancient-' || n
                        WHEN n % 7 = 0 THEN 'special-' || n
                        ELSE 'job-' || n END,
                   'true',
                   CASE WHEN n % 3 = 0 THEN 'failed' ELSE 'completed' END,
                   now()
            FROM generate_series(1, {JobQueries.SearchWindow * 2 + 500}) AS n
            """);
        var expected = await Sql.ScalarAsync<long[]>(connection, """
            SELECT coalesce(array_agg(id ORDER BY id DESC), '{}')
            FROM jobs
            WHERE name ILIKE '%' || $1 || '%' AND ($2 = '' OR status = $2)
            """, term, status ?? "");
        var queries = app.Service<JobQueries>();

        var found = new List<long>();
        var pages = 0;
        long? cursor = null;
        do
        {
            var page = await queries.PageAsync(status, term, cursor, PageSize,
                CancellationToken.None);
            Assert.IsTrue(page.Jobs.Count <= PageSize, $"page {pages} has {page.Jobs.Count} rows");
            found.AddRange(page.Jobs.Select(job => job.Id));
            cursor = page.OlderCursor;
            pages++;
        }
        while (cursor is not null && pages < 1000);

        CollectionAssert.AreEqual(expected, found);
        Assert.IsTrue(expected.Length > 0, "the term matches no job");
    }

    [TestMethod]
    public async Task PageAsync_ShortTerm_SaysWhereItStopped()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(), $"""
            INSERT INTO jobs (name, command, status)
            SELECT 'job-' || n, 'true', 'completed'
            FROM generate_series(1, {JobQueries.SearchWindow + 100}) AS n
            """);
        var queries = app.Service<JobQueries>();

        var shortTerm = await queries.PageAsync(null, "zq", null, PageSize, CancellationToken.None);
        var longTerm = await queries.PageAsync(null, "zqx", null, PageSize, CancellationToken.None);

        Assert.AreEqual(0, shortTerm.Jobs.Count);
        Assert.AreEqual(101L, shortTerm.SearchedDownTo);
        Assert.AreEqual(101L, shortTerm.OlderCursor);
        Assert.AreEqual(0, longTerm.Jobs.Count);
        Assert.IsNull(longTerm.SearchedDownTo);
        Assert.IsNull(longTerm.OlderCursor);
    }

    [TestMethod]
    [DataRow("50%", "disk-50%", DisplayName = "percent sign")]
    [DataRow("a_b", "a_b", DisplayName = "underscore")]
    [DataRow(@"c:\temp", @"c:\temp-clean", DisplayName = "backslash")]
    public async Task Search_Wildcards_MatchLiterally(string term, string match)
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        await Sql.ExecuteAsync(app.Settings.ConnectionString(), """
            INSERT INTO jobs (name, command, status) VALUES
                ('disk-50%', 'true', 'completed'),
                ('disk-500', 'true', 'completed'),
                ('a_b', 'true', 'completed'),
                ('axb', 'true', 'completed'),
                ('c:\temp-clean', 'true', 'completed'),
                ('c:Xtemp', 'true', 'completed')
            """);
        using var client = new DashboardClient(app.Address);

        var table = await client.GetStringAsync(
            "/?handler=Table&q=" + Uri.EscapeDataString(term));

        StringAssert.Contains(table, ">" + WebUtility.HtmlEncode(match) + "</a>");
        Assert.AreEqual(1, JobLinks(table), table);
    }

    [TestMethod]
    public async Task Table_SearchFormRequest_ReplacesAddress()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);
        using var request = new HttpRequestMessage(HttpMethod.Get,
            "/?handler=Table&status=failed&q=night%20ly");
        request.Headers.Add("HX-Request", "true");
        request.Headers.Add("HX-Trigger", "job-search");
        using var poll = new HttpRequestMessage(HttpMethod.Get, "/?handler=Table&q=x");
        poll.Headers.Add("HX-Request", "true");
        poll.Headers.Add("HX-Trigger", "jobs");

        using var http = new HttpClient { BaseAddress = app.Address };
        using var searched = await http.SendAsync(request);
        using var polled = await http.SendAsync(poll);
        var body = await searched.Content.ReadAsStringAsync();

        Assert.AreEqual("/?status=failed&q=night%20ly",
            string.Join(",", searched.Headers.GetValues("HX-Replace-Url")));
        Assert.IsFalse(polled.Headers.Contains("HX-Replace-Url"));
        StringAssert.Contains(body, """hx-get="/?status=failed&amp;q=night%20ly&amp;handler=Table""");
        StringAssert.Contains(body, """"id="search-status" name="status" value="failed"""");
        StringAssert.Contains(body, "No failed jobs whose name contains &#x27;night ly&#x27;.");
    }

    private static int JobLinks(string html) =>
        System.Text.RegularExpressions.Regex.Count(html, """href="/jobs/\d+">""");
}
