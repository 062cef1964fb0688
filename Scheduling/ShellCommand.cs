using System.Diagnostics;

namespace JobScheduler.Scheduling;

/// <summary>Builds the child process that runs a job's command through the configured shell.
/// </summary>
public static class ShellCommand
{
    // setsid (util-linux) gives each job its own session and process group, so a Ctrl+C typed
    // in the daemon's terminal reaches the daemon, which stops gracefully, and not its jobs.
    // The child .NET starts is never a group leader, so setsid execs in place: the pid is the
    // shell's and its exit code comes through unchanged.
    private const string SetsidPath = "/usr/bin/setsid";

    public static bool IsKnown(string shell) =>
        shell is "sh" or "bash" or "cmd" or "pwsh" or "powershell"
        || (Path.IsPathFullyQualified(shell) && !shell.EndsWith(".exe", StringComparison.OrdinalIgnoreCase));

    /// <summary>Returns why the shell cannot run, or null. A missing shell behind setsid
    /// would otherwise look like a command that exited with code 127.</summary>
    public static string? FindProblem(string shell)
    {
        var path = shell switch
        {
            "sh" => "/bin/sh",
            "bash" => "/bin/bash",
            "cmd" or "pwsh" or "powershell" => null,
            _ => shell,
        };
        return path is null || OperatingSystem.IsWindows() || File.Exists(path)
            ? null
            : $"The shell {path} (JOB_SHELL={shell}) does not exist on this machine.";
    }

    /// <summary>Tells whether the process starts a session and process group of its own.
    /// </summary>
    public static bool RunsInOwnGroup(ProcessStartInfo start) => start.FileName == SetsidPath;

    public static ProcessStartInfo Create(string shell, string command)
    {
        var start = shell switch
        {
            "cmd" => CmdStart(command),
            "pwsh" or "powershell" => PowerShellStart(shell, command),
            "sh" => PosixStart("/bin/sh", command),
            "bash" => PosixStart("/bin/bash", command),
            _ => PosixStart(shell, command),
        };
        start.UseShellExecute = false;
        start.CreateNoWindow = true;
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        return start;
    }

    private static ProcessStartInfo PosixStart(string shellPath, string command)
    {
        var start = new ProcessStartInfo();
        if (!OperatingSystem.IsWindows() && File.Exists(SetsidPath))
        {
            start.FileName = SetsidPath;
            start.ArgumentList.Add(shellPath);
        }
        else
        {
            start.FileName = shellPath;
        }

        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        return start;
    }

    private static ProcessStartInfo CmdStart(string command)
    {
        // cmd.exe does not parse its command line by the C runtime's rules, so the command goes
        // in verbatim: with /s, cmd strips the outer pair of quotes and runs the rest exactly,
        // keeping &, |, ^, inner quotes and %VAR% as typed at a prompt. /d skips AutoRun
        // registry commands.
        // NOTE: a multi-line command does not run line by line, because a line break does not
        // start a new command here. Wine 8's cmd.exe passes it on as text. Join lines with &.
        return new ProcessStartInfo
        {
            FileName = WindowsProgram(Environment.GetEnvironmentVariable("ComSpec"), "", "cmd.exe"),
            Arguments = "/d /s /c \"" + command + "\"",
        };
    }

    private static ProcessStartInfo PowerShellStart(string shell, string command)
    {
        // pwsh is looked up on PATH, since its install folder varies. On Windows, ArgumentList
        // quotes each argument by the C runtime's rules, by which the host splits its command
        // line again, so the command arrives whole as the one argument after -Command.
        // NOTE: Windows PowerShell (powershell.exe) was not available to test that split.
        var start = new ProcessStartInfo
        {
            FileName = shell == "pwsh"
                ? "pwsh"
                : WindowsProgram(null, @"WindowsPowerShell\v1.0", "powershell.exe"),
        };
        foreach (var argument in new[] { "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", command })
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    /// <summary>Returns the full path of a program under the Windows system folder, or the
    /// override when that is a full path. Windows looks for a bare name in the daemon's working
    /// folder before the system folder, so a file planted there would run in its place.
    /// </summary>
    private static string WindowsProgram(
        string? fullPathOverride, string systemSubfolder, string fileName)
    {
        if (!string.IsNullOrEmpty(fullPathOverride) && Path.IsPathFullyQualified(fullPathOverride))
        {
            return fullPathOverride;
        }

        return OperatingSystem.IsWindows()
            ? Path.Combine(Environment.SystemDirectory, systemSubfolder, fileName)
            : fileName;
    }
}
