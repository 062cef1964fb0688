using JobScheduler.Data;
using JobScheduler.Tests.Support;

namespace JobScheduler.Tests.Scheduling;

[TestClass]
public sealed class JobRunnerTests
{
    [TestMethod]
    public async Task Run_MegabytesOnStderr_KeepsBoundedTail()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var job = await app.CreateJobAsync("noisy",
            "head -c 8000000 /dev/zero | tr '\\0' 'x' >&2; echo last-line >&2");
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Completed);

        Assert.IsNotNull(done.Output);
        Assert.IsLessThan(app.Settings.OutputLimitBytes + 200, done.Output.Length);
        StringAssert.StartsWith(done.Output, "[output cut: the first ");
        StringAssert.Contains(done.Output, "of 8000010 bytes were dropped]");
        Assert.IsTrue(done.Output.EndsWith("xxxlast-line\n", StringComparison.Ordinal),
            "the tail ends with the last bytes written: " + done.Output[^40..]);
    }

    [TestMethod]
    public async Task Run_LongJob_OutputVisibleWhileRunning()
    {
        var settings = await TestDatabase.CreateAsync(new() { ["HEARTBEAT_INTERVAL"] = "0.2", ["LEASE_TIMEOUT"] = "2" });
        await using var app = await TestApp.StartAsync(settings);

        var job = await app.CreateJobAsync("progress", "echo step-1; sleep 1; echo step-2; sleep 30");
        var first = await Eventually.WaitAsync(() => app.GetJobAsync(job.Id),
            current => current.Output == "step-1\n", "the first line while running");
        var second = await Eventually.WaitAsync(() => app.GetJobAsync(job.Id),
            current => current.Output == "step-1\nstep-2\n", "the second line while running");
        await app.Client.PostAsync($"/api/jobs/{job.Id}/cancel", null);

        Assert.AreEqual(JobStatus.Running, first.Status);
        Assert.AreEqual(JobStatus.Running, second.Status);
        var cancelled = await app.WaitForStatusAsync(job.Id, JobStatus.Cancelled);
        Assert.AreEqual("step-1\nstep-2\n", cancelled.Output);
    }

    [TestMethod]
    public async Task Run_BothPipesFull_NeitherStalls()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        // Each side writes far more than a pipe buffer holds, alternating, so a reader that
        // drained one pipe before the other would deadlock.
        var job = await app.CreateJobAsync("both", """
            for i in 1 2 3 4 5 6 7 8; do head -c 200000 /dev/zero; head -c 200000 /dev/zero >&2; done
            """);

        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Completed);
        StringAssert.Contains(done.Output, "of 3200000 bytes were dropped");
    }

    [TestMethod]
    public async Task Run_BackgroundChildKeepsPipeOpen_JobStillFinishes()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var job = await app.CreateJobAsync("background", "sleep 20 & echo started");
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Completed, TimeSpan.FromSeconds(10));

        Assert.AreEqual(0, done.ExitCode);
        Assert.AreEqual("started\n", done.Output);
    }

    [TestMethod]
    public async Task Run_UnknownCommand_FailsWithExitCodeAndReason()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var job = await app.CreateJobAsync("missing", "no-such-command-here --flag");
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Failed);

        Assert.AreEqual(127, done.ExitCode);
        StringAssert.Contains(done.Error, "could not find the command");
        StringAssert.Contains(done.Output, "no-such-command-here");
    }

    [TestMethod]
    public async Task Run_ShellCannotStart_FailsWithReason()
    {
        var settings = await TestDatabase.CreateAsync(new() { ["JOB_SHELL"] = "/no/such/shell" });
        await using var app = await TestApp.StartAsync(settings);

        var job = await app.CreateJobAsync("unstartable", "echo never");
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Failed);

        Assert.IsNull(done.ExitCode);
        StringAssert.Contains(done.Error, "could not be started");
    }

    [TestMethod]
    public async Task Run_CommandReadsStdin_SeesEndOfFile()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var job = await app.CreateJobAsync("reader", "cat; echo after-cat");
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Completed, TimeSpan.FromSeconds(10));

        Assert.AreEqual("after-cat\n", done.Output);
    }

    [TestMethod]
    public async Task Run_BinaryOutput_StoredSafely()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var job = await app.CreateJobAsync("binary", "printf 'a\\000b\\377c\\n'");
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Completed);

        Assert.AreEqual("a\u2400b\uFFFDc\n", done.Output);
    }

    [TestMethod]
    public async Task Run_KilledBySignal_ErrorNamesTheSignal()
    {
        await using var app = await TestApp.StartAsync(await TestDatabase.CreateAsync());

        var job = await app.CreateJobAsync("killed", "kill -9 $$");
        var done = await app.WaitForStatusAsync(job.Id, JobStatus.Failed);

        Assert.AreEqual(137, done.ExitCode);
        StringAssert.Contains(done.Error, "SIGKILL");
    }
}
