namespace JobScheduler.Hosting;

/// <summary>Tells the person at the console where the dashboard is, which database is used,
/// where settings and logs are, and how to stop the daemon.</summary>
public static class StartupBanner
{
    public static void Register(WebApplication app, Settings settings)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var logger = app.Services.GetRequiredService<ILoggerFactory>()
                .CreateLogger("JobScheduler");
            var newLine = Environment.NewLine;
            logger.LogInformation(
                "JobScheduler {Node} started." + newLine +
                "  Dashboard and API: {Urls}" + newLine +
                "  Database:          {Database} (DB_HOST, DB_PORT, DB_NAME, DB_USER)" + newLine +
                "  Settings:          {SettingsSource}" + newLine +
                "  Log files:         {LogFolder}" + newLine +
                "  To stop:           {StopHint}",
                settings.NodeName, string.Join(", ", app.Urls), settings.DatabaseDescription,
                DescribeSettingsSource(), DescribeLogFolder(settings), DescribeStop());
        });
    }

    private static string DescribeSettingsSource()
    {
        var envFiles = EnvFiles.FoundFiles();
        if (envFiles.Count > 0)
        {
            return "the environment, then " + string.Join(", then ", envFiles);
        }

        var suggested = Path.Combine(AppPaths.ExecutableFolder, ".env");
        return $"the environment and defaults only; put a .env file at {suggested} to change them";
    }

    private static string DescribeLogFolder(Settings settings) =>
        string.IsNullOrEmpty(settings.LogDirectory)
            ? "none (LOG_DIR is empty)"
            : Path.GetFullPath(settings.LogDirectory);

    private static string DescribeStop() =>
        OperatingSystem.IsWindows()
            ? "press Ctrl+C; claiming stops and running jobs finish first. Closing this " +
              "window also stops claiming, but Windows ends the daemon about 5 s later, with " +
              "any job still running"
            : "press Ctrl+C or send SIGTERM; claiming stops and running jobs finish first";
}
