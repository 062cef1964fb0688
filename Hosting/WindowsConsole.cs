using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using JobScheduler.Scheduling;

namespace JobScheduler.Hosting;

/// <summary>
/// The daemon in a Windows console window, the one a double-click opens: closing the window,
/// QuickEdit, and keeping the window open after a failed start. Everything here does nothing on
/// other systems.
/// </summary>
public static partial class WindowsConsole
{
    /// <summary>Time the daemon spends stopping after its console window was closed. Windows
    /// ends the process when its CTRL_CLOSE_EVENT handler has run for SPI_GETHUNGAPPTIMEOUT,
    /// 5000 ms by default (doc/ConsoleCtrlEvent.md in the microsoft/terminal repository), so
    /// this leaves a margin.</summary>
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(4);

    private const int StdInputHandle = -10;
    private const uint EnableQuickEditMode = 0x0040;
    private const uint EnableExtendedFlags = 0x0080;

    // Kept alive for the whole run: a collected registration unregisters its handler.
    private static PosixSignalRegistration? _closeRegistration;

    /// <summary>
    /// Makes a closed console window stop the daemon as far as Windows allows, and turns
    /// QuickEdit off in a window that the daemon does not share with a shell.
    /// </summary>
    public static void Prepare(WebApplication app)
    {
        if (!OperatingSystem.IsWindows())
        {
            return;
        }

        _closeRegistration = PosixSignalRegistration.Create(PosixSignal.SIGHUP,
            _ => StopOnClose(app));
        if (OwnsWindow())
        {
            DisableQuickEdit();
        }
    }

    /// <summary>
    /// Waits for a key press in a window that only this process uses, so that a person who
    /// double-clicked the executable can read why it stopped before the window closes.
    /// </summary>
    public static void PauseIfOwnWindow()
    {
        if (!OperatingSystem.IsWindows() || !OwnsWindow() || Console.IsInputRedirected)
        {
            return;
        }

        Console.Error.WriteLine("Press any key to close this window.");
        Console.ReadKey(intercept: true);
    }

    /// <summary>
    /// Handles CTRL_CLOSE_EVENT, which .NET raises as SIGHUP on Windows. The host's console
    /// lifetime handles only SIGINT (Ctrl+C), SIGQUIT (Ctrl+Break) and SIGTERM, so without this
    /// the process would end at once. Windows runs this on a thread of its own and ends the
    /// process when it returns or when its time is up, whichever comes first.
    /// </summary>
    // NOTE: never run here. Closing a Wine 8 console window ends the process at once, before
    // this handler logs anything, and real Windows was not available.
    private static void StopOnClose(WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("JobScheduler");
        logger.LogWarning(
            "The console window was closed: claiming stops now, and Windows ends the daemon " +
            "within about 5 s");
        app.Lifetime.StopApplication();
        if (app.Lifetime.ApplicationStopped.WaitHandle.WaitOne(CloseGrace))
        {
            return;
        }

        var running = app.Services.GetRequiredService<Scheduler>().RunningJobs;
        logger.LogWarning(
            "Jobs {JobIds} are still running and end with the daemon; after LEASE_TIMEOUT any " +
            "running instance fails them, or queues them again where attempts remain",
            running.Select(job => job.Id));
    }

    /// <summary>Tells whether this process is the only one attached to its console, as when
    /// Explorer opened the window for it. A console started from cmd.exe or PowerShell is
    /// shared with that shell.</summary>
    private static bool OwnsWindow()
    {
        var processIds = new uint[2];
        return GetConsoleProcessList(processIds, (uint)processIds.Length) == 1;
    }

    /// <summary>
    /// Turns QuickEdit off. With it on, a click in the window starts a selection, and Windows
    /// then blocks every write to the console until the selection ends, which would stall the
    /// scheduler at its next log line. Text can still be selected with the window menu's
    /// Edit, Mark.
    /// </summary>
    // NOTE: a window shared with a shell keeps the shell's QuickEdit setting, so a selection
    // there still pauses the daemon until Esc or Enter.
    [SupportedOSPlatform("windows")]
    private static void DisableQuickEdit()
    {
        var input = GetStdHandle(StdInputHandle);
        if (GetConsoleMode(input, out var mode))
        {
            _ = SetConsoleMode(input, (mode & ~EnableQuickEditMode) | EnableExtendedFlags);
        }
    }

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial uint GetConsoleProcessList(uint[] processIds, uint count);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial IntPtr GetStdHandle(int handle);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool GetConsoleMode(IntPtr console, out uint mode);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool SetConsoleMode(IntPtr console, uint mode);
}
