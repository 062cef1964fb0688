using System.Text;

namespace JobScheduler.Bench;

/// <summary>
/// Collects the results as Markdown: one part per section, then every target with the value
/// measured against it. Progress goes to stderr as the run goes; the report is printed at the end
/// and written to a file.
/// </summary>
public sealed class Report
{
    private readonly StringBuilder _body = new();
    private readonly List<string[]> _targets = [];

    public void Heading(string text)
    {
        _body.AppendLine().AppendLine("### " + text).AppendLine();
    }

    public void Line(string text = "")
    {
        _body.AppendLine(text);
    }

    public void Table(string[] header, IEnumerable<string[]> rows)
    {
        _body.AppendLine("| " + string.Join(" | ", header) + " |");
        _body.AppendLine("|" + string.Concat(header.Select(_ => "---|")));
        foreach (var row in rows)
        {
            _body.AppendLine("| " + string.Join(" | ", row) + " |");
        }

        _body.AppendLine();
    }

    /// <summary>Records a target: a value at most <paramref name="limit"/> meets it.</summary>
    public void AtMost(string measure, double measured, double limit, string unit = "") =>
        Upper(measure, measured, limit, unit, measured <= limit, "≤ ");

    /// <summary>Records a target: a value under <paramref name="limit"/> meets it.</summary>
    public void Below(string measure, double measured, double limit, string unit = "") =>
        Upper(measure, measured, limit, unit, measured < limit, "< ");

    /// <summary>Records a target: a value at least <paramref name="limit"/> meets it.</summary>
    public void AtLeast(string measure, double measured, double limit, string unit = "")
    {
        var verdict = measured >= limit
            ? "met"
            : $"missed by {Quantity(limit - measured, unit)} " +
              $"({Format.Number(measured / limit, "0.00")} of the target)";
        _targets.Add([measure, Quantity(measured, unit), "≥ " + Quantity(limit, unit), verdict]);
    }

    private void Upper(
        string measure, double measured, double limit, string unit, bool met, string sign)
    {
        var verdict = met
            ? "met"
            : $"missed by {Quantity(measured - limit, unit)} " +
              $"({Format.Number(measured / limit, "0.0")} times the target)";
        _targets.Add([measure, Quantity(measured, unit), sign + Quantity(limit, unit), verdict]);
    }

    private static string Quantity(double value, string unit) =>
        unit.Length == 0 ? Format.Number(value, "0.##") : $"{Format.Number(value, "0.##")} {unit}";

    public static void Progress(string message)
    {
        Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
    }

    public string ToMarkdown(string header)
    {
        var text = new StringBuilder(header);
        if (_targets.Count > 0)
        {
            text.AppendLine().AppendLine("### Targets").AppendLine();
            text.AppendLine("| measure | measured | target | verdict |");
            text.AppendLine("|---|---|---|---|");
            foreach (var row in _targets)
            {
                text.AppendLine("| " + string.Join(" | ", row) + " |");
            }
        }

        text.Append(_body);
        return text.ToString();
    }
}
