using System.Globalization;

namespace JobScheduler.Bench;

/// <summary>Command-line options of the harness.</summary>
public sealed record BenchOptions
{
    public static readonly string[] AllSections =
        ["pickup", "drain", "db", "million", "memory", "polling", "hangfire", "bulk"];

    public const string Usage = """
        Usage: JobScheduler.Bench --daemon DLL --postgres CONNECTION [options]
          --daemon DLL          JobScheduler.dll to measure; it runs as its own process
          --postgres CONNECTION Npgsql connection string of a superuser on the benchmark cluster,
                                which needs pg_stat_statements in shared_preload_libraries
          --sections LIST       comma-separated, from: pickup, drain, db, million, memory,
                                polling, hangfire, bulk (default: all of them)
          --jobs N              jobs per drain run (default 5000)
          --samples N           pickup latency samples per case (default 200)
          --rows N              rows of the large-table section (default 1000000)
          --concurrency LIST    max_concurrent_jobs values of the drain runs (default 8,32,128)
          --work DIR            folder for the FIFO, logs and results (default
                                /tmp/jobscheduler-bench)
          --source TEXT         what build is measured, for the report (such as the commit)
        """;

    public required string DaemonDll { get; init; }

    public required string Postgres { get; init; }

    public IReadOnlyList<string> Sections { get; init; } = AllSections;

    /// <summary>Jobs per drain run.</summary>
    public int Jobs { get; init; } = 5000;

    /// <summary>Pickup latency samples per case.</summary>
    public int Samples { get; init; } = 200;

    /// <summary>Rows in <c>jobs</c> for the large-table section.</summary>
    public int Rows { get; init; } = 1_000_000;

    public IReadOnlyList<int> Concurrency { get; init; } = [8, 32, 128];

    public string WorkFolder { get; init; } = "/tmp/jobscheduler-bench";

    /// <summary>Description of the measured build, such as its commit.</summary>
    public string Source { get; init; } = "not given";

    public bool ShowHelp { get; init; }

    public bool Runs(string section) => Sections.Contains(section);

    public static BenchOptions Parse(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            return new BenchOptions { DaemonDll = "", Postgres = "", ShowHelp = true };
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"'{args[i]}' is not an option followed by a value.");
            }

            values[args[i]] = args[++i];
        }

        var options = new BenchOptions
        {
            DaemonDll = Take(values, "--daemon")
                        ?? throw new ArgumentException("--daemon is missing."),
            Postgres = Take(values, "--postgres")
                       ?? throw new ArgumentException("--postgres is missing."),
        };
        if (Take(values, "--sections") is { } sections)
        {
            var list = sections.Split(',',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var unknown = list.Except(AllSections).ToList();
            if (unknown.Count > 0 || list.Length == 0)
            {
                throw new ArgumentException(
                    $"--sections '{sections}' is invalid; use a comma-separated list of " +
                    string.Join(", ", AllSections) + ".");
            }

            options = options with { Sections = list };
        }

        options = options with
        {
            Jobs = Number(Take(values, "--jobs"), "--jobs", options.Jobs, 10, 1_000_000),
            Samples = Number(Take(values, "--samples"), "--samples", options.Samples, 10, 100_000),
            Rows = Number(Take(values, "--rows"), "--rows", options.Rows, 10_000, 100_000_000),
            WorkFolder = Take(values, "--work") ?? options.WorkFolder,
            Source = Take(values, "--source") ?? options.Source,
        };
        if (Take(values, "--concurrency") is { } levels)
        {
            options = options with
            {
                Concurrency = levels.Split(',')
                    .Select(level => Number(level, "--concurrency", 0, 1, 1000))
                    .ToList(),
            };
        }

        if (values.Count > 0)
        {
            throw new ArgumentException($"unknown option {values.Keys.First()}.");
        }

        return options;
    }

    private static string? Take(Dictionary<string, string> values, string name) =>
        values.Remove(name, out var value) ? value : null;

    private static int Number(string? text, string name, int fallback, int min, int max)
    {
        if (text is null)
        {
            return fallback;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            && value >= min && value <= max)
        {
            return value;
        }

        throw new ArgumentException(
            $"{name} '{text}' is invalid; use a whole number from {min} to {max}.");
    }
}
