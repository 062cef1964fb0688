using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace JobScheduler.Scheduling;

/// <summary>Stops a job's whole process tree, including background children of its shell.
/// </summary>
public static partial class ProcessTree
{
    private const int SigTerm = 15;
    private const int SigKill = 9;

    /// <summary>Time between the polite signal and the forced kill.</summary>
    public static readonly TimeSpan KillGrace = TimeSpan.FromSeconds(5);

    /// <summary>Windows job objects of the running jobs, found again by their shell process.
    /// </summary>
    private static readonly ConditionalWeakTable<Process, WindowsJobObject> JobObjects = new();

    /// <summary>
    /// Puts a job's shell, right after it started, into a Windows job object, so that every
    /// process it starts from then on is in the job too and <see cref="KillAsync"/> reaches them
    /// all. Disposing the result at the end of the run lets the processes left in the job run on,
    /// as they do on Linux. If the daemon dies first, Windows closes the job object and kills
    /// them. Elsewhere this does nothing. If a call fails, it logs a warning and a kill falls
    /// back to a walk of the process tree.
    /// </summary>
    public static IDisposable Contain(Process process, ILogger logger)
    {
        if (!OperatingSystem.IsWindows())
        {
            return NoContainment.Instance;
        }

        // NOTE: a process that the shell starts in the moment between CreateProcess and this
        // call is not in the job. .NET cannot start a process suspended, and cmd.exe needs
        // milliseconds to load before it runs anything.
        var jobObject = WindowsJobObject.TryCreate(process, out var error);
        if (jobObject is null)
        {
            // A shell that already exited cannot join a job, and needs none.
            if (!process.HasExited)
            {
                logger.LogWarning(
                    "Process {ProcessId} could not be put in a Windows job object (Win32 error " +
                    "{Error}); a timeout or cancellation kills its process tree by walking it, " +
                    "which misses children whose parent already exited", process.Id, error);
            }

            return NoContainment.Instance;
        }

        JobObjects.AddOrUpdate(process, jobObject);
        return new Containment(process, jobObject);
    }

    /// <summary>
    /// On Windows, terminates the job object that <see cref="Contain"/> made, which kills the
    /// shell and everything it started at once: a process without a console window has no
    /// polite signal to receive. Elsewhere, sends SIGTERM to the job's process group, then
    /// SIGKILL after the grace period if the shell is still alive, and SIGKILL to the group again
    /// in any case so background children left behind by a shell that exited at once die too.
    /// Jobs run under setsid, so the shell's pid is the group id. A process that starts a session
    /// of its own escapes the group; the walk of child processes that follows catches those still
    /// linked to the shell.
    /// </summary>
    public static async Task KillAsync(Process process, bool inOwnGroup)
    {
        if (OperatingSystem.IsWindows() && JobObjects.TryGetValue(process, out var jobObject)
            && jobObject.TryTerminate())
        {
            await process.WaitForExitAsync();
            return;
        }

        if (OperatingSystem.IsWindows() || !inOwnGroup)
        {
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

    [SupportedOSPlatform("windows")]
    private sealed class Containment(Process process, WindowsJobObject jobObject) : IDisposable
    {
        public void Dispose()
        {
            JobObjects.Remove(process);
            jobObject.Release();
        }
    }

    private sealed class NoContainment : IDisposable
    {
        public static readonly NoContainment Instance = new();

        public void Dispose()
        {
        }
    }
}
