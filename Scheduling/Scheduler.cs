using System.Collections.Concurrent;
using System.Diagnostics;
using JobScheduler.Data;
using JobScheduler.Hosting;

namespace JobScheduler.Scheduling;

/// <summary>
/// One scheduler instance: claims jobs under the global limit, runs each without waiting for
/// it, heartbeats the running ones, fails those whose owner died, and records every result.
/// </summary>
public sealed class Scheduler(
    Settings settings,
    JobStore store,
    JobRunner runner,
    LiveConfig config,
    DatabaseStatus database,
    WakeSignal wake,
    OccurrenceCalculator occurrences,
    SchedulerMetrics metrics,
    ILogger<Scheduler> logger)
{
    /// <summary>How long a stopping daemon keeps retrying a result while the database is down
    /// before it logs the result and gives up on it.</summary>
    private static readonly TimeSpan ResultRetryLimitWhenStopping = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<long, RunningJob> _running = new();
    private volatile bool _stopping;

    public string Node => settings.NodeName;

    public int RunningCount => _running.Count;

    public IReadOnlyCollection<ClaimedJob> RunningJobs =>
        _running.Values.Select(running => running.Job).ToList();

    /// <summary>Runs one claim cycle and starts what it claimed; returns the cycle's outcome,
    /// or null once claiming has stopped.</summary>
    public async Task<ClaimOutcome?> ClaimAndStartAsync(CancellationToken cancellationToken)
    {
        if (_stopping)
        {
            return null;
        }

        var cycle = Stopwatch.StartNew();
        var outcome = await store.ClaimAsync(Node, config, cancellationToken);
        metrics.ClaimCycleDuration.Observe(cycle.Elapsed.TotalSeconds);
        database.ReportSuccess();
        logger.LogDebug("Claim cycle: limit {Limit}, {Running} running, claimed {Claimed}",
            outcome.Limit, outcome.RunningBefore, outcome.Claimed.Count);
        foreach (var job in outcome.Claimed)
        {
            Start(job);
        }

        return outcome;
    }

    /// <summary>Kills a job this instance runs and records it cancelled; returns false when the
    /// job does not run here.</summary>
    public bool RequestCancel(long jobId)
    {
        if (!_running.TryGetValue(jobId, out var running))
        {
            return false;
        }

        logger.LogInformation("Job {JobId} {JobName}: cancellation requested", jobId, running.Job.Name);
        running.Cancel.Cancel();
        return true;
    }

    /// <summary>Refreshes the heartbeat of this instance's jobs and the stored output of those
    /// that printed since the last one, then releases the running jobs of instances whose
    /// heartbeat is older than the lease.</summary>
    public async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        if (!_running.IsEmpty)
        {
            // Only jobs that run here get a heartbeat: a row that names this node but runs
            // nowhere (set by hand, or left by a crash of an instance with the same name)
            // ages out and is released by the lease. The set is taken before the statement,
            // so a job claimed meanwhile is not taken for one whose lease was lost.
            var local = _running.Values.ToList();
            var changed = local
                .Where(running => running.Output.TotalBytes != running.FlushedBytes && !running.Recording)
                .Select(running => (running, bytes: running.Output.TotalBytes, text: running.Output.ToText()))
                .ToList();
            var rows = await store.HeartbeatAsync(Node,
                local.Select(running => running.Job.Id).ToList(),
                changed.Select(item => (item.running.Job.Id, item.running.Job.Attempt, item.text)).ToList(),
                cancellationToken);
            foreach (var (running, bytes, _) in changed)
            {
                running.FlushedBytes = bytes;
            }

            var alive = rows.Select(row => row.Id).ToHashSet();
            foreach (var row in rows.Where(row => row.CancelRequested))
            {
                if (_running.TryGetValue(row.Id, out var cancelled) && !cancelled.Cancel.IsCancellationRequested)
                {
                    RequestCancel(row.Id);
                }
            }

            foreach (var running in local)
            {
                if (!alive.Contains(running.Job.Id) && !running.Recording && running.LeaseLostLogged is false)
                {
                    running.LeaseLostLogged = true;
                    logger.LogWarning(
                        "Job {JobId} {JobName} runs here but the database no longer lists it as " +
                        "running on {Node}: its lease expired or it was changed by hand. Its " +
                        "result will not be recorded", running.Job.Id, running.Job.Name, Node);
                }
            }
        }

        var released = await store.ReleaseExpiredAsync(settings.LeaseTimeout, cancellationToken);
        database.ReportSuccess();
        foreach (var job in released)
        {
            logger.LogWarning(
                "Job {JobId} {JobName} released as {Status}: its instance {OwnerNode} sent no " +
                "heartbeat for {LeaseTimeout} s", job.Id, job.Name, job.Status, job.Node,
                settings.LeaseTimeout.TotalSeconds);
        }

        if (released.Count > 0)
        {
            wake.Signal();
        }
    }

    /// <summary>
    /// Gives recurring jobs that lack one their next occurrence. With
    /// <paramref name="skipMissedAfter"/>, it also moves queued recurring jobs whose occurrence
    /// passed longer ago than that, while no daemon ran, to their next occurrence: missed
    /// occurrences are skipped, not caught up.
    /// </summary>
    public async Task RescheduleAsync(TimeSpan? skipMissedAfter, CancellationToken cancellationToken)
    {
        var (rescheduled, invalid) = await store.RescheduleAsync(
            occurrences.Next, skipMissedAfter, cancellationToken);
        database.ReportSuccess();
        if (rescheduled > 0 || invalid > 0)
        {
            logger.LogInformation(
                "Recurring jobs: {Rescheduled} set to their next occurrence{Missed}, {Invalid} " +
                "failed and disabled for an invalid schedule", rescheduled,
                skipMissedAfter is null ? "" : " after missed ones", invalid);
            wake.Signal();
        }
    }

    /// <summary>Stops claiming; running jobs go on and are still recorded.</summary>
    public void StopClaiming() => _stopping = true;

    /// <summary>Completes when every job this instance started has finished and its result has
    /// been written or given up on.</summary>
    public async Task WaitForRunningJobsAsync()
    {
        while (!_running.IsEmpty)
        {
            await Task.WhenAll(_running.Values.Select(running => running.Done.Task));
        }
    }

    private void Start(ClaimedJob job)
    {
        logger.LogInformation("Job {JobId} {JobName} started, attempt {Attempt}: {Command}",
            job.Id, job.Name, job.Attempt, job.Command);
        metrics.RunsStarted.Inc();
        if (job.StartedAt >= job.RunAt)
        {
            metrics.PickupLatency.Observe((job.StartedAt - job.RunAt).TotalSeconds);
        }

        var running = new RunningJob(job, new OutputTail(settings.OutputLimitBytes));
        _running[job.Id] = running;
        _ = Task.Run(() => RunAsync(running));
    }

    private async Task RunAsync(RunningJob running)
    {
        var job = running.Job;
        var clock = Stopwatch.StartNew();
        JobResult result;
        try
        {
            result = await runner.RunAsync(job, running.Output, running.Cancel.Token);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Job {JobId} {JobName}: the runner failed", job.Id, job.Name);
            result = new JobResult(job.Id, job.Attempt, JobStatus.Failed, null,
                "The scheduler failed while running the command: " + e.Message, string.Empty,
                DateTime.UtcNow);
        }

        logger.LogInformation(
            "Job {JobId} {JobName} {Status} with exit code {ExitCode} after {Elapsed:0.000} s",
            job.Id, job.Name, result.Status, result.ExitCode, clock.Elapsed.TotalSeconds);
        metrics.RunsFinished.WithLabels(result.Status).Inc();
        metrics.RunDuration.Observe(clock.Elapsed.TotalSeconds);
        if (job.Schedule is not null)
        {
            var (next, error) = occurrences.Next(job.Schedule, job.TimeZone, job.RunAt);
            if (error is not null)
            {
                logger.LogWarning("Job {JobId} {JobName}: {Error}", job.Id, job.Name, error);
            }

            result = result with { NextRunAt = next };
        }

        running.Recording = true;
        try
        {
            await RecordAsync(result);
        }
        finally
        {
            _running.TryRemove(job.Id, out _);
            running.Done.TrySetResult();
            wake.Signal();
        }
    }

    private async Task RecordAsync(JobResult result)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        var clock = Stopwatch.StartNew();
        var attempts = 0;
        while (true)
        {
            attempts++;
            try
            {
                var status = await store.CompleteAsync(Node, result, CancellationToken.None);
                database.ReportSuccess();
                if (status == JobStatus.Queued && result.Status == JobStatus.Failed)
                {
                    logger.LogInformation("Job {JobId} attempt {Attempt} failed; a retry is queued",
                        result.JobId, result.Attempt);
                }

                if (status is null && attempts == 1)
                {
                    logger.LogWarning(
                        "Result of job {JobId} attempt {Attempt} was not recorded: the job no " +
                        "longer runs on {Node} in the database, because its lease expired or it " +
                        "was changed by hand", result.JobId, result.Attempt, Node);
                }

                return;
            }
            catch (Exception e) when (DatabaseStatus.IsOutage(e))
            {
                database.ReportOutage(e, "recording a job result");
            }
            catch (Exception e) when (attempts < 5)
            {
                logger.LogError(e, "Recording the result of job {JobId} failed (try {Try} of 5)",
                    result.JobId, attempts);
            }
            catch (Exception e)
            {
                logger.LogError(e,
                    "Gave up recording the result of job {JobId} attempt {Attempt}: {Status}, " +
                    "exit code {ExitCode}, error {Error}", result.JobId, result.Attempt,
                    result.Status, result.ExitCode, result.Error);
                return;
            }

            if (_stopping && clock.Elapsed > ResultRetryLimitWhenStopping)
            {
                logger.LogError(
                    "Gave up recording the result of job {JobId} attempt {Attempt} after " +
                    "{Elapsed}: {Status}, exit code {ExitCode}, error {Error}. Another instance " +
                    "will fail it when its lease expires", result.JobId, result.Attempt,
                    clock.Elapsed, result.Status, result.ExitCode, result.Error);
                return;
            }

            await Task.Delay(delay);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }

    private sealed class RunningJob(ClaimedJob job, OutputTail output)
    {
        public ClaimedJob Job { get; } = job;

        public OutputTail Output { get; } = output;

        /// <summary>Output bytes seen at the last write of the tail to the database.</summary>
        public long FlushedBytes;

        public CancellationTokenSource Cancel { get; } = new();

        public TaskCompletionSource Done { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);

        public volatile bool Recording;

        public bool LeaseLostLogged;
    }
}
