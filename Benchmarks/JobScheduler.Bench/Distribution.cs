using System.Globalization;

namespace JobScheduler.Bench;

/// <summary>Summary of a set of samples, with nearest-rank percentiles.</summary>
public sealed record Distribution(int Count, double Median, double P90, double P99, double Max)
{
    public static Distribution Of(IReadOnlyCollection<double> samples)
    {
        if (samples.Count == 0)
        {
            return new Distribution(0, double.NaN, double.NaN, double.NaN, double.NaN);
        }

        var sorted = samples.Order().ToArray();
        return new Distribution(sorted.Length, Percentile(sorted, 0.5), Percentile(sorted, 0.9),
            Percentile(sorted, 0.99), sorted[^1]);
    }

    private static double Percentile(double[] sorted, double fraction)
    {
        var rank = (int)Math.Ceiling(fraction * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>Number formatting for the report: invariant culture, fixed decimals.</summary>
public static class Format
{
    public static string Ms(double milliseconds) => double.IsNaN(milliseconds)
        ? "–"
        : milliseconds.ToString(Decimals(milliseconds), CultureInfo.InvariantCulture);

    public static string Number(double value, string format = "0.0") =>
        double.IsNaN(value) ? "–" : value.ToString(format, CultureInfo.InvariantCulture);

    public static string Count(long value) => value.ToString("#,0", CultureInfo.InvariantCulture);

    public static string MiB(long bytes) =>
        (bytes / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture);

    private static string Decimals(double value) => Math.Abs(value) switch
    {
        < 10 => "0.00",
        < 100 => "0.0",
        _ => "0",
    };
}
