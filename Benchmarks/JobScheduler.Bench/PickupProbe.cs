using System.Diagnostics;

namespace JobScheduler.Bench;

/// <summary>
/// Measures pickup latency: from the moment the call that enqueues a job returns (for plain SQL,
/// the INSERT's commit) to the job's command writing its token to the FIFO. Both moments are
/// read from this process's monotonic clock.
/// </summary>
public static class PickupProbe
{
    /// <summary>Delegate that enqueues one job running <c>command</c> and returns once the
    /// enqueue has committed.</summary>
    public delegate Task Enqueue(string name, string command);

    /// <summary>
    /// Enqueues one job at a time, waits for it to run, then pauses 5 to 25 ms (random, so the
    /// inserts do not fall in step with any timer) before the next one. The first
    /// <paramref name="warmUp"/> samples are dropped. Returns the latencies in ms and how many
    /// jobs never reported within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<(List<double> Latencies, int Lost)> SerialAsync(
        BenchContext bench, string prefix, int count, Enqueue enqueue, TimeSpan timeout,
        int warmUp = 10)
    {
        var random = new Random(42);
        var latencies = new List<double>();
        var lost = 0;
        for (var i = -warmUp; i < count; i++)
        {
            var token = $"{prefix}{i + warmUp}";
            var ping = bench.Fifo.Expect(token);
            await enqueue(token, bench.Fifo.Command(token));
            var committed = Stopwatch.GetTimestamp();
            if (await Task.WhenAny(ping, Task.Delay(timeout)) != ping)
            {
                bench.Fifo.Forget(token);
                lost++;
                continue;
            }

            if (i >= 0)
            {
                latencies.Add(Stopwatch.GetElapsedTime(committed, ping.Result).TotalMilliseconds);
            }

            await Task.Delay(random.Next(5, 26));
        }

        return (latencies, lost);
    }

    /// <summary>
    /// Enqueues jobs at random moments spread evenly over <paramref name="window"/>, without
    /// waiting for one to run before the next, for schedulers whose pickup takes seconds.
    /// </summary>
    public static async Task<(List<double> Latencies, int Lost)> SpreadAsync(
        BenchContext bench, string prefix, int count, Enqueue enqueue, TimeSpan window,
        TimeSpan timeout)
    {
        var random = new Random(42);
        var offsets = Enumerable.Range(0, count)
            .Select(_ => window * random.NextDouble())
            .Order()
            .ToList();
        var clock = Stopwatch.StartNew();
        var waits = new List<Task<double?>>();
        for (var i = 0; i < count; i++)
        {
            var delay = offsets[i] - clock.Elapsed;
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay);
            }

            var token = $"{prefix}{i}";
            var ping = bench.Fifo.Expect(token);
            await enqueue(token, bench.Fifo.Command(token));
            waits.Add(MeasureAsync(bench, token, ping, Stopwatch.GetTimestamp(), timeout));
        }

        var results = await Task.WhenAll(waits);
        return (results.OfType<double>().ToList(), results.Count(result => result is null));
    }

    /// <summary>The floor: this process starts <c>setsid /bin/sh -c 'echo TOKEN &gt; FIFO'</c>
    /// itself, the way the daemon does, and times start to token.</summary>
    public static async Task<(List<double> Latencies, int Lost)> SpawnFloorAsync(
        BenchContext bench, int count)
    {
        var latencies = new List<double>();
        for (var i = -10; i < count; i++)
        {
            var token = $"floor{i + 10}";
            var ping = bench.Fifo.Expect(token);
            var started = Stopwatch.GetTimestamp();
            var command = bench.Fifo.Command(token);
            var run = ShellSpawner.RunAsync(command, setsid: ShellSpawner.SetsidExists);
            var stamp = await ping.WaitAsync(TimeSpan.FromSeconds(10));
            await run;
            if (i >= 0)
            {
                latencies.Add(Stopwatch.GetElapsedTime(started, stamp).TotalMilliseconds);
            }
        }

        return (latencies, 0);
    }

    private static async Task<double?> MeasureAsync(
        BenchContext bench, string token, Task<long> ping, long committed, TimeSpan timeout)
    {
        if (await Task.WhenAny(ping, Task.Delay(timeout)) != ping)
        {
            bench.Fifo.Forget(token);
            return null;
        }

        return Stopwatch.GetElapsedTime(committed, ping.Result).TotalMilliseconds;
    }

    public static string[] Row(string label, (List<double> Latencies, int Lost) result)
    {
        var d = Distribution.Of(result.Latencies);
        return [label, d.Count.ToString(), Format.Ms(d.Median), Format.Ms(d.P90), Format.Ms(d.P99),
            Format.Ms(d.Max), result.Lost.ToString()];
    }

    public static readonly string[] Header =
        ["case", "samples", "median ms", "p90 ms", "p99 ms", "max ms", "lost"];
}
