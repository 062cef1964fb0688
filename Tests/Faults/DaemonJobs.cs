using System.Net;
using System.Text;
using System.Text.Json;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Faults;

/// <summary>Job helpers for a daemon reached over HTTP or through its database, for tests that
/// run the daemon as its own process.</summary>
public static class DaemonJobs
{
    /// <summary>Creates a job through <c>POST /api/jobs</c> and returns its id.</summary>
    public static async Task<long> CreateAsync(HttpClient client, string name, string command)
    {
        var response = await client.PostAsync("/api/jobs", new StringContent(
            JsonSerializer.Serialize(new { name, command }), Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.Created, response.StatusCode, body);
        using var json = JsonDocument.Parse(body);
        return json.RootElement.GetProperty("id").GetInt64();
    }

    public static Task<long> CountAsync(string connectionString, string status) =>
        Sql.ScalarAsync<long>(connectionString, "SELECT count(*) FROM jobs WHERE status = $1",
            status);

    /// <summary>Waits until no job is queued or running.</summary>
    public static Task WaitForNoneLeftAsync(string connectionString, TimeSpan timeout) =>
        Eventually.WaitAsync(
            () => Sql.ScalarAsync<long>(connectionString,
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"),
            left => left == 0, "no job left queued or running", timeout);
}
