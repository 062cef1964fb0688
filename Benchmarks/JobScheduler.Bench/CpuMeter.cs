using System.Diagnostics;

namespace JobScheduler.Bench;

/// <summary>
/// CPU time of processes from /proc/PID/stat. On a shared machine the wall-clock rates move with
/// everything else that runs, while CPU seconds per job barely do, so the drain reports both.
/// </summary>
public static class CpuMeter
{
    private static readonly Lazy<double> TicksPerSecond = new(ReadTicksPerSecond);

    /// <summary>CPU time of a process and, separately, of its children that have exited and been
    /// waited for (for the daemon: the job shells).</summary>
    public static (TimeSpan Own, TimeSpan Children) Read(int processId)
    {
        var fields = Fields(processId);
        return (Ticks(fields[11]) + Ticks(fields[12]), Ticks(fields[13]) + Ticks(fields[14]));
    }

    /// <summary>CPU time of a PostgreSQL cluster: the postmaster, its live children and the
    /// exited children it has waited for.</summary>
    public static TimeSpan ReadCluster(int postmasterId)
    {
        var (own, exited) = Read(postmasterId);
        var total = own + exited;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var id) || id == postmasterId)
            {
                continue;
            }

            try
            {
                var fields = Fields(id);
                if (int.Parse(fields[1]) == postmasterId)
                {
                    total += Ticks(fields[11]) + Ticks(fields[12]);
                }
            }
            catch (Exception e)
                when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // The process ended between the listing and the read.
            }
        }

        return total;
    }

    /// <summary>Returns the parent process id of a process.</summary>
    public static int Parent(int processId) => int.Parse(Fields(processId)[1]);

    // The fields after the command name, which is in parentheses and may contain spaces:
    // [0] is the state, [1] the parent id, [11] to [14] utime, stime, cutime and cstime.
    private static string[] Fields(int processId)
    {
        var text = File.ReadAllText($"/proc/{processId}/stat");
        return text[(text.LastIndexOf(')') + 2)..].Split(' ');
    }

    private static TimeSpan Ticks(string value) =>
        TimeSpan.FromSeconds(long.Parse(value) / TicksPerSecond.Value);

    private static double ReadTicksPerSecond()
    {
        var start = new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true };
        using var getconf = Process.Start(start)!;
        var text = getconf.StandardOutput.ReadToEnd().Trim();
        getconf.WaitForExit();
        return double.Parse(text);
    }
}
