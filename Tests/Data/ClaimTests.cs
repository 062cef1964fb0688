using JobScheduler.Data;
using JobScheduler.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace JobScheduler.Tests.Data;

[TestClass]
public sealed class ClaimTests
{
    [TestMethod]
    public async Task Claim_ManyClaimersAtOnce_NeverExceedLimitOrShareAJob()
    {
        var settings = await TestDatabase.CreateAsync();
        await using var dataSource = NpgsqlDataSource.Create(settings.ConnectionString());
        await Schema.MigrateAsync(dataSource, NullLogger.Instance, CancellationToken.None);
        await Sql.ExecuteAsync(settings.ConnectionString(), """
            INSERT INTO jobs (name, command) SELECT 'job-' || i, 'true' FROM generate_series(1, 40) i;
            UPDATE scheduler_config SET value = '7' WHERE key = 'max_concurrent_jobs';
            """);
        var store = new JobStore(dataSource);

        var claims = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(() =>
            store.ClaimAsync("node-" + i, new LiveConfig(NullLogger<LiveConfig>.Instance),
                CancellationToken.None))));

        var claimed = claims.SelectMany(outcome => outcome.Claimed).ToList();
        Assert.HasCount(7, claimed);
        Assert.HasCount(7, claimed.Select(job => job.Id).Distinct());
        Assert.AreEqual(7L, await Sql.ScalarAsync<long>(settings.ConnectionString(),
            "SELECT count(*) FROM jobs WHERE status = 'running'"));
        Assert.AreEqual(7L, await Sql.ScalarAsync<long>(settings.ConnectionString(),
            "SELECT count(*) FROM job_runs WHERE status = 'running'"));
    }

    [TestMethod]
    public async Task Claim_RowLockedByUser_SkipsItAndTakesTheNext()
    {
        var settings = await TestDatabase.CreateAsync();
        await using var dataSource = NpgsqlDataSource.Create(settings.ConnectionString());
        await Schema.MigrateAsync(dataSource, NullLogger.Instance, CancellationToken.None);
        await Sql.ExecuteAsync(settings.ConnectionString(),
            "INSERT INTO jobs (name, command) VALUES ('first', 'true'), ('second', 'true')");
        await using var editor = new NpgsqlConnection(settings.ConnectionString() + ";Pooling=false");
        await editor.OpenAsync();
        await using var transaction = await editor.BeginTransactionAsync();
        await using (var lockFirst = new NpgsqlCommand(
                         "SELECT id FROM jobs WHERE name = 'first' FOR UPDATE", editor, transaction))
        {
            await lockFirst.ExecuteScalarAsync();
        }

        var outcome = await new JobStore(dataSource).ClaimAsync("node",
            new LiveConfig(NullLogger<LiveConfig>.Instance), CancellationToken.None);

        Assert.HasCount(1, outcome.Claimed);
        Assert.AreEqual("second", outcome.Claimed[0].Name);
    }

    [TestMethod]
    public async Task Claim_PriorityAndRunAt_LowestPriorityDueFirst()
    {
        var settings = await TestDatabase.CreateAsync();
        await using var dataSource = NpgsqlDataSource.Create(settings.ConnectionString());
        await Schema.MigrateAsync(dataSource, NullLogger.Instance, CancellationToken.None);
        await Sql.ExecuteAsync(settings.ConnectionString(), """
            INSERT INTO jobs (name, command, priority, run_at) VALUES
                ('later', 'true', -5, now() + interval '1 hour'),
                ('low', 'true', 5, now()),
                ('high', 'true', -1, now());
            UPDATE scheduler_config SET value = '10' WHERE key = 'max_concurrent_jobs';
            """);

        var outcome = await new JobStore(dataSource).ClaimAsync("node",
            new LiveConfig(NullLogger<LiveConfig>.Instance), CancellationToken.None);

        CollectionAssert.AreEqual(new[] { "high", "low" }, outcome.Claimed.Select(job => job.Name).ToArray());
    }

    [TestMethod]
    public async Task Claim_InvalidStoredLimit_KeepsLastGoodValue()
    {
        var settings = await TestDatabase.CreateAsync();
        await using var dataSource = NpgsqlDataSource.Create(settings.ConnectionString());
        await Schema.MigrateAsync(dataSource, NullLogger.Instance, CancellationToken.None);
        await Sql.ExecuteAsync(settings.ConnectionString(), """
            INSERT INTO jobs (name, command) SELECT 'job-' || i, 'true' FROM generate_series(1, 10) i;
            UPDATE scheduler_config SET value = '3' WHERE key = 'max_concurrent_jobs';
            """);
        var store = new JobStore(dataSource);
        var config = new LiveConfig(NullLogger<LiveConfig>.Instance);
        await store.ClaimAsync("node", config, CancellationToken.None);
        await Sql.ExecuteAsync(settings.ConnectionString(), """
            UPDATE jobs SET status = 'completed' WHERE status = 'running';
            UPDATE scheduler_config SET value = 'lots' WHERE key = 'max_concurrent_jobs';
            """);

        var outcome = await store.ClaimAsync("node", config, CancellationToken.None);

        Assert.AreEqual(3, outcome.Limit);
        Assert.HasCount(3, outcome.Claimed);
        Assert.IsTrue(config.Problems.ContainsKey(LiveConfig.MaxConcurrentJobsKey));
        StringAssert.Contains(config.Problems[LiveConfig.MaxConcurrentJobsKey], "'lots'");
    }

    [TestMethod]
    public async Task Migrate_FiveInstancesAtOnce_AppliesEachMigrationOnce()
    {
        var settings = await TestDatabase.CreateAsync();
        settings = settings with { DbName = settings.DbName + "_new" };

        await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Task.Run(async () =>
        {
            await Schema.EnsureDatabaseExistsAsync(settings, NullLogger.Instance, CancellationToken.None);
            await using var dataSource = NpgsqlDataSource.Create(settings.ConnectionString());
            await Schema.MigrateAsync(dataSource, NullLogger.Instance, CancellationToken.None);
        })));

        var versions = await Sql.ScalarAsync<long>(settings.ConnectionString(),
            "SELECT count(*) FROM schema_migrations");
        Assert.AreEqual((long)Schema.EmbeddedMigrations().Count, versions);
        Assert.AreEqual("2", await Sql.ScalarAsync<string>(settings.ConnectionString(),
            "SELECT value FROM scheduler_config WHERE key = 'max_concurrent_jobs'"));
    }

    [TestMethod]
    public async Task Insert_SeedShapedRows_GetDefaults()
    {
        var settings = await TestDatabase.CreateAsync();
        await using var dataSource = NpgsqlDataSource.Create(settings.ConnectionString());
        await Schema.MigrateAsync(dataSource, NullLogger.Instance, CancellationToken.None);

        await Sql.ExecuteAsync(settings.ConnectionString(), """
            INSERT INTO jobs (name, command, status) VALUES ('x', 'echo hi', 'queued');
            INSERT INTO jobs (name, command) VALUES ('y', 'echo hi');
            """);

        Assert.AreEqual(2L, await Sql.ScalarAsync<long>(settings.ConnectionString(),
            "SELECT count(*) FROM jobs WHERE status = 'queued' AND run_at <= now() AND attempt = 0"));
    }

    [TestMethod]
    public async Task Insert_BadRowsByHand_RejectedByConstraints()
    {
        var settings = await TestDatabase.CreateAsync();
        await using var dataSource = NpgsqlDataSource.Create(settings.ConnectionString());
        await Schema.MigrateAsync(dataSource, NullLogger.Instance, CancellationToken.None);

        foreach (var statement in new[]
                 {
                     "INSERT INTO jobs (name, command) VALUES ('a', '   ')",
                     "INSERT INTO jobs (name, command) VALUES ('', 'true')",
                     "INSERT INTO jobs (name, command, status) VALUES ('b', 'true', 'paused')",
                     "INSERT INTO jobs (name, command) VALUES ('c', NULL)",
                 })
        {
            await Assert.ThrowsAsync<PostgresException>(
                () => Sql.ExecuteAsync(settings.ConnectionString(), statement), statement);
        }
    }
}
