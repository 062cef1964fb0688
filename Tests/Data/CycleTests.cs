using JobScheduler.Data;
using JobScheduler.Scheduling;
using JobScheduler.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace JobScheduler.Tests.Data;

/// <summary>The scheduler cycle's fast paths: which wake-ups it sends, and which leases it
/// releases.</summary>
[TestClass]
public sealed class CycleTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    [TestMethod]
    public async Task Cycle_ClaimingCycleFreesSlot_SendsNoWakeup()
    {
        var (dataSource, store, connectionString) = await CreateStoreAsync(limit: 1, jobs: 2);
        await using var _ = dataSource;
        var first = await store.CycleAsync(Request("a", [], claim: true, running: []), CancellationToken.None);
        Assert.HasCount(1, first.Claimed);
        await using var listener = await ListenAsync(connectionString);

        var second = await store.CycleAsync(
            Request("a", [Completed(first.Claimed[0])], claim: true, running: [first.Claimed[0].Id]),
            CancellationToken.None);

        Assert.AreEqual(JobStatus.Completed, second.Recorded[(first.Claimed[0].Id, first.Claimed[0].Attempt)]);
        Assert.HasCount(1, second.Claimed);
        Assert.IsFalse(await listener.WaitAsync(TimeSpan.FromMilliseconds(500)),
            "a cycle that claims for the slot it freed must not wake the other instances");
    }

    [TestMethod]
    public async Task Cycle_StoppingCycleFreesSlot_WakesOthers()
    {
        var (dataSource, store, connectionString) = await CreateStoreAsync(limit: 1, jobs: 2);
        await using var _ = dataSource;
        var first = await store.CycleAsync(Request("a", [], claim: true, running: []), CancellationToken.None);
        await using var listener = await ListenAsync(connectionString);
        var woken = 0;
        listener.Notification += (_, notification) =>
        {
            if (notification.Channel == WakeListener.Channel)
            {
                woken++;
            }
        };

        var second = await store.CycleAsync(
            Request("a", [Completed(first.Claimed[0])], claim: false, running: [first.Claimed[0].Id]),
            CancellationToken.None);

        Assert.IsEmpty(second.Claimed);
        Assert.IsTrue(await listener.WaitAsync(TimeSpan.FromSeconds(5)),
            "a cycle that frees a slot without claiming must wake the other instances");
        Assert.AreEqual(1, woken);
    }

    [TestMethod]
    public async Task Cycle_OwnExpiredLease_ReleasedByOtherInstance()
    {
        var (dataSource, store, connectionString) = await CreateStoreAsync(limit: 1, jobs: 1);
        await using var _ = dataSource;
        var claimed = (await store.CycleAsync(Request("a", [], claim: true, running: []),
            CancellationToken.None)).Claimed.Single();
        await Sql.ExecuteAsync(connectionString,
            "UPDATE jobs SET heartbeat_at = now() - interval '1 hour'");

        var own = await store.CycleAsync(Request("a", [], claim: false, running: [claimed.Id]),
            CancellationToken.None);
        var other = await store.CycleAsync(Request("b", [], claim: false, running: []),
            CancellationToken.None);

        Assert.IsEmpty(own.Released);
        Assert.HasCount(1, other.Released);
        Assert.AreEqual(claimed.Id, other.Released[0].Id);
        Assert.AreEqual("a", other.Released[0].Node);
        Assert.AreEqual(JobStatus.Failed, await Sql.ScalarAsync<string>(connectionString,
            "SELECT status FROM jobs"));
    }

    [TestMethod]
    public async Task Cycle_IdleInstance_ReportsRunningAndNextDue()
    {
        var (dataSource, store, connectionString) = await CreateStoreAsync(limit: 2, jobs: 1);
        await using var _ = dataSource;
        await Sql.ExecuteAsync(connectionString,
            "INSERT INTO jobs (name, command, run_at) VALUES ('later', 'true', now() + interval '1 hour')");
        var claimed = await store.CycleAsync(Request("a", [], claim: true, running: []),
            CancellationToken.None);

        var idle = await store.CycleAsync(Request("b", [], claim: true, running: []),
            CancellationToken.None);

        Assert.HasCount(1, claimed.Claimed);
        Assert.IsEmpty(idle.Claimed);
        Assert.AreEqual(1L, idle.RunningAfter);
        Assert.IsNotNull(idle.NextDueIn);
        Assert.IsTrue(idle.NextDueIn > TimeSpan.FromMinutes(59) && idle.NextDueIn <= TimeSpan.FromHours(1),
            $"next due in {idle.NextDueIn}, expected about an hour");
        Assert.AreEqual("2", idle.Config[LiveConfig.MaxConcurrentJobsKey]);
    }

    private static CycleRequest Request(
        string node, IReadOnlyList<JobResult> results, bool claim, IReadOnlyList<long> running) =>
        new(node, results, claim, Limit: 1, Lease, running);

    private static JobResult Completed(ClaimedJob job) =>
        new(job.Id, job.Attempt, JobStatus.Completed, 0, null, "done", DateTime.UtcNow);

    private static async Task<(NpgsqlDataSource DataSource, JobStore Store, string ConnectionString)>
        CreateStoreAsync(int limit, int jobs)
    {
        var settings = await TestDatabase.CreateAsync();
        var dataSource = NpgsqlDataSource.Create(settings.ConnectionString());
        await Schema.MigrateAsync(dataSource, NullLogger.Instance, CancellationToken.None);
        await Sql.ExecuteAsync(settings.ConnectionString(), $"""
            INSERT INTO jobs (name, command) SELECT 'job-' || i, 'true' FROM generate_series(1, {jobs}) i;
            UPDATE scheduler_config SET value = '{limit}' WHERE key = 'max_concurrent_jobs';
            """);
        return (dataSource, new JobStore(dataSource), settings.ConnectionString());
    }

    private static async Task<NpgsqlConnection> ListenAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var listen = new NpgsqlCommand($"LISTEN {WakeListener.Channel}", connection);
        await listen.ExecuteNonQueryAsync();
        return connection;
    }
}
