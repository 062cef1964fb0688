using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using JobScheduler.Bench.Sections;
using Npgsql;

namespace JobScheduler.Bench;

/// <summary>Runs the chosen sections in a fixed order and writes the report.</summary>
public static class Harness
{
    public static async Task<int> RunAsync(BenchOptions options)
    {
        Directory.CreateDirectory(options.WorkFolder);
        if (!File.Exists(options.DaemonDll))
        {
            Console.Error.WriteLine($"bench: the daemon {options.DaemonDll} was not found. " +
                                    "Build it first, or run bench.sh, which does.");
            return 2;
        }

        var cluster = new Cluster(options.Postgres);
        await cluster.PrepareAsync();
        var report = new Report();
        using var fifo = new PingFifo(Path.Combine(options.WorkFolder, "ping.fifo"));
        var bench = new BenchContext(options, cluster, report, fifo);
        var header = await HeaderAsync(bench);

        var sections = new (string Name, Func<BenchContext, Task> Run)[]
        {
            ("pickup", PickupSection.RunAsync),
            ("drain", DrainSection.RunAsync),
            ("db", DatabaseCostSection.RunAsync),
            ("million", MillionRowsSection.RunAsync),
            ("memory", MemorySection.RunAsync),
            ("polling", PollingSection.RunAsync),
            ("hangfire", HangfireSection.RunAsync),
            ("bulk", BulkSection.RunAsync),
        };
        var failed = 0;
        var total = Stopwatch.StartNew();
        var timings = new List<string[]>();
        foreach (var (name, run) in sections.Where(section => options.Runs(section.Name)))
        {
            var clock = Stopwatch.StartNew();
            var loadBefore = LoadAverage();
            Report.Progress($"section {name}: start");
            try
            {
                await run(bench);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failed++;
                Report.Progress($"section {name} failed: {e}");
                report.Heading($"Section {name} failed");
                report.Line($"`{e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}`");
            }

            Report.Progress($"section {name}: done in {clock.Elapsed.TotalSeconds:0} s");
            timings.Add([name, clock.Elapsed.TotalSeconds.ToString("0", CultureInfo.InvariantCulture),
                $"{loadBefore} → {LoadAverage()}"]);
        }

        // Other work on the machine moves every wall-clock number, and the load average shows how
        // much of it there was.
        report.Heading("Run");
        report.Table(["section", "seconds", "load average (1 min), start → end"], timings);

        var markdown = report.ToMarkdown(header) + Environment.NewLine +
                       $"Whole run: {total.Elapsed.TotalMinutes:0.0} min." + Environment.NewLine;
        var resultFile = Path.Combine(options.WorkFolder, "results.md");
        await File.WriteAllTextAsync(resultFile, markdown);
        Console.WriteLine(markdown);
        Report.Progress($"report written to {resultFile}");
        return failed == 0 ? 0 : 1;
    }

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    private static async Task<string> HeaderAsync(BenchContext bench)
    {
        await using var connection =
            new NpgsqlConnection(bench.Cluster.ClientConnection("postgres", pooling: false));
        await connection.OpenAsync();
        var postgres = (string)(await Sql.ScalarAsync(connection, "SHOW server_version"))!;
        var cpu = File.ReadLines("/proc/cpuinfo")
            .FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal))?
            .Split(':', 2)[1].Trim() ?? "unknown";
        var memoryKiB = long.Parse(File.ReadLines("/proc/meminfo").First()
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        var kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        var date = DateTimeOffset.Now.ToString("ddd yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture);
        var options = bench.Options;
        var text = new StringBuilder();
        text.AppendLine($"- date: {date}");
        text.AppendLine($"- build measured: {options.Source}");
        text.AppendLine($"- machine: {Environment.ProcessorCount} cores (nproc), {cpu}, " +
                        $"{memoryKiB / 1024 / 1024} GiB RAM, Linux {kernel}");
        text.AppendLine($"- PostgreSQL {postgres} on 127.0.0.1:{bench.Cluster.Port}, " +
                        RuntimeInformation.FrameworkDescription);
        text.AppendLine($"- options: sections {string.Join(",", options.Sections)}; " +
                        $"{options.Jobs} jobs per drain; {options.Samples} pickup samples; " +
                        $"{options.Rows} rows; concurrency {string.Join(",", options.Concurrency)}");
        return text.ToString();
    }
}
