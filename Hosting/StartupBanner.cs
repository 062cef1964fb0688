namespace JobScheduler.Hosting;

/// <summary>Tells the person at the console where the dashboard is, which database is used and
/// how to stop the daemon.</summary>
public static class StartupBanner
{
    public static void Register(WebApplication app, Settings settings)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var logger = app.Services.GetRequiredService<ILoggerFactory>()
                .CreateLogger("JobScheduler");
            var envFiles = EnvFiles.FoundFiles();
            logger.LogInformation(
                "JobScheduler {Node} started. Dashboard and API: {Urls}. Database: {Database}. " +
                "Settings from: {EnvFiles}. Press Ctrl+C to stop; running jobs finish first",
                settings.NodeName, string.Join(", ", app.Urls), settings.DatabaseDescription,
                envFiles.Count == 0 ? "environment only" : string.Join(", ", envFiles));
        });
    }
}
