using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;

namespace JobScheduler.Bench;

/// <summary>
/// The daemon under test as its own process, started as a user starts it:
/// <c>dotnet JobScheduler.dll --urls …</c> with its settings in the environment. Its console log
/// goes to a file in the work folder, as a service manager would keep it.
/// </summary>
public sealed class Daemon : IAsyncDisposable
{
    private readonly Process _process;

    private Daemon(Process process, Uri address, string logFile)
    {
        _process = process;
        LogFile = logFile;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public HttpClient Client { get; }

    public string LogFile { get; }

    public int ProcessId => _process.Id;

    /// <summary>Starts the daemon on a free loopback port and waits until /readyz returns 200.
    /// </summary>
    public static async Task<Daemon> StartAsync(
        BenchContext bench, string name, string database,
        IReadOnlyDictionary<string, string>? settings = null, int? databasePort = null)
    {
        var address = new Uri($"http://127.0.0.1:{FreePort()}");
        var logFile = Path.Combine(bench.Options.WorkFolder, $"daemon-{name}.log");
        // The shell only redirects the log and then becomes the daemon (exec), so the process id
        // is the daemon's, for /proc and for signals.
        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            WorkingDirectory = bench.Options.WorkFolder,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec dotnet \"$0\" --urls \"$1\" >\"$2\" 2>&1");
        start.ArgumentList.Add(bench.Options.DaemonDll);
        start.ArgumentList.Add(address.ToString().TrimEnd('/'));
        start.ArgumentList.Add(logFile);
        start.Environment["DB_HOST"] = bench.Cluster.Host;
        start.Environment["DB_PORT"] = (databasePort ?? bench.Cluster.Port).ToString();
        start.Environment["DB_NAME"] = database;
        start.Environment["DB_USER"] = bench.Cluster.DaemonUser;
        start.Environment["DB_PASSWORD"] = bench.Cluster.DaemonPassword;
        start.Environment["LOG_DIR"] = "";
        start.Environment["NODE_NAME"] = "bench-" + name;
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var daemon = new Daemon(Process.Start(start)!, address, logFile);
        await daemon.WaitUntilReadyAsync();
        return daemon;
    }

    /// <summary>Sets max_concurrent_jobs through the API, as a user would.</summary>
    public async Task SetLimitAsync(int limit)
    {
        var response = await Client.PutAsJsonAsync("/api/config", new Dictionary<string, int>
        {
            ["max_concurrent_jobs"] = limit,
        });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>CPU time of the daemon and of its exited children, the job shells.</summary>
    public (TimeSpan Own, TimeSpan Children) ReadCpu() => CpuMeter.Read(_process.Id);

    /// <summary>Reads a field of /proc/PID/status in bytes, such as VmRSS or VmHWM.</summary>
    public long ReadMemory(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                var kilobytes = line[(field.Length + 1)..].Trim().Split(' ')[0];
                return long.Parse(kilobytes) * 1024;
            }
        }

        throw new InvalidOperationException($"/proc/{_process.Id}/status has no {field} line.");
    }

    /// <summary>Reads one sample line of /metrics, such as a histogram's _sum or _count.</summary>
    public async Task<double> ReadMetricAsync(string sample)
    {
        var text = await Client.GetStringAsync("/metrics");
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(sample + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(sample.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"/metrics has no sample {sample}.");
    }

    /// <summary>Stops the daemon with SIGTERM, its graceful stop, and waits for it.</summary>
    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()]))
            {
                await kill.WaitForExitAsync();
            }

            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await _process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                Report.Progress(
                    $"daemon {_process.Id} did not stop within 60 s of SIGTERM; killing it");
                _process.Kill();
            }
        }

        _process.Dispose();
    }

    private async Task WaitUntilReadyAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(90))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException(
                    $"The daemon exited with code {_process.ExitCode} while starting; its log " +
                    $"{LogFile} ends with:{Environment.NewLine}{Tail(LogFile)}");
            }

            try
            {
                using var response = await Client.GetAsync("/readyz");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"The daemon was not ready within 90 s; see {LogFile}.");
    }

    public static string Tail(string file)
    {
        var lines = File.Exists(file) ? File.ReadAllLines(file) : [];
        return string.Join(Environment.NewLine, lines.TakeLast(20));
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
