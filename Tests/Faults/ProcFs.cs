using System.Globalization;

namespace JobScheduler.Tests.Faults;

/// <summary>Reads the state of a Linux process from /proc: resident memory, open file
/// descriptors and child processes.</summary>
public static class ProcFs
{
    public static bool IsSupported => Directory.Exists("/proc/self/fd");

    /// <summary>Returns the resident set size (VmRSS) in bytes.</summary>
    public static long ResidentBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kilobytes = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"/proc/{pid}/status has no VmRSS line");
    }

    /// <summary>Returns the targets of the process's open file descriptors, such as
    /// <c>pipe:[123]</c>, <c>socket:[456]</c> or a path.</summary>
    public static IReadOnlyList<string> OpenDescriptors(int pid)
    {
        var targets = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            try
            {
                targets.Add(File.ResolveLinkTarget(entry, returnFinalTarget: false)?.FullName
                            ?? "?");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The descriptor was closed between listing and reading it.
            }
        }

        return targets;
    }

    /// <summary>Summarizes descriptor targets by kind (pipe, socket, anon_inode, file) for
    /// failure messages.</summary>
    public static string DescribeDescriptors(IEnumerable<string> targets) =>
        string.Join(", ", targets
            .Select(target => Path.GetFileName(target) is var name && name.Contains(":[")
                ? name[..name.IndexOf(':')]
                : name.StartsWith("anon_inode:", StringComparison.Ordinal) ? name : "file")
            .GroupBy(kind => kind)
            .OrderByDescending(group => group.Count())
            .Select(group => $"{group.Count()} {group.Key}"));

    /// <summary>Returns the processes whose parent is <paramref name="pid"/>, with their state
    /// letter (R, S, Z and so on), by scanning /proc.</summary>
    public static IReadOnlyList<(int Pid, char State, string Name)> Children(int pid)
    {
        var children = new List<(int, char, string)>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var candidate))
            {
                continue;
            }

            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(directory, "stat"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process exited while the scan ran.
                continue;
            }

            // The name is in parentheses and may itself contain spaces and parentheses, so the
            // fields are read after the last closing one: state, then parent pid.
            var nameEnd = stat.LastIndexOf(')');
            var fields = stat[(nameEnd + 2)..].Split(' ');
            if (int.Parse(fields[1], CultureInfo.InvariantCulture) == pid)
            {
                var name = stat[(stat.IndexOf('(') + 1)..nameEnd];
                children.Add((candidate, fields[0][0], name));
            }
        }

        return children;
    }
}
