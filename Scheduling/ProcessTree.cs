using System.Diagnostics;
using System.Runtime.InteropServices;

namespace JobScheduler.Scheduling;

/// <summary>Stops a job's whole process tree, including background children of its shell.
/// </summary>
public static partial class ProcessTree
{
    private const int SigTerm = 15;
    private const int SigKill = 9;

    /// <summary>Time between the polite signal and the forced kill.</summary>
    public static readonly TimeSpan KillGrace = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Sends SIGTERM to the job's process group, then SIGKILL after the grace period if the shell
    /// is still alive, and SIGKILL to the group again in any case so background children left
    /// behind by a shell that exited at once die too. Jobs run under setsid, so the shell's pid is
    /// the group id. A process that starts a session of its own escapes the group; the walk of
    /// child processes that follows catches those still linked to the shell.
    /// </summary>
    public static async Task KillAsync(Process process, bool inOwnGroup)
    {
        if (OperatingSystem.IsWindows() || !inOwnGroup)
        {
            // NOTE: on Windows this walks the process tree; a child that detached from its
            // parent survives until a job object contains the tree.
            TryKillTree(process);
            await process.WaitForExitAsync();
            return;
        }

        var group = process.Id;
        SignalGroup(group, SigTerm);
        using var grace = new CancellationTokenSource(KillGrace);
        try
        {
            await process.WaitForExitAsync(grace.Token);
        }
        catch (OperationCanceledException)
        {
            TryKillTree(process);
        }

        SignalGroup(group, SigKill);
        await process.WaitForExitAsync();
    }

    private static void TryKillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited meanwhile.
        }
    }

    private static void SignalGroup(int group, int signal)
    {
        // ESRCH (no such group) is expected once everything in it has exited.
        _ = Kill(-group, signal);
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
