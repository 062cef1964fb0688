namespace JobScheduler.Hosting;

/// <summary>Folders the daemon derives from where it was installed.</summary>
public static class AppPaths
{
    /// <summary>
    /// Folder that contains the JobScheduler executable, where a user puts <c>.env</c> and finds
    /// <c>logs</c>. The Windows build runs from a copy that the .NET host extracts under
    /// <c>%TEMP%\.net</c>, and <see cref="AppContext.BaseDirectory"/> names that copy, so the
    /// process path decides. Run as <c>dotnet JobScheduler.dll</c> (tests, <c>dotnet run</c>
    /// without an apphost), the process is the dotnet host and the assembly's folder is used.
    /// </summary>
    public static string ExecutableFolder { get; } = FindExecutableFolder();

    private static string FindExecutableFolder()
    {
        var processPath = Environment.ProcessPath;
        if (string.IsNullOrEmpty(processPath)
            || string.Equals(Path.GetFileNameWithoutExtension(processPath), "dotnet",
                StringComparison.OrdinalIgnoreCase))
        {
            return AppContext.BaseDirectory;
        }

        return Path.GetDirectoryName(processPath) ?? AppContext.BaseDirectory;
    }
}
