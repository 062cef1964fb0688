using JobScheduler.Bench;

// Two modes: the harness itself, and "hangfire-server", the Hangfire comparison's server, which
// the harness starts as a process of its own so that it runs apart from the measuring process,
// as the daemon does.
if (args is ["hangfire-server", ..])
{
    return await HangfireServer.RunAsync(args[1..]);
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine("bench: " + e.Message);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

if (options.ShowHelp)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

return await Harness.RunAsync(options);
