using System.Diagnostics;
using JobScheduler.Data;
using JobScheduler.Tests.Support;
using Npgsql;

namespace JobScheduler.Tests.Faults;

/// <summary>
/// Jobs that print gigabytes: the daemon keeps only the last OUTPUT_LIMIT_BYTES of each, so its
/// memory stays flat and the stored output stays small. The daemon runs as its own process so
/// its resident memory can be read from /proc.
/// </summary>
[TestClass]
public sealed class OutputFloodTests
{
    private const int OutputLimit = 64 * 1024;

    /// <summary>Resident memory the daemon may reach while jobs flood it. These tests measured
    /// peaks of 113 to 140 MB (.NET 10, Linux x64, 2 cores), so this bound is loose, yet a
    /// daemon that kept even a tenth of one job's 2 GiB would break it.</summary>
    private const long MaxResidentBytes = 300L * 1024 * 1024;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DoNotParallelize]
    public async Task Flood_TwoGigabytes_StoredTailBoundedAndMemoryFlat()
    {
        if (!ProcFs.IsSupported)
        {
            Assert.Inconclusive("This test reads /proc, which only Linux has.");
        }

        var settings = await TestDatabase.CreateAsync();
        var direct = settings.ConnectionString();
        await using var daemon = await DaemonProcess.StartAsync(settings);

        var job = await DaemonJobs.CreateAsync(daemon.Client, "flood", "head -c 2G /dev/zero");
        var peak = await SampleResidentUntilDoneAsync(daemon, direct, TimeSpan.FromSeconds(120));

        TestContext.WriteLine($"Peak resident memory {peak.Bytes / 1024 / 1024} MB");
        await AssertFloodStoredAsync(direct, job, 2L * 1024 * 1024 * 1024);
        Assert.IsLessThan(MaxResidentBytes, peak.Bytes,
            $"peak resident memory {peak.Bytes / 1024 / 1024} MB over {peak.Samples} samples");
    }

    [TestMethod]
    [DoNotParallelize]
    public async Task Flood_EightJobsAtOnce_StoredTailsBoundedAndMemoryFlat()
    {
        if (!ProcFs.IsSupported)
        {
            Assert.Inconclusive("This test reads /proc, which only Linux has.");
        }

        var settings = await TestDatabase.CreateAsync();
        var direct = settings.ConnectionString();
        await using var daemon = await DaemonProcess.StartAsync(settings);
        await Sql.ExecuteAsync(direct,
            "UPDATE scheduler_config SET value = '8' WHERE key = 'max_concurrent_jobs'");

        await Sql.ExecuteAsync(direct, """
            INSERT INTO jobs (name, command)
            SELECT 'flood-' || i, 'head -c 2G /dev/zero' FROM generate_series(1, 8) i
            """);
        var peak = await SampleResidentUntilDoneAsync(daemon, direct, TimeSpan.FromSeconds(120));

        TestContext.WriteLine($"Peak resident memory {peak.Bytes / 1024 / 1024} MB");
        var ids = await JobIdsAsync(direct);
        Assert.HasCount(8, ids);
        foreach (var id in ids)
        {
            await AssertFloodStoredAsync(direct, id, 2L * 1024 * 1024 * 1024);
        }

        Assert.IsLessThan(MaxResidentBytes, peak.Bytes,
            $"peak resident memory {peak.Bytes / 1024 / 1024} MB over {peak.Samples} samples");
    }

    /// <summary>Reads the daemon's resident memory about every 50 ms until no job is queued
    /// or running, and returns the highest value.</summary>
    private static async Task<(long Bytes, int Samples)> SampleResidentUntilDoneAsync(
        DaemonProcess daemon, string connectionString, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var peak = 0L;
        var samples = 0;
        var left = 1L;
        while (left > 0)
        {
            Assert.IsFalse(daemon.HasExited, "the daemon exited:\n" + daemon.Output);
            Assert.IsLessThan(timeout, clock.Elapsed,
                $"the flood jobs did not finish within {timeout.TotalSeconds} s");
            for (var i = 0; i < 10; i++)
            {
                peak = Math.Max(peak, ProcFs.ResidentBytes(daemon.Id));
                samples++;
                await Task.Delay(50);
            }

            left = await Sql.ScalarAsync<long>(connectionString,
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')");
        }

        return (peak, samples);
    }

    private static async Task AssertFloodStoredAsync(
        string connectionString, long id, long totalBytes)
    {
        Assert.AreEqual(JobStatus.Completed, await Sql.ScalarAsync<string>(connectionString,
            "SELECT status FROM jobs WHERE id = $1", id), $"status of job {id}");
        var output = await Sql.ScalarAsync<string>(connectionString,
            "SELECT output FROM jobs WHERE id = $1", id);
        var newline = output.IndexOf('\n');
        Assert.IsGreaterThan(0, newline, $"job {id} output starts with a marker line");
        var dropped = totalBytes - OutputLimit;
        Assert.AreEqual($"[output cut: the first {dropped} of {totalBytes} bytes were dropped]",
            output[..newline], $"marker line of job {id}");
        var tail = output[(newline + 1)..];
        Assert.AreEqual(OutputLimit, tail.Length, $"characters kept for job {id}");
        // NUL bytes are stored as U+2400 because PostgreSQL text cannot contain them.
        Assert.IsTrue(tail.All(c => c == '\u2400'), $"job {id} kept only its NUL bytes");
    }

    private static async Task<List<long>> JobIdsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id FROM jobs ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new List<long>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }
}
