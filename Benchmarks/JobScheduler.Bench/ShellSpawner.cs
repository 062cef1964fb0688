using System.Diagnostics;

namespace JobScheduler.Bench;

/// <summary>
/// Starts <c>/bin/sh -c COMMAND</c> the way the daemon's job runner does: optionally through
/// <c>setsid</c>, with stdin closed at once, stdout and stderr read concurrently to their end,
/// and the three JOBSCHEDULER_* variables set (which makes .NET build an environment block per
/// process, as it does for the daemon). Used for the raw spawn rate and by the Hangfire job.
/// </summary>
public static class ShellSpawner
{
    private const string SetsidPath = "/usr/bin/setsid";

    public static bool SetsidExists => File.Exists(SetsidPath);

    /// <summary>Runs the command to its end and returns its exit code.</summary>
    public static async Task<int> RunAsync(string command, bool setsid, long id = 0)
    {
        using var process = Start(command, setsid, id);
        var stdout = DrainAsync(process.StandardOutput.BaseStream);
        var stderr = DrainAsync(process.StandardError.BaseStream);
        await process.WaitForExitAsync();
        await Task.WhenAll(stdout, stderr);
        process.StandardOutput.Dispose();
        process.StandardError.Dispose();
        return process.ExitCode;
    }

    public static Process Start(string command, bool setsid, long id = 0)
    {
        var start = new ProcessStartInfo
        {
            FileName = setsid ? SetsidPath : "/bin/sh",
            UseShellExecute = false,
            CreateNoWindow = true,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (setsid)
        {
            start.ArgumentList.Add("/bin/sh");
        }

        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        start.Environment["JOBSCHEDULER_JOB_ID"] = id.ToString();
        start.Environment["JOBSCHEDULER_JOB_NAME"] = "bench-" + id;
        start.Environment["JOBSCHEDULER_ATTEMPT"] = "1";
        var process = Process.Start(start)!;
        process.StandardInput.Close();
        return process;
    }

    /// <summary>Spawns <paramref name="count"/> processes with <paramref name="concurrency"/> in
    /// flight and returns the elapsed time from the first start to the last exit.</summary>
    public static async Task<TimeSpan> SpawnManyAsync(
        string command, bool setsid, int count, int concurrency)
    {
        var next = 0;
        var failures = 0;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int id;
            while ((id = Interlocked.Increment(ref next)) <= count)
            {
                if (await RunAsync(command, setsid, id) != 0)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }));
        await Task.WhenAll(workers);
        var elapsed = clock.Elapsed;
        if (failures > 0)
        {
            throw new InvalidOperationException(
                $"{failures} of {count} spawns of '{command}' exited non-zero.");
        }

        return elapsed;
    }

    private static async Task DrainAsync(Stream stream)
    {
        var buffer = new byte[16 * 1024];
        while (await stream.ReadAsync(buffer) > 0)
        {
        }
    }
}
