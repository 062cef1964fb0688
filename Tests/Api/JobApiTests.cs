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
}
