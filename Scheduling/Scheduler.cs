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
    /// <summary>Most results one cycle writes; more wait for the next, which starts at once.
    /// </summary>
    private const int MaxResultsPerCycle = 1000;

    private readonly ConcurrentDictionary<long, RunningJob> _running = new();
    private readonly List<PendingResult> _results = [];
    private bool _lastCycleFailed;
    private volatile bool _stopping;

    public string Node => settings.NodeName;

    public int RunningCount => _running.Count;

    public IReadOnlyCollection<ClaimedJob> RunningJobs =>
        _running.Values.Select(running => running.Job).ToList();

    /// <summary>Whether finished jobs wait for their results to be written.</summary>
    public bool HasPendingResults
    {
        get
        {
            lock (_results)
            {
                return _results.Count > 0;
            }
        }
    }

    /// <summary>
    /// Runs one cycle in a single round trip: writes the results of jobs that finished, releases
    /// the jobs of instances whose lease expired and, when <paramref name="claim"/> is set and
    /// claiming is on, claims up to the free slots and starts them. A change of the limit or of
    /// the paused flag read by the cycle wakes the loop for another one, so it takes effect at
    /// once.
    /// </summary>
    public async Task<CycleOutcome> RunCycleAsync(bool claim, CancellationToken cancellationToken)
    {
        List<PendingResult> pending;
        lock (_results)
        {
            pending = _results.Take(MaxResultsPerCycle).ToList();
            _results.RemoveRange(0, pending.Count);
        }

        var limit = config.MaxConcurrentJobs;
        var paused = config.Paused;
        var claiming = claim && !_stopping;
        var cycle = Stopwatch.StartNew();
        var startedAt = DateTime.UtcNow;
        CycleOutcome outcome;
        try
        {
            outcome = await store.CycleAsync(new CycleRequest(Node,
                pending.Select(item => item.Result).ToList(), claiming, limit,
                settings.LeaseTimeout, _running.Keys.ToList(), _lastCycleFailed, paused), cancellationToken);
            _lastCycleFailed = false;
        }
        catch
        {
            _lastCycleFailed = true;
            lock (_results)
            {
                _results.InsertRange(0, pending);
            }

            throw;
        }

        metrics.ClaimCycleDuration.Observe(cycle.Elapsed.TotalSeconds);
        database.ReportSuccess(startedAt);
        logger.LogDebug(
            "Cycle: limit {Limit}, wrote {Results} results, claimed {Claimed}, {Running} running",
            limit, pending.Count, outcome.Claimed.Count, outcome.RunningAfter);

        if (outcome.LostClaimsRecovered > 0)
        {
            logger.LogWarning(
                "{Count} jobs claimed by a cycle whose reply was lost were put back in the queue",
                outcome.LostClaimsRecovered);
        }

        ReportResults(pending, outcome.Recorded);
        ReportReleased(outcome.Released);
        config.Apply(outcome.Config);
        foreach (var job in outcome.Claimed)
        {
            Start(job.TimeoutSeconds < 0 ? job with { TimeoutSeconds = config.DefaultTimeoutSeconds } : job);
        }

        if (config.MaxConcurrentJobs != limit || config.Paused != paused || pending.Count == MaxResultsPerCycle)
        {
            wake.Signal();
        }

        if (outcome.SchedulesNeedWork)
        {
            await RescheduleAsync(null, cancellationToken);
        }

        return outcome;
    }

    /// <summary>Gives up on results that could not be written while stopping: each is logged
    /// with everything it holds, and the lease of another instance will fail the job.</summary>
    public void AbandonPendingResults(TimeSpan after)
    {
        List<PendingResult> pending;
        lock (_results)
        {
            pending = [.. _results];
            _results.Clear();
        }

        foreach (var item in pending)
        {
            var result = item.Result;
            logger.LogError(
                "Gave up recording the result of job {JobId} attempt {Attempt} after {Elapsed}: " +
                "{Status}, exit code {ExitCode}, error {Error}. Another instance will release it " +
                "when its lease expires", result.JobId, result.Attempt, after, result.Status,
                result.ExitCode, result.Error);
            Forget(item);
        }
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
    /// that printed since the last one. An instance with no running job sends nothing.</summary>
    public async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        var startedAt = DateTime.UtcNow;
        if (_running.IsEmpty)
        {
            return;
        }

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

        database.ReportSuccess(startedAt);
    }

    /// <summary>
    /// Gives recurring jobs that lack one their next occurrence. With
    /// <paramref name="skipMissedAfter"/>, it also moves queued recurring jobs whose occurrence
    /// passed longer ago than that, while no daemon ran, to their next occurrence: missed
    /// occurrences are skipped, not caught up.
    /// </summary>
    public async Task RescheduleAsync(TimeSpan? skipMissedAfter, CancellationToken cancellationToken)
    {
        var startedAt = DateTime.UtcNow;
        var (rescheduled, invalid) = await store.RescheduleAsync(
            occurrences.Next, skipMissedAfter, cancellationToken);
        database.ReportSuccess(startedAt);
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
        lock (_results)
        {
            _results.Add(new PendingResult(result, running));
        }

        // The claim loop writes the result in its next cycle, with any others that finished
        // meanwhile, and claims for the freed slot in the same round trip. The job stays in
        // _running until then, so its heartbeat goes on.
        wake.Signal();
    }

    /// <summary>Forgets a job whose result was written or given up on. The entry is removed
    /// only if it is still this run's, so a retry of the job started meanwhile keeps its entry.
    /// </summary>
    private void Forget(PendingResult item) =>
        ((ICollection<KeyValuePair<long, RunningJob>>)_running).Remove(
            new KeyValuePair<long, RunningJob>(item.Result.JobId, item.Running));

    private void ReportResults(
        IReadOnlyList<PendingResult> pending, IReadOnlyDictionary<(long JobId, int Attempt), string> recorded)
    {
        foreach (var item in pending)
        {
            var result = item.Result;
            if (!recorded.TryGetValue((result.JobId, result.Attempt), out var status))
            {
                logger.LogWarning(
                    "Result of job {JobId} attempt {Attempt} was not recorded: the job no longer " +
                    "runs on {Node} in the database, because its lease expired or it was changed " +
                    "by hand", result.JobId, result.Attempt, Node);
            }
            else if (status == JobStatus.Queued && result.Status == JobStatus.Failed)
            {
                logger.LogInformation("Job {JobId} attempt {Attempt} failed; a retry is queued",
                    result.JobId, result.Attempt);
            }

            Forget(item);
        }
    }

    private void ReportReleased(IReadOnlyList<ReleasedJob> released)
    {
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

    /// <summary>A finished job's result waiting for the claim loop to write it, with the run
    /// it came from.</summary>
    private sealed record PendingResult(JobResult Result, RunningJob Running);

    private sealed class RunningJob(ClaimedJob job, OutputTail output)
    {
        public ClaimedJob Job { get; } = job;

        public OutputTail Output { get; } = output;

        /// <summary>Output bytes seen at the last write of the tail to the database.</summary>
        public long FlushedBytes;

        public CancellationTokenSource Cancel { get; } = new();

        public volatile bool Recording;

        public bool LeaseLostLogged;
    }
}
