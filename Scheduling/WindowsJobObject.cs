using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

namespace JobScheduler.Scheduling;

/// <summary>
/// A Windows job object that contains one job's shell and every process the shell starts, so
/// that one call kills them all, including children that outlived their parent.
/// </summary>
internal sealed partial class WindowsJobObject
{
    private const int JobObjectExtendedLimitInformation = 9;
    private const uint LimitKillOnJobClose = 0x2000;

    /// <summary>Exit code of the processes that <see cref="TryTerminate"/> ends.</summary>
    private const uint KilledExitCode = 1;

    private readonly SafeJobHandle _handle;

    private WindowsJobObject(SafeJobHandle handle)
    {
        _handle = handle;
    }

    /// <summary>Creates a job object that kills its processes when its last handle closes, and
    /// assigns the process to it. Returns null, with the Win32 error code, if a call fails.
    /// </summary>
    [SupportedOSPlatform("windows")]
    public static WindowsJobObject? TryCreate(Process process, out int error)
    {
        var handle = CreateJobObject(IntPtr.Zero, null);
        if (handle.IsInvalid)
        {
            error = Marshal.GetLastPInvokeError();
            handle.Dispose();
            return null;
        }

        var limits = new ExtendedLimitInformation();
        limits.BasicLimitInformation.LimitFlags = LimitKillOnJobClose;
        if (!SetLimits(handle, ref limits) || !AssignProcessToJobObject(handle, process.SafeHandle))
        {
            error = Marshal.GetLastPInvokeError();
            handle.Dispose();
            return null;
        }

        error = 0;
        return new WindowsJobObject(handle);
    }

    /// <summary>Kills every process in the job. Returns false if the call fails.</summary>
    [SupportedOSPlatform("windows")]
    public bool TryTerminate() => TerminateJobObject(_handle, KilledExitCode);

    /// <summary>Closes the job object but lets the processes still in it run on.</summary>
    [SupportedOSPlatform("windows")]
    public void Release()
    {
        // Without the kill-on-close limit, closing the last handle leaves the processes alone.
        var noLimits = new ExtendedLimitInformation();
        _ = SetLimits(_handle, ref noLimits);
        _handle.Dispose();
    }

    private static bool SetLimits(SafeJobHandle handle, ref ExtendedLimitInformation limits) =>
        SetInformationJobObject(handle, JobObjectExtendedLimitInformation, ref limits,
            (uint)Marshal.SizeOf<ExtendedLimitInformation>());

    [LibraryImport("kernel32.dll", EntryPoint = "CreateJobObjectW", SetLastError = true,
        StringMarshalling = StringMarshalling.Utf16)]
    private static partial SafeJobHandle CreateJobObject(IntPtr attributes, string? name);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool SetInformationJobObject(
        SafeJobHandle job, int informationClass, ref ExtendedLimitInformation information,
        uint length);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool AssignProcessToJobObject(SafeJobHandle job, SafeProcessHandle process);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool TerminateJobObject(SafeJobHandle job, uint exitCode);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool CloseHandle(IntPtr handle);

    /// <summary>Handle of a job object; closing the last one applies the kill-on-close limit.
    /// </summary>
    private sealed class SafeJobHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
    {
        protected override bool ReleaseHandle() => CloseHandle(handle);
    }

    // JOBOBJECT_BASIC_LIMIT_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION and IO_COUNTERS
    // from winnt.h, field for field; the extended one is 144 bytes on x64.
    [StructLayout(LayoutKind.Sequential)]
    private struct BasicLimitInformation
    {
        public long PerProcessUserTimeLimit;
        public long PerJobUserTimeLimit;
        public uint LimitFlags;
        public nuint MinimumWorkingSetSize;
        public nuint MaximumWorkingSetSize;
        public uint ActiveProcessLimit;
        public nuint Affinity;
        public uint PriorityClass;
        public uint SchedulingClass;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoCounters
    {
        public ulong ReadOperationCount;
        public ulong WriteOperationCount;
        public ulong OtherOperationCount;
        public ulong ReadTransferCount;
        public ulong WriteTransferCount;
        public ulong OtherTransferCount;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ExtendedLimitInformation
    {
        public BasicLimitInformation BasicLimitInformation;
        public IoCounters IoInfo;
        public nuint ProcessMemoryLimit;
        public nuint JobMemoryLimit;
        public nuint PeakProcessMemoryUsed;
        public nuint PeakJobMemoryUsed;
    }
}
