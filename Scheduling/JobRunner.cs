using System.ComponentModel;
using System.Diagnostics;
using JobScheduler.Data;
using JobScheduler.Hosting;

namespace JobScheduler.Scheduling;

/// <summary>Runs one job's command as a child process and returns its result.</summary>
public sealed class JobRunner(Settings settings, ILogger<JobRunner> logger)
{
    /// <summary>How long the pipes may stay open after the shell exits. A background child
    /// that inherited them can keep them open for ever; the job still ends with its shell.
    /// </summary>
    private static readonly TimeSpan PipeDrainGrace = TimeSpan.FromSeconds(2);

    /// <summary>Variables removed from every job's environment: the daemon's secrets.</summary>
    private static readonly string[] HiddenVariables = ["DB_PASSWORD", "API_TOKEN", "PGPASSWORD"];

    /// <summary>Runs the job to its end. A cancellation request, or the job's timeout, kills
    /// its process tree, and the result's error names the cause.</summary>
    public Task<JobResult> RunAsync(ClaimedJob job, CancellationToken cancellationToken) =>
        RunAsync(job, new OutputTail(settings.OutputLimitBytes), cancellationToken);

    /// <summary>Runs the job to its end, collecting its output into <paramref name="tail"/>,
    /// which the caller may read while the job runs.</summary>
    public async Task<JobResult> RunAsync(
        ClaimedJob job, OutputTail tail, CancellationToken cancellationToken)
    {
        if (ShellCommand.FindProblem(settings.JobShell) is { } shellProblem)
        {
            var reason = "The command could not be started: " + shellProblem;
            logger.LogWarning("Job {JobId} {JobName} could not start: {Reason}", job.Id, job.Name,
                reason);
            return Finish(job, JobStatus.Failed, null, reason, string.Empty);
        }

        var start = ShellCommand.Create(settings.JobShell, job.Command);
        foreach (var name in HiddenVariables)
        {
            start.Environment.Remove(name);
        }

        start.Environment["JOBSCHEDULER_JOB_ID"] = job.Id.ToString();
        start.Environment["JOBSCHEDULER_JOB_NAME"] = job.Name;
        start.Environment["JOBSCHEDULER_ATTEMPT"] = job.Attempt.ToString();

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException
                                      or PlatformNotSupportedException)
        {
            var reason = $"The command could not be started with {start.FileName}: {e.Message}";
            logger.LogWarning("Job {JobId} {JobName} could not start: {Reason}", job.Id, job.Name,
                reason);
            return Finish(job, JobStatus.Failed, null, reason, string.Empty);
        }

        // On Windows, a job object contains the shell and all it starts, so a kill reaches them all.
        using var containment = ProcessTree.Contain(process, logger);

        // The job gets an empty stdin, so a command that reads input gets end-of-file at once
        // rather than hanging.
        process.StandardInput.Close();

        var stdout = PumpAsync(process.StandardOutput.BaseStream, tail);
        var stderr = PumpAsync(process.StandardError.BaseStream, tail);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var timeout = new CancellationTokenSource();
        if (job.TimeoutSeconds > 0)
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(job.TimeoutSeconds));
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(
            cancellationToken, timeout.Token);
        string? stoppedBecause = null;
        try
        {
            await process.WaitForExitAsync(stop.Token);
        }
        catch (OperationCanceledException)
        {
            stoppedBecause = cancellationToken.IsCancellationRequested
                ? $"Cancelled by request after {clock.Elapsed.TotalSeconds:0.0} s; the command " +
                  "and its child processes were killed."
                : $"The command timed out after {job.TimeoutSeconds} s and was killed with its " +
                  "child processes.";
            logger.LogInformation("Job {JobId} {JobName}: {Reason}", job.Id, job.Name,
                stoppedBecause);
            await ProcessTree.KillAsync(process, ShellCommand.RunsInOwnGroup(start));
        }

        var pipes = Task.WhenAll(stdout, stderr);
        if (await Task.WhenAny(pipes, Task.Delay(PipeDrainGrace, CancellationToken.None)) != pipes)
        {
            logger.LogDebug(
                "Job {JobId} exited but a background process still holds its output open; " +
                "output written after now is not kept", job.Id);
        }

        // Process.Dispose leaves streams the caller has touched open, so the pipes are closed
        // here; otherwise each job would hold two descriptors until the finalizer ran.
        process.StandardOutput.Dispose();
        process.StandardError.Dispose();

        var exitCode = process.ExitCode;
        var output = tail.ToText();
        if (stoppedBecause is not null)
        {
            var status = cancellationToken.IsCancellationRequested ? JobStatus.Cancelled : JobStatus.Failed;
            return Finish(job, status, exitCode, stoppedBecause, output);
        }

        return exitCode == 0
            ? Finish(job, JobStatus.Completed, exitCode, null, output)
            : Finish(job, JobStatus.Failed, exitCode, DescribeExit(exitCode), output);
    }

    /// <summary>Describes a non-zero exit code, naming the signal when the shell reports one.
    /// </summary>
    public static string DescribeExit(int exitCode)
    {
        if (!OperatingSystem.IsWindows() && exitCode > 128 && exitCode <= 128 + 64)
        {
            var signal = exitCode - 128;
            var name = signal switch
            {
                1 => " (SIGHUP)",
                2 => " (SIGINT)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                13 => " (SIGPIPE)",
                15 => " (SIGTERM)",
                _ => string.Empty,
            };
            return $"The command exited with code {exitCode}: killed by signal {signal}{name}.";
        }

        return exitCode == 127 && !OperatingSystem.IsWindows()
            ? "The command exited with code 127: the shell could not find the command."
            : $"The command exited with code {exitCode}.";
    }

    private static JobResult Finish(
        ClaimedJob job, string status, int? exitCode, string? error, string output) =>
        new(job.Id, job.Attempt, status, exitCode, error, output, DateTime.UtcNow);

    private static async Task PumpAsync(Stream stream, OutputTail tail)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                tail.Append(buffer.AsSpan(0, read));
            }
        }
        catch (IOException)
        {
            // The pipe broke because the process is gone; what was read is kept.
        }
        catch (ObjectDisposedException)
        {
            // The process was disposed after the drain grace period ran out.
        }
    }
}
