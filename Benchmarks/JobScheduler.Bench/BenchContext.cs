namespace JobScheduler.Bench;

/// <summary>What every section uses: the options, the cluster, the report and the FIFO that
/// jobs report to.</summary>
public sealed class BenchContext(BenchOptions options, Cluster cluster, Report report, PingFifo fifo)
{
    public BenchOptions Options { get; } = options;

    public Cluster Cluster { get; } = cluster;

    public Report Report { get; } = report;

    public PingFifo Fifo { get; } = fifo;
}
