using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using JobScheduler.Hosting;

namespace JobScheduler.Tests.Support;

/// <summary>
/// The daemon as its own operating-system process, started the way a user starts it, so tests
/// can send it real signals, SIGKILL included.
/// </summary>
public sealed partial class DaemonProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private DaemonProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts the daemon and waits until it serves requests: until the API works, or
    /// with <paramref name="waitForDatabase"/> false, until it answers at all.</summary>
    public static async Task<DaemonProcess> StartAsync(
        Settings settings, IReadOnlyDictionary<string, string>? extra = null,
        bool waitForDatabase = true)
    {
        var port = FreePort();
        var address = new Uri($"http://127.0.0.1:{port}");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetTempPath(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "JobScheduler.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(address.ToString());
        start.Environment["DB_HOST"] = settings.DbHost;
        start.Environment["DB_PORT"] = settings.DbPort.ToString();
        start.Environment["DB_NAME"] = settings.DbName;
        start.Environment["DB_USER"] = settings.DbUser;
        start.Environment["DB_PASSWORD"] = settings.DbPassword;
        start.Environment["LOG_DIR"] = "";
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        var daemon = new DaemonProcess(process, address);
        if (extra?.GetValueOrDefault("API_TOKEN") is { } token)
        {
            daemon.Client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        }

        process.OutputDataReceived += (_, e) => daemon.Append(e.Data);
        process.ErrorDataReceived += (_, e) => daemon.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Eventually.WaitAsync(() => daemon.IsReadyAsync(waitForDatabase),
            ready => ready || process.HasExited,
            "the daemon to answer on " + address);
        Assert.IsFalse(process.HasExited, "The daemon exited at start:\n" + daemon.Output);
        return daemon;
    }

    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    private async Task<bool> IsReadyAsync(bool waitForDatabase)
    {
        try
        {
            var response = await Client.GetAsync("/api/stats");
            return !waitForDatabase || response.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
