using JobScheduler.Hosting;

// Settings: the environment wins over .env in the working folder, which wins over .env beside
// the executable. Invalid values, or listening beyond loopback without API_TOKEN, stop the
// daemon before it touches anything.
Settings settings;
WebApplication app;
try
{
    settings = Settings.Load(EnvFiles.Merge(Settings.EnvironmentVariables()));
    app = App.Build(args, settings);
}
catch (SettingsException e)
{
    Console.Error.WriteLine(e.Message);
    WindowsConsole.PauseIfOwnWindow();
    return 2;
}

StartupBanner.Register(app, settings);
WindowsConsole.Prepare(app);
try
{
    await app.RunAsync();
}
catch (IOException e)
{
    // Kestrel reports an address that is in use or not available this way.
    Console.Error.WriteLine("JobScheduler could not start: " + e.Message);
    WindowsConsole.PauseIfOwnWindow();
    return 1;
}

return 0;

/// <summary>Makes the program's type visible to tests.</summary>
public partial class Program;
