using JobScheduler.Hosting;

// Settings: the environment wins over .env in the working folder, which wins over .env beside
// the executable. Invalid values stop the daemon before it touches anything.
Settings settings;
try
{
    settings = Settings.Load(EnvFiles.Merge(Settings.EnvironmentVariables()));
}
catch (SettingsException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

var app = App.Build(args, settings);
StartupBanner.Register(app, settings);
await app.RunAsync();
return 0;

/// <summary>Makes the program's type visible to tests.</summary>
public partial class Program;
