using JobScheduler.Data;
using Prometheus;

namespace JobScheduler.Scheduling;

/// <summary>
/// The daemon's Prometheus metrics, in a registry of its own so that several daemons in one
/// process (as in the tests) keep separate counts. Served at /metrics.
/// </summary>
public sealed class SchedulerMetrics
{
    private static readonly double[] DurationBuckets =
        [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

    private static readonly double[] LatencyBuckets =
        [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    public SchedulerMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        Jobs = factory.CreateGauge("jobscheduler_jobs", "Jobs by status, read at each scrape.",
            new GaugeConfiguration { LabelNames = ["status"] });
        MaxConcurrentJobs = factory.CreateGauge("jobscheduler_max_concurrent_jobs",
            "The global limit in force.");
        RunsStarted = factory.CreateCounter("jobscheduler_runs_started_total",
            "Runs this instance started.");
        RunsFinished = factory.CreateCounter("jobscheduler_runs_finished_total",
            "Runs this instance finished, by outcome: completed, failed or cancelled.",
            new CounterConfiguration { LabelNames = ["outcome"] });
        RunDuration = factory.CreateHistogram("jobscheduler_run_duration_seconds",
            "Run time of finished runs.", new HistogramConfiguration { Buckets = DurationBuckets });
        PickupLatency = factory.CreateHistogram("jobscheduler_pickup_latency_seconds",
            "Time from a job being due (run_at) to its command starting.",
            new HistogramConfiguration { Buckets = LatencyBuckets });
        ClaimCycleDuration = factory.CreateHistogram("jobscheduler_claim_cycle_duration_seconds",
            "Time of one claim transaction.", new HistogramConfiguration { Buckets = LatencyBuckets });
        DatabaseErrors = factory.CreateCounter("jobscheduler_database_errors_total",
            "Database operations that failed because the database was unreachable.");
    }

    public CollectorRegistry Registry { get; }

    public Gauge Jobs { get; }

    public Gauge MaxConcurrentJobs { get; }

    public Counter RunsStarted { get; }

    public Counter RunsFinished { get; }

    public Histogram RunDuration { get; }

    public Histogram PickupLatency { get; }

    public Histogram ClaimCycleDuration { get; }

    public Counter DatabaseErrors { get; }

    /// <summary>Refreshes the gauges read from the database, just before a scrape.</summary>
    public async Task RefreshAsync(JobQueries queries, LiveConfig config, CancellationToken cancellationToken)
    {
        var stats = await queries.StatsAsync(config.MaxConcurrentJobs, cancellationToken);
        Jobs.WithLabels(JobStatus.Queued).Set(stats.Queued);
        Jobs.WithLabels(JobStatus.Running).Set(stats.Running);
        Jobs.WithLabels(JobStatus.Completed).Set(stats.Completed);
        Jobs.WithLabels(JobStatus.Failed).Set(stats.Failed);
        Jobs.WithLabels(JobStatus.Cancelled).Set(stats.Cancelled);
        MaxConcurrentJobs.Set(config.MaxConcurrentJobs);
    }
}
