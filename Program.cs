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
    return 2;
}

StartupBanner.Register(app, settings);
await app.RunAsync();
return 0;

/// <summary>Makes the program's type visible to tests.</summary>
public partial class Program;
