using System.Net;
using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Dashboard;

/// <summary>The job page's actions and the add-job form's optional fields, as plain form posts.
/// </summary>
[TestClass]
public sealed class DashboardActionTests
{
    [TestMethod]
    public async Task Delete_RunningJob_IsRefusedWithReason()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync("busy", "sleep 30");
        await app.WaitForStatusAsync(job.Id, JobStatus.Running);
        using var client = new DashboardClient(app.Address);

        var before = await client.GetStringAsync($"/jobs/{job.Id}");
        var page = await PostActionAsync(client, job.Id, "Delete");
        var status = await Sql.ScalarAsync<string>(app.Settings.ConnectionString(),
            "SELECT status FROM jobs WHERE id = $1", job.Id);
        await PostActionAsync(client, job.Id, "Cancel");
        await app.WaitForStatusAsync(job.Id, JobStatus.Cancelled);

        StringAssert.Contains(before, "title=\"Running jobs cannot be deleted; cancel it first.\"");
        StringAssert.Contains(page, $"Job {job.Id} is running, so nothing was changed: cancel " +
                                    "it first, then delete it.");
        Assert.AreEqual(JobStatus.Running, status);
    }

    [TestMethod]
    public async Task Requeue_FinishedJob_RunsAgain()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        var job = await app.CreateJobAsync("twice", "echo run-$JOBSCHEDULER_ATTEMPT");
        await app.WaitForStatusAsync(job.Id, JobStatus.Completed);
        using var client = new DashboardClient(app.Address);

        var page = await PostActionAsync(client, job.Id, "Requeue");
        var again = await Eventually.WaitAsync(() => app.GetJobAsync(job.Id),
            current => current is { Status: JobStatus.Completed, Attempt: 2 },
            "the second run to complete");
        var refused = await PostActionAsync(client, 987654, "Requeue");

        StringAssert.Contains(page, $"Job {job.Id} is queued to run again.");
        Assert.AreEqual("run-2\n", again.Output);
        StringAssert.Contains(refused, "No job has id 987654; it may have been deleted.");
    }

    [TestMethod]
    public async Task CreateForm_OptionalNumbers_AreStoredOrExplained()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());
        using var client = new DashboardClient(app.Address);

        var rejected = await client.SubmitAsync("Create", new Dictionary<string, string>
        {
            ["name"] = "numbers",
            ["command"] = "true",
            ["timeout_seconds"] = "-1",
            ["max_attempts"] = "many",
            ["retry_delay_seconds"] = "90000",
        });
        await client.SubmitAsync("Create", new Dictionary<string, string>
        {
            ["name"] = "numbers",
            ["command"] = "true",
            ["timeout_seconds"] = "30",
            ["max_attempts"] = "3",
            ["retry_delay_seconds"] = "",
        });
        var stored = await Sql.ScalarAsync<string>(app.Settings.ConnectionString(), """
            SELECT concat_ws(' ', timeout_seconds, max_attempts, retry_delay_seconds)
            FROM jobs WHERE name = 'numbers'
            """);

        StringAssert.Contains(rejected, """<p id="job-max-attempts-error" class="field-error">""" +
                                        "max_attempts must be a whole number");
        StringAssert.Contains(rejected, "not &#x27;many&#x27;");
        // Once every field parses, the API's range checks explain the rest by field.
        Assert.AreEqual("30 3 10", stored);
        var ranges = await client.SubmitAsync("Create", new Dictionary<string, string>
        {
            ["name"] = "ranges",
            ["command"] = "true",
            ["timeout_seconds"] = "-1",
            ["retry_delay_seconds"] = "90000",
        });
        StringAssert.Contains(ranges, """<p id="job-timeout-error" class="field-error">""" +
                                      "timeout_seconds must be a whole number from 0 to");
        StringAssert.Contains(ranges, """<p id="job-retry-delay-error" class="field-error">""" +
                                      "retry_delay_seconds must be a whole number from 0 to 86400");
    }

    private static async Task<string> PostActionAsync(DashboardClient client, long id,
        string handler)
    {
        var token = await client.ReadTokenAsync();
        using var response = await client.PostFormAsync($"/jobs/{id}?handler={handler}",
            new Dictionary<string, string> { [DashboardClient.TokenField] = token });
        var body = await response.Content.ReadAsStringAsync();
        Assert.IsTrue(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound,
            $"POST {handler}: {response.StatusCode} {body}");
        return body;
    }
}
