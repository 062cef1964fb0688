using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace JobScheduler.Bench;

/// <summary>
/// A named pipe that job commands write a token to, with the shell's builtin echo:
/// <c>echo TOKEN &gt; FIFO</c>. The harness stamps each line with its own monotonic clock when
/// the read returns, so "running" is measured without starting another program (such as
/// <c>date</c>, which would add its own fork and exec) and without comparing two processes'
/// clocks. A line of up to PIPE_BUF (4096) bytes arrives whole, so concurrent jobs do not mix.
/// </summary>
public sealed class PingFifo : IDisposable
{
    private const string StopToken = "bench-stop";

    private readonly FileStream _stream;
    private readonly Thread _reader;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<long>> _waiters = new();

    public PingFifo(string path)
    {
        Path = path;
        File.Delete(path);
        using (var mkfifo = Process.Start("mkfifo", ["-m", "600", path]))
        {
            mkfifo.WaitForExit();
            if (mkfifo.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"mkfifo {path} failed with exit code {mkfifo.ExitCode}.");
            }
        }

        // Opened for reading and writing, which Linux allows for a FIFO: the open does not wait
        // for a writer, and the harness's own write end keeps reads from ever seeing end-of-file
        // between jobs.
        _stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 0);
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "ping-fifo" };
        _reader.Start();
    }

    public string Path { get; }

    /// <summary>The command that reports <paramref name="token"/> when the job runs.</summary>
    public string Command(string token) => $"echo {token} > {Path}";

    /// <summary>Registers a token before its job can run; the task completes with the
    /// <see cref="Stopwatch"/> timestamp of its line.</summary>
    public Task<long> Expect(string token)
    {
        var waiter = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters[token] = waiter;
        return waiter.Task;
    }

    public void Forget(string token) => _waiters.TryRemove(token, out _);

    public void Dispose()
    {
        var stop = Encoding.ASCII.GetBytes(StopToken + "\n");
        _stream.Write(stop);
        _stream.Flush();
        _reader.Join(TimeSpan.FromSeconds(5));
        _stream.Dispose();
        File.Delete(Path);
    }

    private void ReadLoop()
    {
        var buffer = new byte[64 * 1024];
        var pending = new StringBuilder();
        while (true)
        {
            var read = _stream.Read(buffer);
            var now = Stopwatch.GetTimestamp();
            pending.Append(Encoding.ASCII.GetString(buffer, 0, read));
            var text = pending.ToString();
            var end = text.LastIndexOf('\n');
            if (end < 0)
            {
                continue;
            }

            pending.Clear().Append(text[(end + 1)..]);
            foreach (var token in text[..end].Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                if (token == StopToken)
                {
                    return;
                }

                if (_waiters.TryRemove(token, out var waiter))
                {
                    waiter.TrySetResult(now);
                }
            }
        }
    }
}
